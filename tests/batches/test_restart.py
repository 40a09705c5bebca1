"""instance-restart: restarting finished instances, as a batch and synchronously, in-process."""
import pytest
from django.db import transaction
from django.utils import timezone

from batches.models import BatchItem
from engine.models import (
    ActivityInstance,
    HistoricProcessInstance,
    Job,
    HistoricVariableUpdate,
    ProcessInstance,
    UserOperationLogEntry,
)
from engine.services.instance_actions import instance_delete
from engine.services.runtime import task_complete
from engine.services.variables import variables_of, variables_set
from tests.support.factories import deploy, run_jobs, start, tokens

pytestmark = pytest.mark.django_db

BEFORE_TASK = [{"type": "startBeforeActivity", "activityId": "task"}]


def finished(definition, business_key="bk-1", **variables) -> str:
    """An instance cancelled in its user task after its variables changed once."""
    instance = start(definition, business_key=business_key, **variables)
    with transaction.atomic():
        variables_set(instance=instance, variables={"amount": {"value": 99, "type": "Integer"}}, now=timezone.now())
    instance_delete(instance=instance, delete_reason="gone", user_id="someone")
    assert not ProcessInstance.objects.filter(id=instance.id).exists()
    return instance.id


def restarted(historic_id: str) -> ProcessInstance:
    history = HistoricProcessInstance.objects.get(restarted_process_instance_id=historic_id)
    return ProcessInstance.objects.get(id=history.id)


def test_restart_async_starts_a_new_instance_with_business_key_and_last_variables(api, batch_sizes):
    batch_sizes(per_seed=10, invocations=10)
    definition = deploy()
    old = finished(definition, amount=5, note="hello")
    response = api.post(f"/engine-rest/process-definition/{definition.id}/restart-async", {
        "processInstanceIds": [old], "instructions": BEFORE_TASK,
    }, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["type"] == "instance-restart"
    run_jobs()
    new = restarted(old)
    assert new.id != old and new.business_key == "bk-1" and new.process_definition_id == definition.id
    assert tokens(new) == ["task"]
    variables = variables_of(new.id)
    assert variables["amount"] == {"value": 99, "type": "Integer"} and variables["note"]["value"] == "hello"
    history = api.get(f"/engine-rest/history/process-instance/{new.id}").json()
    assert history["restartedProcessInstanceId"] == old and history["state"] == "ACTIVE"
    item = BatchItem.objects.get(target_id=old)
    assert item.state == BatchItem.SUCCEEDED
    entry = UserOperationLogEntry.objects.get(operation_type="RestartProcessInstance", property="async")
    assert (entry.new_value, entry.process_definition_id) == ("true", definition.id)


def test_initial_variables_and_without_business_key(api):
    definition = deploy()
    old = finished(definition, amount=5)
    response = api.post(f"/engine-rest/process-definition/{definition.id}/restart", {
        "processInstanceIds": [old], "instructions": BEFORE_TASK, "initialVariables": True, "withoutBusinessKey": True,
    }, format="json")
    assert response.status_code == 204, response.json()
    new = restarted(old)
    assert new.business_key is None
    assert variables_of(new.id)["amount"] == {"value": 5, "type": "Integer"}
    # The new instance's own start values are its initial ones.
    assert HistoricVariableUpdate.objects.get(process_instance_id=new.id, name="amount", initial=True).long_value == 5


def test_restart_from_an_activity_and_after_one(api):
    definition = deploy()
    old = finished(definition)
    after_task = [{"type": "startAfterActivity", "activityId": "task"}]
    assert api.post(f"/engine-rest/process-definition/{definition.id}/restart", {
        "processInstanceIds": [old], "instructions": after_task}, format="json").status_code == 204
    new = restarted(old)
    assert tokens(new) == ["service"]
    run_jobs()
    assert HistoricProcessInstance.objects.get(id=new.id).state == "COMPLETED"


def test_a_running_or_foreign_instance_fails_its_item(api, create, batch_sizes):
    batch_sizes(per_seed=10, invocations=10)
    definition = deploy()
    other = deploy(key="other")
    running = start(definition)
    foreign = finished(other)
    fine = finished(definition)
    batch = create("process-definition/<str:processDefinitionId>/restart-async", {
        "processDefinitionId": definition.id, "processInstanceIds": [running.id, foreign, fine, "nope"],
        "instructions": BEFORE_TASK,
    })
    run_jobs()
    items = {i.target_id: (i.state, i.detail) for i in BatchItem.objects.filter(batch_id=batch.id)}
    assert items[fine][0] == BatchItem.SUCCEEDED
    assert items[running.id] == (
        BatchItem.FAILED,
        f"ENGINE-13040 Historic process instance '{running.id}' cannot be restarted. It is not completed or terminated.",
    )
    assert items[foreign][0] == BatchItem.FAILED and "ENGINE-13039" in items[foreign][1]
    assert items["nope"] == (BatchItem.FAILED, "Historic process instance cannot be found: historicProcessInstanceId is null")


def test_sync_restart_is_all_or_nothing(api):
    definition = deploy()
    running = start(definition)
    fine = finished(definition)
    response = api.post(f"/engine-rest/process-definition/{definition.id}/restart", {
        "processInstanceIds": [fine, running.id], "instructions": BEFORE_TASK}, format="json")
    assert response.status_code == 400
    assert response.json()["type"] == "ProcessEngineException" and "ENGINE-13040" in response.json()["message"]
    assert not HistoricProcessInstance.objects.filter(restarted_process_instance_id=fine).exists()


@pytest.mark.parametrize("payload, message", [
    ({"processInstanceIds": ["x"], "instructions": []}, "Restart instructions cannot be empty: instructions is empty"),
    ({"processInstanceIds": ["x"]}, "Restart instructions cannot be empty: instructions is null"),
    ({"instructions": BEFORE_TASK}, "processInstanceIds is empty"),
    ({"processInstanceIds": ["x"], "instructions": [{"type": "startBeforeActivity"}]},
     "For instruction type 'startBeforeActivity': 'activityId' must be set"),
    ({"processInstanceIds": ["x"], "instructions": [{"type": "cancel", "activityId": "task"}]}, "instructions[0].type"),
    ({"processInstanceIds": ["x"], "instructions": [{"type": "startBeforeActivity", "activityId": "nope"}]}, "nope"),
    ({"processInstanceIds": ["x"], "instructions": BEFORE_TASK, "historicProcessInstanceQuery": {"bogus": 1}}, "bogus"),
    ({"processInstanceIds": ["x"], "instructions": BEFORE_TASK, "initialVariables": "maybe"}, "initialVariables"),
])
def test_bad_restart_requests_are_400s(api, payload, message):
    definition = deploy()
    for suffix in ("restart", "restart-async"):
        response = api.post(f"/engine-rest/process-definition/{definition.id}/{suffix}", payload, format="json")
        assert response.status_code == 400, (suffix, response.json())
        assert message in response.json()["message"], (suffix, response.json())


def test_an_unknown_definition_is_camundas_400(api):
    for suffix in ("restart", "restart-async"):
        response = api.post(f"/engine-rest/process-definition/nope/{suffix}", {
            "processInstanceIds": ["x"], "instructions": BEFORE_TASK}, format="json")
        assert response.status_code == 400
        assert response.json()["message"] == "no deployed process definition found with id 'nope': processDefinition is null"


def test_a_tenant_operator_cannot_restart_another_tenants_definition(operator_api):
    definition = deploy(tenant_id="tenant-b")
    response = operator_api.post(f"/engine-rest/process-definition/{definition.id}/restart-async", {
        "processInstanceIds": ["x"], "instructions": BEFORE_TASK}, format="json")
    assert response.status_code == 400 and "no deployed process definition" in response.json()["message"]


def test_restart_by_historic_query(api, batch_sizes):
    batch_sizes(per_seed=10, invocations=10)
    definition = deploy()
    olds = [finished(definition, business_key=f"q-{n}") for n in range(3)]
    start(definition, business_key="q-running")
    response = api.post(f"/engine-rest/process-definition/{definition.id}/restart-async", {
        "historicProcessInstanceQuery": {"processDefinitionId": definition.id, "finished": True},
        "instructions": BEFORE_TASK,
    }, format="json")
    assert response.status_code == 200, response.json()
    run_jobs()
    assert sorted(restarted(o).business_key for o in olds) == ["q-0", "q-1", "q-2"]


BRANCHES = (
    '<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="task"/>'
    '<bpmn:userTask id="task"/><bpmn:sequenceFlow id="f1" sourceRef="task" targetRef="big"/>'
    '<bpmn:exclusiveGateway id="big" default="small"/>'
    '<bpmn:sequenceFlow id="large" sourceRef="big" targetRef="fork"><bpmn:conditionExpression>${amount &gt;= 100}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:sequenceFlow id="small" sourceRef="big" targetRef="done"/>'
    '<bpmn:parallelGateway id="fork"/><bpmn:sequenceFlow id="a" sourceRef="fork" targetRef="left"/>'
    '<bpmn:sequenceFlow id="b" sourceRef="fork" targetRef="right"/><bpmn:userTask id="left"/><bpmn:serviceTask id="right"/>'
    '<bpmn:sequenceFlow id="c" sourceRef="left" targetRef="join"/><bpmn:sequenceFlow id="d" sourceRef="right" targetRef="join"/>'
    '<bpmn:parallelGateway id="join"/><bpmn:sequenceFlow id="e" sourceRef="join" targetRef="done"/><bpmn:endEvent id="done"/>'
)


def test_each_restarted_instance_walks_gateways_with_its_own_variables(api):
    definition = deploy(BRANCHES, key="branches")
    large, small = finished(definition, amount=500), finished(definition, business_key="s", amount=1)
    response = api.post(f"/engine-rest/process-definition/{definition.id}/restart", {
        "processInstanceIds": [large, small], "instructions": [{"type": "startAfterActivity", "activityId": "task"}],
        "initialVariables": True,
    }, format="json")
    assert response.status_code == 204, response.json()
    tall = restarted(large)
    assert tokens(tall) == ["left", "right"]
    assert Job.objects.filter(process_instance=tall, activity_id="right").count() == 1
    # The small one took the default flow to the end: it completed as it started.
    ended = HistoricProcessInstance.objects.get(restarted_process_instance_id=small)
    assert (ended.state, ended.business_key) == ("COMPLETED", "s") and not ProcessInstance.objects.filter(id=ended.id).exists()
    run_jobs()
    task_complete(task_id=ActivityInstance.objects.get(process_instance=tall, activity_id="left").id)
    assert HistoricProcessInstance.objects.get(id=tall.id).state == "COMPLETED"
