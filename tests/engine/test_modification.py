"""Modification primitives, suspension, deletion and history deletion of instances."""
import pytest
from django.db.models import F

from engine.errors import BadUserRequest, NotFound
from engine.models import HistoricActivityInstance, HistoricJobLog, HistoricProcessInstance, Incident, Job
from engine.services.lifecycle import (
    NOT_RUNNING,
    STILL_RUNNING,
    historic_instances_delete,
    instances_delete,
    instances_set_suspended,
)
from engine.services.modification import instance_modify
from engine.services.runtime import task_complete
from tests.support.factories import deploy, job_of, run_jobs, start, tokens

pytestmark = pytest.mark.django_db

TWO_OUT = (
    '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="gw"/>'
    '<bpmn:exclusiveGateway id="gw" default="x"/>'
    '<bpmn:sequenceFlow id="x" sourceRef="gw" targetRef="t"/>'
    '<bpmn:sequenceFlow id="y" sourceRef="gw" targetRef="t"><bpmn:conditionExpression>${go}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:userTask id="t"/><bpmn:sequenceFlow id="b" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>'
)


def modify(instance, *instructions):
    return instance_modify(instance_id=instance.id, instructions=list(instructions))


def test_cancel_removes_the_token_and_closes_its_history_as_canceled():
    definition = deploy()
    instance = start(definition)
    modify(instance, {"type": "startBeforeActivity", "activityId": "service"}, {"type": "cancel", "activityId": "task"})
    assert tokens(instance) == ["service"]
    cancelled = HistoricActivityInstance.objects.get(process_instance_id=instance.id, activity_id="task")
    assert cancelled.canceled and cancelled.end_time is not None


def test_start_before_a_service_task_creates_its_job():
    instance = start(deploy())
    modify(instance, {"type": "startBeforeActivity", "activityId": "service"})
    assert tokens(instance) == ["service", "task"]
    assert job_of(instance).activity_id == "service"


def test_start_after_an_activity_takes_its_single_outgoing_flow():
    instance = start(deploy())
    modify(instance, {"type": "startAfterActivity", "activityId": "task"})
    assert tokens(instance) == ["service", "task"]


def test_start_transition_enters_the_target_of_the_flow():
    instance = start(deploy())
    modify(instance, {"type": "cancel", "activityId": "task"}, {"type": "startTransition", "transitionId": "f3"})
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert history.state == "COMPLETED"


def test_cancelling_every_token_terminates_the_instance_externally():
    instance = start(deploy())
    assert modify(instance, {"type": "cancel", "activityId": "task"}) is True
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert history.state == "EXTERNALLY_TERMINATED"
    assert history.delete_reason == "Cancellation due to process instance modification"


def test_cancelling_a_service_task_removes_its_failed_job_and_incident():
    instance = start(deploy(), fail=True)
    modify(instance, {"type": "startBeforeActivity", "activityId": "service"})
    run_jobs()
    assert Incident.objects.filter(process_instance_id=instance.id).exists()
    modify(instance, {"type": "cancel", "activityId": "service"})
    assert not Job.objects.filter(process_instance_id=instance.id).exists()
    assert not Incident.objects.filter(process_instance_id=instance.id).exists()
    assert tokens(instance) == ["task"]


@pytest.mark.parametrize(
    ("instruction", "message"),
    [
        ({"type": "cancel", "activityId": "nope"}, "activity 'nope' does not exist"),
        ({"type": "startTransition", "transitionId": "nope"}, "transition 'nope' does not exist"),
        ({"type": "startBeforeActivity"}, "'activityId' must be set"),
        ({"type": "startTransition"}, "'transitionId' must be set"),
        ({"type": "teleport", "activityId": "t"}, "type must be one of"),
        ({"type": "startAfterActivity", "activityId": "gw"}, "must have exactly one outgoing sequence flow"),
        ({"type": "startAfterActivity", "activityId": "e"}, "must have exactly one outgoing sequence flow"),
    ],
)
def test_invalid_instructions_are_rejected_naming_the_element(instruction, message):
    instance = start(deploy(TWO_OUT, key="two"))
    with pytest.raises(BadUserRequest, match=message):
        modify(instance, instruction)
    assert tokens(instance) == ["t"]


def test_modifying_an_unknown_instance_is_not_found():
    with pytest.raises(NotFound):
        instance_modify(instance_id="missing", instructions=[{"type": "cancel", "activityId": "t"}])


def test_a_suspended_instance_cannot_be_modified_or_its_task_completed():
    instance = start(deploy())
    instances_set_suspended(instance_ids=[instance.id], suspended=True)
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "SUSPENDED"
    with pytest.raises(BadUserRequest, match="suspended"):
        modify(instance, {"type": "cancel", "activityId": "task"})
    with pytest.raises(BadUserRequest, match="suspended"):
        task_complete(task_id=instance.tokens.get().id)


def test_suspension_is_idempotent_and_reports_unknown_ids_as_skipped():
    instance = start(deploy())
    first = instances_set_suspended(instance_ids=[instance.id, "gone"], suspended=True)
    second = instances_set_suspended(instance_ids=[instance.id], suspended=True)
    assert first.changed == [instance.id] and first.skipped == {"gone": NOT_RUNNING}
    assert second.changed == [instance.id]
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "SUSPENDED"


def test_deleting_a_running_instance_terminates_its_history_and_removes_jobs_and_incidents():
    instance = start(deploy(), fail=True)
    modify(instance, {"type": "startBeforeActivity", "activityId": "service"})
    run_jobs()
    job = job_of(instance)
    result = instances_delete(instance_ids=[instance.id], delete_reason="cleanup")
    assert result.changed == [instance.id]
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert (history.state, history.delete_reason) == ("EXTERNALLY_TERMINATED", "cleanup")
    assert history.duration_in_millis is not None
    assert not Job.objects.filter(id=job.id).exists() and not Incident.objects.exists()
    assert not HistoricActivityInstance.objects.filter(process_instance_id=instance.id, end_time__isnull=True).exists()
    assert HistoricJobLog.objects.filter(job_id=job.id, deletion_log=True).exists()
    again = instances_delete(instance_ids=[instance.id], delete_reason="again")
    assert again.skipped == {instance.id: NOT_RUNNING}
    assert HistoricProcessInstance.objects.get(id=instance.id).delete_reason == "cleanup"


def test_deleting_history_removes_only_finished_instances():
    definition = deploy()
    running = start(definition)
    finished = start(definition)
    modify(finished, {"type": "cancel", "activityId": "task"})
    result = historic_instances_delete(instance_ids=[running.id, finished.id, "unknown"])
    assert result.changed == [finished.id]
    assert result.skipped[running.id] == STILL_RUNNING
    assert "unknown" in result.skipped
    assert not HistoricProcessInstance.objects.filter(id=finished.id).exists()
    assert not HistoricActivityInstance.objects.filter(process_instance_id=finished.id).exists()
    assert HistoricProcessInstance.objects.filter(id=running.id).exists()


def test_durations_computed_in_the_database_match_the_timestamps():
    from datetime import timedelta

    instance = start(deploy())
    HistoricProcessInstance.objects.filter(id=instance.id).update(start_time=F("start_time") - timedelta(seconds=90))
    HistoricActivityInstance.objects.filter(process_instance_id=instance.id).update(start_time=F("start_time") - timedelta(seconds=3))
    instances_delete(instance_ids=[instance.id], delete_reason=None)
    history = HistoricProcessInstance.objects.get(id=instance.id)
    expected = (history.end_time - history.start_time).total_seconds() * 1000
    assert abs(history.duration_in_millis - expected) <= 1 and history.duration_in_millis >= 90_000
    task = HistoricActivityInstance.objects.get(process_instance_id=instance.id, activity_id="task")
    assert abs(task.duration_in_millis - (task.end_time - task.start_time).total_seconds() * 1000) <= 1
