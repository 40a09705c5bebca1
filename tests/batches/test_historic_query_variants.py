"""The remaining creation endpoints of existing batch types: the historic-query-based deletion and job
retries, and the asynchronous modification of one instance (instance-deletion, set-job-retries,
instance-modification)."""
import pytest

from batches.models import Batch, BatchItem, HistoricBatch
from engine.models import HistoricProcessInstance, Incident, Job, ProcessInstance, UserOperationLogEntry
from engine.services.instance_actions import instance_delete, instance_set_suspended
from engine.services.variables import variables_of
from tests.conftest import client_for, make_user
from tests.rest.test_engine_api import assert_error, failed_instance
from tests.support.factories import deploy, run_jobs, start, tokens

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def post(api, path, body):
    return api.post(f"{R}/{path}", body, format="json")


def created(api, path, body) -> dict:
    response = post(api, path, body)
    assert response.status_code == 200, response.content
    return response.json()


def items(batch_id: str) -> dict[str, BatchItem]:
    return {i.target_id: i for i in BatchItem.objects.filter(batch_id=batch_id)}


# --- POST /process-instance/delete-historic-query-based ------------------------------------------


def test_historic_query_based_deletion_cancels_the_running_and_skips_the_finished(api):
    definition, other = deploy(key="hq"), deploy(key="other")
    running, suspended = start(definition, business_key="r"), start(definition)
    instance_set_suspended(instance=suspended, suspended=True, user_id="u")
    ended = start(definition)
    instance_delete(instance=ended, delete_reason="earlier", user_id="u")
    untouched = start(other)
    body = created(api, "process-instance/delete-historic-query-based", {
        "historicProcessInstanceQuery": {"processDefinitionKey": "hq"}, "deleteReason": "cleanup", "skipCustomListeners": True,
    })
    assert body["type"] == "instance-deletion" and body["totalJobs"] == 1
    assert set(items(body["id"])) == {running.id, suspended.id, ended.id}  # the historic query finds finished ones too
    run_jobs()
    states = {i: item.state for i, item in items(body["id"]).items()}
    assert states == {running.id: "SUCCEEDED", suspended.id: "SUCCEEDED", ended.id: "SKIPPED"}
    assert HistoricProcessInstance.objects.get(id=running.id).state == "EXTERNALLY_TERMINATED"
    assert HistoricProcessInstance.objects.get(id=ended.id).delete_reason == "earlier"
    assert ProcessInstance.objects.filter(id=untouched.id).exists()
    entry = UserOperationLogEntry.objects.get(batch_id=body["id"], property="deleteReason")
    assert (entry.operation_type, entry.entity_type, entry.new_value) == ("Delete", "ProcessInstance", "cleanup")


def test_historic_query_based_deletion_with_ids_only(api):
    instance = start(deploy(key="ids"))
    body = created(api, "process-instance/delete-historic-query-based", {"processInstanceIds": [instance.id, "unknown"]})
    run_jobs()
    assert {i: item.state for i, item in items(body["id"]).items()} == {instance.id: "SUCCEEDED", "unknown": "SKIPPED"}


@pytest.mark.parametrize(
    ("path", "body", "type_name", "message"),
    [
        ("process-instance/delete-historic-query-based", {}, "InvalidRequestException", "processInstanceIds is empty"),
        ("process-instance/delete-historic-query-based", {"historicProcessInstanceQuery": {"processDefinitionKey": "none"}}, "InvalidRequestException", "processInstanceIds is empty"),
        ("process-instance/delete-historic-query-based", {"processInstanceQuery": {"processDefinitionKey": "x"}}, "InvalidRequestException", "processInstanceQuery: not accepted here"),
        ("process-instance/delete-historic-query-based", {"historicProcessInstanceQuery": {"amountAbove": 5}}, "InvalidRequestException", "'amountAbove'"),
        ("process-instance/delete-historic-query-based", {"historicProcessInstanceQuery": {"startedAfter": "tuesday"}}, "InvalidRequestException", "Cannot set query parameter 'startedAfter' to value 'tuesday'"),
        ("process-instance/delete-historic-query-based", {"processInstanceIds": ["a"], "skipSubprocesses": "often"}, "InvalidRequestException", "skipSubprocesses"),
        ("process-instance/job-retries-historic-query-based", {"retries": 1}, "ProcessEngineException", "ENGINE-13051 You must specify at least one of or one of processInstanceIds, processInstanceQuery, or historicProcessInstanceQuery."),
        ("process-instance/job-retries-historic-query-based", {"processInstances": ["a"]}, "InvalidRequestException", "retries: This field is required."),
        ("process-instance/job-retries-historic-query-based", {"processInstances": ["a"], "retries": -2}, "InvalidRequestException", "The number of job retries must be a non-negative Integer, but '-2' has been provided."),
        ("process-instance/job-retries-historic-query-based", {"processInstances": ["a"], "retries": 1}, "InvalidRequestException", "jobIds is empty"),
        ("process-instance/job-retries-historic-query-based", {"processInstanceQuery": {}, "retries": 1}, "InvalidRequestException", "processInstanceQuery: not accepted here"),
        ("process-instance/job-retries-historic-query-based", {"historicProcessInstanceQuery": {"finished": "maybe"}, "retries": 1}, "InvalidRequestException", "'finished'"),
        ("process-instance/job-retries-historic-query-based", {"processInstances": ["a"], "retries": 1, "dueDate": "soon"}, "InvalidRequestException", "dueDate: Cannot parse date 'soon'"),
        ("process-instance/INSTANCE/modification-async", {}, "InvalidRequestException", "The provided instuctions are invalid."),
        ("process-instance/INSTANCE/modification-async", {"instructions": []}, "InvalidRequestException", "The provided instuctions are invalid."),
        ("process-instance/unknown/modification-async", {"instructions": [{"type": "cancel", "activityId": "task"}]}, "ProcessEngineException", "ENGINE-13036 Process instance 'unknown' cannot be modified. The process instance does not exist"),
        ("process-instance/INSTANCE/modification-async", {"instructions": [{"type": "startBeforeActivity", "activityId": "ghost"}]}, "InvalidRequestException", "activity 'ghost' does not exist"),
        ("process-instance/INSTANCE/modification-async", {"instructions": [{"type": "cancel"}]}, "InvalidRequestException", "For instruction type 'cancel': exactly one"),
        ("process-instance/INSTANCE/modification-async", {"instructions": [{"type": "cancel", "activityId": "task"}], "skipIoMappings": "often"}, "InvalidRequestException", "skipIoMappings"),
    ],
)
def test_invalid_requests_are_400s_and_write_nothing(api, path, body, type_name, message):
    instance = start(deploy(key="inv"))
    assert_error(post(api, path.replace("INSTANCE", instance.id), body), 400, type_name, message)
    assert not Batch.objects.exists() and not HistoricBatch.objects.exists()
    assert not UserOperationLogEntry.objects.exclude(entity_type="Deployment").exists()


# --- POST /process-instance/job-retries-historic-query-based -------------------------------------


def test_job_retries_of_the_instances_a_historic_query_finds(api):
    definition = deploy(key="jr")
    failing = failed_instance(definition)
    other = failed_instance(deploy(key="jr-other"))
    body = created(api, "process-instance/job-retries-historic-query-based", {
        "historicProcessInstanceQuery": {"processDefinitionKey": "jr", "withIncidents": True}, "retries": 2,
        "dueDate": "2030-01-01T00:00:00.000+0000",
    })
    assert body["type"] == "set-job-retries"
    job = Job.objects.get(process_instance_id=failing.id)
    assert set(items(body["id"])) == {job.id}
    run_jobs(limit=2)  # the seed job, then the execution job (the process job is due only in 2030)
    job.refresh_from_db()
    assert job.retries == 2 and job.due_date.year == 2030
    assert not Incident.objects.filter(process_instance_id=failing.id).exists()
    assert Job.objects.get(process_instance_id=other.id).retries == 0
    entry = UserOperationLogEntry.objects.get(batch_id=body["id"], property="retries")
    assert (entry.operation_type, entry.entity_type, entry.new_value) == ("SetJobRetries", "Job", "2")


def test_job_retries_honour_the_users_tenants(db):
    mine = failed_instance(deploy(key="tn", tenant_id="tenant-a"))
    theirs = failed_instance(deploy(key="tn", tenant_id="tenant-b"))
    operator = client_for(make_user("op", perms=True, tenants=("tenant-a",)))
    body = created(operator, "process-instance/job-retries-historic-query-based", {
        "historicProcessInstanceQuery": {"processDefinitionKey": "tn"}, "processInstances": [theirs.id], "retries": 1,
    })
    assert set(items(body["id"])) == {Job.objects.get(process_instance_id=mine.id).id}  # the other tenant's job is not selected
    viewer = client_for(make_user("viewer"))
    response = post(viewer, "process-instance/job-retries-historic-query-based", {"processInstances": [mine.id], "retries": 1})
    assert_error(response, 403, "AuthorizationException", "batches.create_set_job_retries")


# --- POST /process-instance/{id}/modification-async ---------------------------------------------


def test_modification_async_of_one_instance(api):
    definition = deploy(key="mod")
    instance = start(definition, business_key="one")
    bystander = start(definition)
    body = created(api, f"process-instance/{instance.id}/modification-async", {
        "instructions": [
            {"type": "startBeforeActivity", "activityId": "service", "variables": {"reason": {"value": "async", "type": "String"}}},
            {"type": "cancel", "activityId": "task"},
        ],
        "skipCustomListeners": True, "annotation": "moved by support",
    })
    assert (body["type"], body["totalJobs"], body["tenantId"]) == ("instance-modification", 1, None)
    assert list(items(body["id"])) == [instance.id]
    entry = UserOperationLogEntry.objects.get(batch_id=body["id"])
    assert (entry.operation_type, entry.entity_type, entry.property, entry.process_instance_id) == (
        "ModifyProcessInstance", "ProcessInstance", None, instance.id,
    )
    assert (entry.annotation, entry.process_definition_id, entry.process_definition_key) == ("moved by support", definition.id, "mod")
    run_jobs(limit=3)  # seed, execution; the service job it creates runs too
    assert items(body["id"])[instance.id].state == "SUCCEEDED"
    assert tokens(bystander) == ["task"]
    assert not ProcessInstance.objects.filter(id=instance.id).exists()  # service ran, the instance ended
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert history.state == "COMPLETED"


def test_modification_async_keeps_the_instance_running_and_sets_variables(api):
    definition = deploy(key="mod2")
    instance = start(definition)
    body = created(api, f"process-instance/{instance.id}/modification-async", {
        "instructions": [{"type": "startBeforeActivity", "activityId": "task", "variables": {"n": {"value": 3, "type": "Integer"}}}],
    })
    run_jobs(limit=2)
    assert items(body["id"])[instance.id].state == "SUCCEEDED"
    assert tokens(instance) == ["task", "task"]
    assert variables_of(instance.id)["n"] == {"value": 3, "type": "Integer"}


def test_modification_async_of_a_suspended_instance_fails_its_item(api):
    instance = start(deploy(key="mod3"))
    instance_set_suspended(instance=instance, suspended=True, user_id="u")
    body = created(api, f"process-instance/{instance.id}/modification-async", {"instructions": [{"type": "cancel", "activityId": "task"}]})
    run_jobs(limit=5)
    item = items(body["id"])[instance.id]
    assert item.state == "FAILED" and "suspended" in item.detail
    assert tokens(instance) == ["task"]


def test_modification_async_of_another_tenants_instance_is_refused(db):
    theirs = start(deploy(key="mt", tenant_id="tenant-b"))
    operator = client_for(make_user("op", perms=True, tenants=("tenant-a",)))
    response = post(operator, f"process-instance/{theirs.id}/modification-async", {"instructions": [{"type": "cancel", "activityId": "task"}]})
    assert_error(response, 400, "ProcessEngineException", f"ENGINE-13036 Process instance '{theirs.id}' cannot be modified")
    assert not Batch.objects.exists()


def test_the_new_routes_are_not_read_as_ids(api):
    # Before this, the fixed paths were reserved 404s; now each serves its POST, and a GET is a 405.
    response = api.get(f"{R}/process-instance/delete-historic-query-based")
    assert response.status_code == 405 and response.json()["type"] == "NotAllowedException"


# --- on real workers ----------------------------------------------------------------------------


@pytest.mark.cluster
def test_the_three_endpoints_on_a_real_cluster(cluster, admin_user, batch_sizes):
    from tests.batches.test_cluster import finished

    batch_sizes(per_seed=2, invocations=2)
    api = client_for(admin_user)
    definition = deploy(key="cl")
    running = [start(definition) for _ in range(3)]
    ended = start(definition)
    instance_delete(instance=ended, delete_reason="before", user_id="u")
    cluster(workers=2)
    deletion = created(api, "process-instance/delete-historic-query-based", {
        "historicProcessInstanceQuery": {"processDefinitionKey": "cl"}, "processInstanceIds": ["missing"],
    })
    historic = finished(deletion["id"])
    assert (historic.final_state, historic.items_succeeded, historic.items_skipped) == ("completed", 3, 2)
    assert not ProcessInstance.objects.filter(id__in=[r.id for r in running]).exists()

    target = start(definition)
    modification = created(api, f"process-instance/{target.id}/modification-async", {
        "instructions": [{"type": "startBeforeActivity", "activityId": "task"}],
    })
    assert finished(modification["id"]).items_succeeded == 1
    assert tokens(target) == ["task", "task"]

    failing = start(deploy(key="cl-fail"), fail=True)
    from engine.services.modification import instance_modify
    from tests.support.cluster import wait_for

    instance_modify(instance_id=failing.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    wait_for(lambda: Job.objects.filter(process_instance_id=failing.id, retries=0).exists(), timeout=60, message="the job to fail")
    retries = created(api, "process-instance/job-retries-historic-query-based", {
        "historicProcessInstanceQuery": {"processDefinitionKey": "cl-fail"}, "retries": 1,
    })
    assert finished(retries["id"]).items_succeeded == 1
    # The job ran again on the workers and failed again (its variable still says fail): retries back to 0.
    wait_for(lambda: Job.objects.filter(process_instance_id=failing.id, retries=0).exists()
             and Incident.objects.filter(process_instance_id=failing.id).exists(), timeout=60, message="the retried job to fail again")
