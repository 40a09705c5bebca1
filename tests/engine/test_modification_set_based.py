"""Set-based modification of many instances (instances_modify) against the one-instance walk.

Every case applies the same instructions to twin instances: one through instance_modify (the
instance's rows written as it walks), one through instances_modify (the chunk's walks recorded in
memory, then a few statements per table). What each leaves behind must be the same.
"""
import pytest

from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricJobLog,
    HistoricProcessInstance,
    Job,
    ProcessInstance,
)
from engine.services.lifecycle import NOT_RUNNING, instances_set_suspended
from engine.services.modification import OTHER_DEFINITION, SUSPENDED, instance_modify, instances_modify
from tests.engine.test_messages import deploy_doc
from tests.support.factories import start

pytestmark = pytest.mark.django_db
CAMUNDA = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'

# start -> task -> gw: amount > 100 -> fork -> (service | external "charge") -> join -> receive "await"
#                                                            -> user task "ship" (boundary "stop") -> end
#                     amount <= 100 -> done (end)
RICH = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>'
    '<bpmn:userTask id="task" name="Task"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="gw"/>'
    '<bpmn:exclusiveGateway id="gw"/>'
    '<bpmn:sequenceFlow id="big" sourceRef="gw" targetRef="fork">'
    "<bpmn:conditionExpression>${amount &gt; 100}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    '<bpmn:sequenceFlow id="small" sourceRef="gw" targetRef="done">'
    "<bpmn:conditionExpression>${amount &lt;= 100}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    '<bpmn:endEvent id="done"/>'
    '<bpmn:parallelGateway id="fork"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="service"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="fork" targetRef="charge"/>'
    '<bpmn:serviceTask id="service" name="Service"/>'
    f'<bpmn:serviceTask id="charge" name="Charge" {CAMUNDA} camunda:type="external" camunda:topic="payments"/>'
    '<bpmn:sequenceFlow id="f5" sourceRef="service" targetRef="join"/>'
    '<bpmn:sequenceFlow id="f6" sourceRef="charge" targetRef="join"/>'
    '<bpmn:parallelGateway id="join"/>'
    '<bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="await"/>'
    '<bpmn:receiveTask id="await" name="Await" messageRef="paid"/>'
    '<bpmn:sequenceFlow id="f8" sourceRef="await" targetRef="ship"/>'
    '<bpmn:userTask id="ship" name="Ship"/>'
    '<bpmn:boundaryEvent id="stop" attachedToRef="ship"><bpmn:messageEventDefinition messageRef="cancel"/></bpmn:boundaryEvent>'
    '<bpmn:sequenceFlow id="f9" sourceRef="ship" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
    '<bpmn:sequenceFlow id="f10" sourceRef="stop" targetRef="stopped"/>'
    '<bpmn:endEvent id="stopped"/>'
)


def cancel(activity_id, current=False):
    return {"type": "cancel", "activityId": activity_id, "cancelCurrentActiveActivityInstances": current}


def before(activity_id):
    return {"type": "startBeforeActivity", "activityId": activity_id}


def after(activity_id):
    return {"type": "startAfterActivity", "activityId": activity_id}


CASES = {
    "cancel then fork": [cancel("task"), before("fork")],
    "join reached twice": [before("join"), before("join")],
    "join half reached": [before("join")],
    "gateway by each instance's variable": [after("task")],
    "gateway to the end after a cancel": [cancel("task"), after("task")],
    "cancel the last token": [cancel("task")],
    "a token placed and cancelled again": [before("service"), cancel("service")],
    "cancel only what was there before": [before("task"), cancel("task", current=True)],
    "boundary subscription": [before("ship")],
    "receive then transition": [before("await"), {"type": "startTransition", "transitionId": "f9"}],
    "external task then its cancel": [before("charge"), before("service"), cancel("charge")],
}


def snapshot(instance_id: str) -> dict:
    """What an instance's modification leaves behind, ids left out."""
    history = HistoricProcessInstance.objects.get(id=instance_id)
    return {
        "running": ProcessInstance.objects.filter(id=instance_id).exists(),
        "state": (history.state, history.delete_reason, history.end_time is not None),
        "tokens": sorted(ActivityInstance.objects.filter(process_instance_id=instance_id).values_list("activity_id", flat=True)),
        "history": sorted(
            (a, end is not None, canceled)
            for a, end, canceled in HistoricActivityInstance.objects.filter(process_instance_id=instance_id)
            .values_list("activity_id", "end_time", "canceled")
        ),
        "open history is the tokens": sorted(
            HistoricActivityInstance.objects.filter(process_instance_id=instance_id, end_time__isnull=True)
            .values_list("id", flat=True)
        ) == sorted(ActivityInstance.objects.filter(process_instance_id=instance_id).values_list("id", flat=True)),
        "jobs": sorted(Job.objects.filter(process_instance_id=instance_id).values_list("activity_id", "retries", "priority")),
        "jobs on tokens": all(
            ActivityInstance.objects.filter(id=e).exists()
            for e in Job.objects.filter(process_instance_id=instance_id).values_list("execution_id", flat=True)
        ),
        "job log": sorted(
            (a, c, d) for a, c, d in HistoricJobLog.objects.filter(process_instance_id=instance_id)
            .values_list("activity_id", "creation_log", "deletion_log")
        ),
        "external tasks": sorted(
            ExternalTask.objects.filter(process_instance_id=instance_id).values_list("activity_id", "topic_name", "business_key")
        ),
        "subscriptions": sorted(
            (a, n, ActivityInstance.objects.filter(id=e).exists())
            for a, n, e in EventSubscription.objects.filter(process_instance_id=instance_id)
            .values_list("activity_id", "event_name", "execution_id")
        ),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_chunk_ends_as_each_instance_alone_would(case):
    definition = deploy_doc(RICH, key="rich")
    amounts = [50, 500]
    alone = [start_with(definition, amount) for amount in amounts]
    together = [start_with(definition, amount) for amount in amounts]
    instructions = CASES[case]
    for instance in alone:
        instance_modify(instance_id=instance.id, instructions=instructions, many=True)
    result = instances_modify(definition_id=definition.id, instance_ids=[i.id for i in together], instructions=instructions)
    assert result.changed == [i.id for i in together] and not result.failed and not result.skipped
    for one, other in zip(alone, together):
        assert snapshot(other.id) == snapshot(one.id)


def start_with(definition, amount):
    return start(definition, business_key=f"order-{amount}", amount=amount)


def test_a_refused_walk_fails_its_instance_alone():
    definition = deploy_doc(RICH, key="rich")
    good, bad = start_with(definition, 500), start_with(definition, "not a number")
    result = instances_modify(definition_id=definition.id, instance_ids=[bad.id, good.id], instructions=[after("task")])
    assert result.changed == [good.id]
    assert "cannot compare 'not a number'" in result.failed[bad.id]
    assert sorted(ActivityInstance.objects.filter(process_instance_id=bad.id).values_list("activity_id", flat=True)) == ["task"]
    assert not HistoricActivityInstance.objects.filter(process_instance_id=bad.id, activity_id="gw").exists()
    assert sorted(ActivityInstance.objects.filter(process_instance_id=good.id).values_list("activity_id", flat=True)) == [
        "charge", "service", "task"
    ]


def test_suspended_fail_while_other_versions_and_ended_instances_are_skipped():
    definition = deploy_doc(RICH, key="rich")
    other = deploy_doc(RICH, key="other")
    running, suspended, ended, elsewhere = (start_with(definition, 500) for _ in range(3)), None, None, None
    running, suspended, ended = list(running)
    elsewhere = start_with(other, 500)
    instances_set_suspended(instance_ids=[suspended.id], suspended=True)
    instances_modify(definition_id=definition.id, instance_ids=[ended.id], instructions=[cancel("task")])
    ids = [running.id, suspended.id, ended.id, elsewhere.id]
    result = instances_modify(definition_id=definition.id, instance_ids=ids, instructions=[before("ship")])
    assert result.changed == [running.id]
    assert result.failed == {suspended.id: SUSPENDED.format(id=suspended.id)}
    assert result.skipped == {ended.id: NOT_RUNNING, elsewhere.id: OTHER_DEFINITION}
    assert not ActivityInstance.objects.filter(process_instance_id=suspended.id, activity_id="ship").exists()


def test_a_second_run_of_a_chunk_skips_the_instances_it_ended():
    definition = deploy_doc(RICH, key="rich")
    instances = [start_with(definition, 500) for _ in range(3)]
    ids = [i.id for i in instances]
    first = instances_modify(definition_id=definition.id, instance_ids=ids, instructions=[cancel("task")])
    assert first.changed == ids
    again = instances_modify(definition_id=definition.id, instance_ids=ids, instructions=[cancel("task")])
    assert again.changed == [] and again.skipped == dict.fromkeys(ids, NOT_RUNNING)
    assert set(HistoricProcessInstance.objects.filter(id__in=ids).values_list("state", flat=True)) == {"EXTERNALLY_TERMINATED"}
