"""The external task API: fetch and lock (with long polling), complete, failure, locks, retries, queries, errors."""
import re
import threading
import time

import pytest
from django.db import connection

from engine.models import (
    ExternalTask,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricProcessInstance,
    Incident,
    ProcessInstance,
    UserOperationLogEntry,
)
from engine.services.instance_actions import instance_delete
from engine.services.lifecycle import instances_set_suspended
from engine.services.variables import variables_of
from tests.conftest import client_for, make_user
from tests.support.factories import deploy, start, tokens

pytestmark = pytest.mark.django_db
R = "/engine-rest/external-task"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
CAMUNDA = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'

# start -> external task "charge" (topic payments, with extension properties) -> user task "review" -> end
EXTERNAL = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>'
    f'<bpmn:serviceTask id="charge" name="Charge" {CAMUNDA} camunda:type="external" camunda:topic="payments">'
    "<bpmn:extensionElements><camunda:properties>"
    '<camunda:property name="currency" value="EUR"/><camunda:property name="channel" value="card"/>'
    "</camunda:properties></bpmn:extensionElements></bpmn:serviceTask>"
    '<bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="review"/>'
    '<bpmn:userTask id="review" name="Review"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)
# start -> external task "ship" (topic shipping) -> end
SHORT = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ship"/>'
    f'<bpmn:serviceTask id="ship" {CAMUNDA} camunda:type="external" camunda:topic="shipping"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="ship" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)
LOCKED_FIELDS = {
    "activityId", "activityInstanceId", "errorMessage", "errorDetails", "executionId", "id", "lockExpirationTime",
    "createTime", "processDefinitionId", "processDefinitionKey", "processDefinitionVersionTag", "processInstanceId",
    "retries", "suspended", "workerId", "topicName", "tenantId", "variables", "priority", "businessKey",
    "extensionProperties",
}
TASK_FIELDS = LOCKED_FIELDS - {"errorDetails", "variables", "extensionProperties"}


def assert_error(response, status, type_name, fragment):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] == type_name, body
    assert fragment in body["message"], body["message"]


def fetch(api, worker="w1", topic="payments", max_tasks=10, **extra):
    topic_entry = {"topicName": topic, "lockDuration": 60000, **extra.pop("topic_extra", {})}
    response = api.post(f"{R}/fetchAndLock", {"workerId": worker, "maxTasks": max_tasks, "topics": [topic_entry], **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def task_of(instance) -> ExternalTask:
    return ExternalTask.objects.get(process_instance_id=instance.id)


@pytest.fixture
def definition(db):
    return deploy(EXTERNAL, key="payment")


# --- creation and queries ---------------------------------------------------------------------------


def test_an_external_service_task_waits_with_an_external_task_and_no_job(api, definition):
    instance = start(definition, business_key="order-1", amount=42)
    task = task_of(instance)
    assert (task.topic_name, task.activity_id, task.business_key, task.retries) == ("payments", "charge", "order-1", None)
    assert not instance.jobs.exists() and tokens(instance) == ["charge"]
    body = api.get(f"{R}/{task.id}").json()
    assert set(body) == TASK_FIELDS
    assert body["executionId"] == body["activityInstanceId"] == task.execution_id
    assert (body["workerId"], body["lockExpirationTime"], body["suspended"]) == (None, None, False)
    assert DATE.match(body["createTime"]) and body["processDefinitionKey"] == "payment"
    assert api.get(R, {"topicName": "payments"}).json() == [body]
    assert api.get(f"{R}/count", {"processInstanceId": instance.id}).json() == {"count": 1}
    assert api.post(f"{R}/count", {"activityIdIn": ["charge"], "notLocked": True}, format="json").json() == {"count": 1}
    assert api.get(f"{R}/topic-names").json() == ["payments"]


def test_queries_filter_sort_and_refuse_unknown_parameters(api, definition):
    first, second = start(definition, amount=1), start(definition, amount=2)
    fetch(api, max_tasks=1)  # locks the first
    assert api.get(R, {"locked": "true"}).json()[0]["processInstanceId"] == first.id
    assert [t["processInstanceId"] for t in api.get(R, {"notLocked": "true"}).json()] == [second.id]
    assert api.get(f"{R}/count", {"workerId": "w1"}).json() == {"count": 1}
    by_variable = api.post(R, {"processVariables": [{"name": "amount", "operator": "gt", "value": 1}]}, format="json").json()
    assert [t["processInstanceId"] for t in by_variable] == [second.id]
    ordered = api.get(R, {"sortBy": "createTime", "sortOrder": "desc"}).json()
    assert [t["processInstanceId"] for t in ordered] == [second.id, first.id]
    assert api.get(f"{R}/topic-names", {"withLockedTasks": "true"}).json() == ["payments"]
    assert api.get(f"{R}/topic-names", {"withLockedTasks": "true", "withUnlockedTasks": "true"}).json() == []
    assert_error(api.get(R, {"bogus": "1"}), 400, "InvalidRequestException", "bogus")
    assert_error(api.get(R, {"sortBy": "nope", "sortOrder": "asc"}), 400, "InvalidRequestException", "sortBy")
    assert_error(api.get(f"{R}/topic-names", {"withRetriesLeft": "true", "other": "x"}), 400, "InvalidRequestException", "other")


def test_unknown_ids_are_camundas_404(api):
    for path in ["nope", "nope/errorDetails"]:
        assert_error(api.get(f"{R}/{path}"), 404, "RestException", "External task with id nope does not exist")
    for path, body in [
        ("complete", {"workerId": "w"}), ("failure", {"workerId": "w"}), ("extendLock", {"workerId": "w", "newDuration": 5}),
        ("unlock", {}), ("lock", {"workerId": "w", "lockDuration": 5}), ("bpmnError", {"workerId": "w", "errorCode": "E"}),
    ]:
        assert_error(api.post(f"{R}/nope/{path}", body, format="json"), 404, "RestException", "External task with id nope does not exist")
    assert_error(api.put(f"{R}/nope/retries", {"retries": 1}, format="json"), 404, "RestException", "does not exist")
    assert_error(api.put(f"{R}/nope/priority", {"priority": 1}, format="json"), 404, "RestException", "does not exist")


# --- fetch and lock ---------------------------------------------------------------------------------


def test_fetch_and_lock_answers_camundas_locked_task_with_variables_and_extension_properties(api, definition):
    instance = start(definition, business_key="order-7", amount=42, note="rush")
    [locked] = fetch(api, topic_extra={"variables": ["amount"], "includeExtensionProperties": True})
    assert set(locked) == LOCKED_FIELDS
    assert locked["variables"] == {"amount": {"type": "Integer", "value": 42, "valueInfo": {}}}
    assert locked["extensionProperties"] == {"currency": "EUR", "channel": "card"}
    assert (locked["workerId"], locked["topicName"], locked["businessKey"]) == ("w1", "payments", "order-7")
    assert locked["processInstanceId"] == instance.id and DATE.match(locked["lockExpirationTime"])
    task = task_of(instance)
    assert task.worker_id == "w1" and 59 < (task.lock_expiration_time - task.create_time).total_seconds() < 70
    # Locked: nobody else gets it, not even the same worker again.
    assert fetch(api, worker="w2") == [] and fetch(api) == []


def test_fetch_variables_all_none_and_filters(api, definition):
    start(definition, business_key="a", amount=1, note="x")
    start(definition, business_key="b", amount=2)
    [by_key] = fetch(api, topic_extra={"businessKey": "b"})
    assert by_key["businessKey"] == "b" and set(by_key["variables"]) == {"amount"}
    assert by_key["extensionProperties"] == {}  # not asked for
    [rest] = fetch(api, worker="w2", topic_extra={"variables": []})
    assert rest["variables"] == {} and rest["businessKey"] == "a"


def test_fetch_honours_process_variables_definitions_and_tenants(api, definition):
    other = deploy(EXTERNAL, key="payment", tenant_id="tenant-b")
    start(definition, amount=1)
    match = start(definition, amount=5)
    tenant_task = start(other, amount=5)
    # processVariables: equal values; Camunda ORs several names
    found = fetch(api, topic_extra={"processVariables": {"amount": 5, "missing": "x"}, "withoutTenantId": True})
    assert [t["processInstanceId"] for t in found] == [match.id]
    found = fetch(api, topic_extra={"tenantIdIn": ["tenant-b"], "processDefinitionKey": "payment"})
    assert [t["processInstanceId"] for t in found] == [tenant_task.id]
    assert fetch(api, topic_extra={"processDefinitionId": "unknown"}) == []
    assert fetch(api, topic_extra={"processDefinitionVersionTag": "1.0"}) == []  # no definition has a version tag


def test_usepriority_and_create_time_sorting_order_the_fetch(api, definition):
    low, high = start(definition), start(definition)
    assert api.put(f"{R}/{task_of(high).id}/priority", {"priority": 10}, format="json").status_code == 204
    [first] = fetch(api, max_tasks=1, usePriority=True)
    assert first["processInstanceId"] == high.id and first["priority"] == 10
    api.post(f"{R}/{first['id']}/unlock")
    [newest] = fetch(api, max_tasks=1, sorting=[{"sortBy": "createTime", "sortOrder": "desc"}])
    assert newest["processInstanceId"] == high.id
    [oldest] = fetch(api, worker="w2", max_tasks=1, sorting=[{"sortBy": "createTime", "sortOrder": "asc"}])
    assert oldest["processInstanceId"] == low.id
    entry = UserOperationLogEntry.objects.get(operation_type="SetPriority")
    assert (entry.entity_type, entry.property, entry.org_value, entry.new_value) == ("ExternalTask", "priority", "0", "10")
    assert entry.process_instance_id == high.id


def test_suspended_tasks_and_tasks_without_retries_are_not_fetched(api, definition):
    suspended, failed = start(definition), start(definition)
    instances_set_suspended(instance_ids=[suspended.id], suspended=True)
    assert api.get(f"{R}/{task_of(suspended).id}").json()["suspended"] is True
    ExternalTask.objects.filter(process_instance_id=failed.id).update(retries=0)
    assert fetch(api) == []
    instances_set_suspended(instance_ids=[suspended.id], suspended=False)
    assert [t["processInstanceId"] for t in fetch(api)] == [suspended.id]


def test_fetch_refuses_bad_requests_naming_the_field(api, definition):
    def post(body):
        return api.post(f"{R}/fetchAndLock", body, format="json")

    topic = {"topicName": "payments", "lockDuration": 1000}
    assert_error(post({"maxTasks": 1, "topics": [topic]}), 400, "NullValueException", "workerId is null")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "payments"}]}), 400, "ProcessEngineException", "lockTime is not greater than 0")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [{"lockDuration": 5}]}), 400, "NullValueException", "topicName is null")
    assert_error(post({"workerId": "w", "maxTasks": -1, "topics": [topic]}), 400, "ProcessEngineException", "maxResults")
    assert_error(post({"workerId": "w", "maxTasks": "2", "topics": [topic]}), 400, "InvalidRequestException", "maxTasks")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [topic], "asyncResponseTimeout": 1800001}), 400,
                 "InvalidRequestException", "The asynchronous response timeout cannot be set to a value greater than 1800000 milliseconds")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [topic], "bogus": 1}), 400, "InvalidRequestException", "bogus")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [{**topic, "extra": True}]}), 400, "InvalidRequestException", "extra")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [{**topic, "localVariables": True}]}), 400, "InvalidRequestException", "localVariables")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [{**topic, "processVariables": {"a": [1]}}]}), 400, "InvalidRequestException", "processVariables.a")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [topic], "sorting": [{"sortBy": "priority"}]}), 400, "InvalidRequestException", "sortBy")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [{**topic, "lockDuration": 2**62}]}), 400, "InvalidRequestException", "lockDuration")
    assert_error(post({"workerId": "w" * 256, "maxTasks": 1, "topics": [topic]}), 400, "InvalidRequestException", "workerId")
    assert_error(post({"workerId": "w", "maxTasks": 1, "topics": [{**topic, "processVariables": {"a": 2**70}}]}), 400, "InvalidRequestException", "processVariables.a")
    # Camunda's defaults: no maxTasks is 0 tasks, no topics no task.
    start(definition)
    assert post({"workerId": "w", "topics": [topic]}).json() == []
    assert post({"workerId": "w", "maxTasks": 5}).json() == []


def test_long_polling_waits_at_most_the_bound_and_answers_empty(api, settings):
    settings.EXTERNAL_TASK_LONG_POLL_MAX_SECONDS = 1
    settings.EXTERNAL_TASK_LONG_POLL_INTERVAL_MS = 100
    began = time.monotonic()
    assert fetch(api, asyncResponseTimeout=60000) == []
    assert 0.9 < time.monotonic() - began < 5
    began = time.monotonic()
    assert fetch(api, asyncResponseTimeout=300) == []  # a shorter timeout than the bound wins
    assert 0.25 < time.monotonic() - began < 0.9


@pytest.mark.django_db(transaction=True)
def test_long_polling_answers_as_soon_as_a_task_appears(api, settings):
    settings.EXTERNAL_TASK_LONG_POLL_MAX_SECONDS = 15
    settings.EXTERNAL_TASK_LONG_POLL_INTERVAL_MS = 100
    definition = deploy(EXTERNAL, key="payment")
    started = {}

    def start_later():
        time.sleep(0.7)
        try:
            started["instance"] = start(definition)
        finally:
            connection.close()

    thread = threading.Thread(target=start_later)
    began = time.monotonic()
    thread.start()
    found = fetch(api, asyncResponseTimeout=15000)
    elapsed = time.monotonic() - began
    thread.join()
    assert [t["processInstanceId"] for t in found] == [started["instance"].id]
    assert 0.6 < elapsed < 5


# --- complete -----------------------------------------------------------------------------------------


def test_complete_continues_the_token_with_variables_and_history(api, definition):
    instance = start(definition, amount=1)
    [locked] = fetch(api)
    response = api.post(f"{R}/{locked['id']}/complete", {"workerId": "w1", "variables": {"paid": {"value": True, "type": "Boolean"}, "amount": {"value": 7}}}, format="json")
    assert response.status_code == 204, response.content
    assert tokens(instance) == ["review"] and not ExternalTask.objects.exists()
    assert variables_of(instance.id)["paid"] == {"value": True, "type": "Boolean"}
    assert variables_of(instance.id)["amount"]["value"] == 7
    charge = HistoricActivityInstance.objects.get(process_instance_id=instance.id, activity_id="charge")
    assert charge.end_time is not None and not charge.canceled
    assert not UserOperationLogEntry.objects.exclude(entity_type="Deployment").exists()  # no entry for a worker's complete


def test_completing_the_last_task_ends_the_instance(api):
    instance = start(deploy(SHORT, key="ship"))
    [locked] = fetch(api, topic="shipping")
    assert api.post(f"{R}/{locked['id']}/complete", {"workerId": "w1"}, format="json").status_code == 204
    assert not ProcessInstance.objects.filter(id=instance.id).exists()
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED"


def test_complete_by_another_worker_or_unlocked_is_camundas_400(api, definition):
    instance = start(definition)
    task = task_of(instance)
    assert_error(api.post(f"{R}/{task.id}/complete", {"workerId": "w1"}, format="json"), 400, "RestException",
                 f"External Task {task.id} cannot be completed by worker 'w1'. It is locked by worker 'null'.")
    fetch(api)
    assert_error(api.post(f"{R}/{task.id}/complete", {"workerId": "w2"}, format="json"), 400, "RestException",
                 "It is locked by worker 'w1'.")
    assert_error(api.post(f"{R}/{task.id}/complete", {}, format="json"), 400, "NullValueException", "workerId is null")
    assert_error(api.post(f"{R}/{task.id}/complete", {"workerId": "w1", "localVariables": {"x": {"value": 1}}}, format="json"),
                 400, "InvalidRequestException", "localVariables")
    assert_error(api.post(f"{R}/{task.id}/complete", {"workerId": "w1", "variables": {"x": 1}}, format="json"),
                 400, "InvalidRequestException", "variables.x")
    assert_error(api.post(f"{R}/{task.id}/complete", {"workerId": "w1", "other": 1}, format="json"), 400, "InvalidRequestException", "other")
    instances_set_suspended(instance_ids=[instance.id], suspended=True)
    assert_error(api.post(f"{R}/{task.id}/complete", {"workerId": "w1"}, format="json"), 400,
                 "SuspendedEntityInteractionException", f"ExternalTask with id '{task.id}' is suspended")
    assert tokens(instance) == ["charge"]  # nothing changed


def test_a_cancelled_instance_takes_its_external_task_along(api, definition):
    instance = start(definition)
    [locked] = fetch(api)
    instance_delete(instance=instance, delete_reason="no", user_id="x")
    assert not ExternalTask.objects.exists()
    assert_error(api.post(f"{R}/{locked['id']}/complete", {"workerId": "w1"}, format="json"), 404, "RestException", "does not exist")


# --- failure, incidents, retries ----------------------------------------------------------------------


def test_failure_counts_retries_down_locks_for_the_timeout_and_raises_an_incident_at_zero(api, definition):
    instance = start(definition)
    [locked] = fetch(api)
    task_id = locked["id"]
    response = api.post(f"{R}/{task_id}/failure", {
        "workerId": "w1", "errorMessage": "card service down" + "!" * 700, "errorDetails": "Traceback ...", "retries": 2, "retryTimeout": 60000,
    }, format="json")
    assert response.status_code == 204, response.content
    task = ExternalTask.objects.get(id=task_id)
    assert task.retries == 2 and len(task.error_message) == 666 and task.worker_id == "w1"
    assert fetch(api, worker="w2") == []  # locked until the retry timeout
    details = api.get(f"{R}/{task_id}/errorDetails")
    assert details.status_code == 200 and details.content == b"Traceback ..." and details["Content-Type"].startswith("text/plain")
    # The same worker reports again without a timeout: fetchable at once, and at 0 an incident.
    assert api.post(f"{R}/{task_id}/failure", {"workerId": "w1", "errorMessage": "still down", "retries": 1}, format="json").status_code == 204
    [again] = fetch(api, worker="w2")
    assert (again["retries"], again["errorMessage"], again["errorDetails"]) == (1, "still down", "Traceback ...")
    assert api.post(f"{R}/{task_id}/failure", {"workerId": "w2", "errorMessage": "gave up", "retries": 0}, format="json").status_code == 204
    incident = Incident.objects.get(process_instance_id=instance.id)
    assert (incident.incident_type, incident.configuration, incident.incident_message) == ("failedExternalTask", task_id, "gave up")
    assert HistoricIncident.objects.get(id=incident.id).state == "open"
    assert fetch(api, worker="w3") == []  # no retries left
    assert api.get(f"{R}/count", {"noRetriesLeft": "true"}).json() == {"count": 1}
    # PUT retries resolves the incident; Camunda logs SetExternalTaskRetries.
    assert api.put(f"{R}/{task_id}/retries", {"retries": 3}, format="json").status_code == 204
    assert not Incident.objects.exists() and HistoricIncident.objects.get(id=incident.id).state == "resolved"
    entry = UserOperationLogEntry.objects.get(operation_type="SetExternalTaskRetries")
    assert (entry.entity_type, entry.property, entry.org_value, entry.new_value, entry.category) == ("ExternalTask", "retries", "0", "3", "Operator")
    assert (entry.process_instance_id, entry.process_definition_key) == (instance.id, "payment")
    assert len(fetch(api, worker="w3")) == 1


def test_failure_and_retries_refuse_bad_values(api, definition):
    start(definition)
    [locked] = fetch(api)
    url = f"{R}/{locked['id']}"
    assert_error(api.post(f"{url}/failure", {"workerId": "w1", "retries": -1}, format="json"), 400, "ProcessEngineException", "retries is not greater than or equal to 0")
    assert_error(api.post(f"{url}/failure", {"workerId": "w1", "retryTimeout": -5}, format="json"), 400, "ProcessEngineException", "retryDuration")
    assert_error(api.post(f"{url}/failure", {"workerId": "w2"}, format="json"), 400, "RestException",
                 f"Failure of External Task {locked['id']} cannot be reported by worker 'w2'. It is locked by worker 'w1'.")
    assert_error(api.put(f"{url}/retries", {}, format="json"), 400, "InvalidRequestException", "The number of retries cannot be null.")
    assert_error(api.put(f"{url}/retries", {"retries": -1}, format="json"), 400, "BadUserRequestException", "The number of retries cannot be negative")
    assert_error(api.put(f"{url}/retries", {"retries": "3"}, format="json"), 400, "InvalidRequestException", "retries")
    assert_error(api.put(f"{url}/priority", {}, format="json"), 400, "InvalidRequestException", "priority")
    assert api.get(f"{url}/errorDetails").status_code == 204  # no details reported yet


def test_retries_zero_raises_the_incident_from_the_operator_too(api, definition):
    instance = start(definition)
    task = task_of(instance)
    assert api.put(f"{R}/{task.id}/retries", {"retries": 0}, format="json").status_code == 204
    assert Incident.objects.get(process_instance_id=instance.id).incident_type == "failedExternalTask"
    assert api.get("/engine-rest/incident", {"incidentType": "failedExternalTask"}).json()[0]["configuration"] == task.id


# --- locks ----------------------------------------------------------------------------------------


def test_extend_lock_unlock_and_lock(api, definition):
    start(definition)
    [locked] = fetch(api)
    url = f"{R}/{locked['id']}"
    before = ExternalTask.objects.get(id=locked["id"]).lock_expiration_time
    assert api.post(f"{url}/extendLock", {"workerId": "w1", "newDuration": 600000}, format="json").status_code == 204
    assert (ExternalTask.objects.get(id=locked["id"]).lock_expiration_time - before).total_seconds() > 500
    assert_error(api.post(f"{url}/extendLock", {"workerId": "w2", "newDuration": 1000}, format="json"), 400, "RestException",
                 f"The lock of the External Task {locked['id']} cannot be extended by worker 'w2''. It is locked by worker 'w1'.")
    assert_error(api.post(f"{url}/extendLock", {"workerId": "w1", "newDuration": 0}, format="json"), 400, "RestException", "lockTime is not greater than 0")
    assert_error(api.post(f"{url}/lock", {"workerId": "w2", "lockDuration": 1000}, format="json"), 400, "RestException", "It is locked by worker 'w1'.")
    ExternalTask.objects.filter(id=locked["id"]).update(lock_expiration_time=before.replace(year=2000))
    assert_error(api.post(f"{url}/extendLock", {"workerId": "w1", "newDuration": 1000}, format="json"), 400, "RestException", "Cannot extend a lock that expired")
    assert api.post(f"{url}/lock", {"workerId": "w2", "lockDuration": 1000}, format="json").status_code == 204  # the old lock expired
    assert ExternalTask.objects.get(id=locked["id"]).worker_id == "w2"
    assert api.post(f"{url}/unlock").status_code == 204
    task = ExternalTask.objects.get(id=locked["id"])
    assert (task.worker_id, task.lock_expiration_time) == (None, None)
    entry = UserOperationLogEntry.objects.get(operation_type="Unlock")
    assert (entry.entity_type, entry.property) == ("ExternalTask", None)
    assert len(fetch(api, worker="w3")) == 1


def test_bpmn_error_is_a_clear_400(api, definition):
    start(definition)
    [locked] = fetch(api)
    assert_error(api.post(f"{R}/{locked['id']}/bpmnError", {"workerId": "w1", "errorCode": "E1"}, format="json"), 400,
                 "InvalidRequestException", "this engine has no error events")
    assert_error(api.post(f"{R}/{locked['id']}/bpmnError", {"workerId": "w1"}, format="json"), 400, "NullValueException", "errorCode is null")
    assert ExternalTask.objects.filter(id=locked["id"]).exists()


# --- many tasks: PUT /external-task/retries ------------------------------------------------------------


def test_sync_retries_by_ids_queries_and_instances_all_or_none(api, definition):
    instances = [start(definition, amount=n) for n in range(4)]
    tasks = [task_of(i) for i in instances]
    ExternalTask.objects.update(retries=0)
    response = api.put(f"{R}/retries", {
        "externalTaskIds": [tasks[0].id], "processInstanceIds": [instances[1].id],
        "externalTaskQuery": {"processVariables": [{"name": "amount", "operator": "eq", "value": 2}]}, "retries": 5,
    }, format="json")
    assert response.status_code == 204, response.content
    assert sorted(ExternalTask.objects.values_list("retries", flat=True)) == [0, 5, 5, 5]
    entries = {e.property: e for e in UserOperationLogEntry.objects.filter(operation_type="SetExternalTaskRetries")}
    assert (entries["nrOfInstances"].new_value, entries["async"].new_value, entries["retries"].new_value) == ("3", "false", "5")
    # An unknown id: Camunda's 404, nothing changed.
    assert_error(api.put(f"{R}/retries", {"externalTaskIds": [tasks[3].id, "nope"], "retries": 9}, format="json"), 404,
                 "InvalidRequestException", "Cannot find external task with id nope")
    assert ExternalTask.objects.get(id=tasks[3].id).retries == 0
    assert_error(api.put(f"{R}/retries", {"externalTaskIds": [], "retries": 1}, format="json"), 400, "InvalidRequestException", "externalTaskIds is empty")
    assert_error(api.put(f"{R}/retries", {"externalTaskIds": [tasks[3].id]}, format="json"), 400, "InvalidRequestException", "The number of retries cannot be null.")
    assert_error(api.put(f"{R}/retries", {"externalTaskIds": [tasks[3].id], "retries": 1, "externalTaskQuery": {"bogus": 1}}, format="json"),
                 400, "InvalidRequestException", "bogus")


# --- permissions and tenants --------------------------------------------------------------------------


def test_writes_need_the_permission_and_tenants_stay_apart(api, viewer_api, operator_api, definition):
    mine = start(deploy(EXTERNAL, key="payment", tenant_id="tenant-a"))
    theirs = start(deploy(EXTERNAL, key="payment", tenant_id="tenant-b"))
    assert_error(viewer_api.post(f"{R}/fetchAndLock", {"workerId": "v", "maxTasks": 1, "topics": []}, format="json"), 403,
                 "AuthorizationException", "engine.change_externaltask")
    assert_error(viewer_api.put(f"{R}/{task_of(mine).id}/retries", {"retries": 1}, format="json"), 403, "AuthorizationException", "change_externaltask")
    assert viewer_api.get(f"{R}/count").json() == {"count": 0}
    found = fetch(operator_api, worker="op", topic_extra={"processDefinitionKey": "payment"})
    assert [t["processInstanceId"] for t in found] == [mine.id]
    other = task_of(theirs).id
    assert_error(operator_api.get(f"{R}/{other}"), 404, "RestException", "does not exist")
    assert_error(operator_api.put(f"{R}/{other}/retries", {"retries": 1}, format="json"), 404, "RestException", "does not exist")
    assert_error(operator_api.put(f"{R}/retries", {"externalTaskIds": [other], "retries": 1}, format="json"), 404, "InvalidRequestException", other)
    assert operator_api.get(f"{R}/topic-names").json() == ["payments"]
    outsider = client_for(make_user("no-tenant-worker", perms=True))
    assert fetch(outsider, worker="x") == []


def test_the_admin_lists_external_tasks_and_gives_one_retry(client, admin_user, definition):
    instance = start(definition)
    task = task_of(instance)
    ExternalTask.objects.filter(id=task.id).update(retries=0)
    client.force_login(admin_user)
    assert client.get("/admin/engine/externaltask/").status_code == 200
    response = client.post("/admin/engine/externaltask/", {"action": "give_one_retry", "_selected_action": [task.id]})
    assert response.status_code == 302
    assert ExternalTask.objects.get(id=task.id).retries == 1
    assert UserOperationLogEntry.objects.get(operation_type="SetExternalTaskRetries").user_id == admin_user.username


def test_the_demo_definition_waits_for_workers(api):
    from pathlib import Path

    from engine.services.deployment import deployment_create

    xml = (Path(__file__).resolve().parents[2] / "engine" / "bpmn" / "shipment_dispatch.bpmn").read_bytes()
    _, [definition] = deployment_create(name="demo", resources=[("shipment_dispatch.bpmn", xml)])
    instance = start(definition, business_key="SHP-1")
    [locked] = fetch(api, topic="carrier-booking", topic_extra={"includeExtensionProperties": True})
    assert locked["extensionProperties"] == {"carrierApi": "https://carrier.example.org/bookings", "timeoutSeconds": "30"}
    assert api.post(f"{R}/{locked['id']}/complete", {"workerId": "w1"}, format="json").status_code == 204
    assert tokens(instance) == ["confirmPickup"]
