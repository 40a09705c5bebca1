"""set-external-task-retries: POST /external-task/retries-async, its items, the wizard, and real workers."""
import time

import pytest
from django.db import connection, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from batches.models import Batch, BatchItem
from batches.operations import ENDPOINTS, REGISTRY
from batches.services import batch_create, batch_set_suspended
from cockpit.wizard import OPERATIONS, build_draft
from engine.models import ExternalTask, HistoricIncident, Incident, UserOperationLogEntry
from engine.services.external_tasks import (
    FetchRequest,
    TopicRequest,
    external_task_failure,
    external_tasks_set_retries,
    fetch_and_lock,
)
from engine.services.instance_actions import instance_delete
from tests.batches.test_cluster import create_via_rest, finished
from tests.conftest import client_for, make_user
from tests.rest.test_external_task_api import EXTERNAL
from tests.support.cluster import wait_for
from tests.support.factories import deploy, run_jobs, start

R = "/engine-rest"
PATH = "external-task/retries-async"


def failed_tasks(definition, user, count: int, **variables) -> list:
    """Instances whose external task a worker failed for good: retries 0 and a failedExternalTask incident."""
    instances = [start(definition, **variables) for _ in range(count)]
    request = FetchRequest(worker_id="w", max_tasks=count, topics=(TopicRequest(topic_name="payments", lock_duration=60000),))
    for item in fetch_and_lock(request, user):
        external_task_failure(
            task_id=item.task.id, worker_id="w", error_message="down", error_details=None, retries=0, retry_timeout=0,
            variables=None, local_variables=None, user=user,
        )
    assert Incident.objects.filter(process_instance_id__in=[i.id for i in instances]).count() == count
    return instances


def task_ids(instances) -> list[str]:
    return list(ExternalTask.objects.filter(process_instance_id__in=[i.id for i in instances]).order_by("id").values_list("id", flat=True))


@pytest.mark.django_db
def test_retries_async_sets_retries_resolves_incidents_and_skips_gone_tasks(api, admin_user, batch_sizes):
    batch_sizes(per_seed=10, invocations=2)
    definition = deploy(EXTERNAL, key="payment")
    instances = failed_tasks(definition, admin_user, 4, region="north")
    by_query = failed_tasks(definition, admin_user, 1, region="south")
    ids = task_ids(instances)
    response = api.post(f"{R}/{PATH}", {
        "externalTaskIds": ids[:2],
        "processInstanceIds": [instances[2].id],
        "externalTaskQuery": {"processVariables": [{"name": "region", "operator": "eq", "value": "south"}]},
        "processInstanceQuery": {"processInstanceIds": [instances[3].id]},
        "retries": 3,
    }, format="json")
    assert response.status_code == 200, response.content
    batch = response.json()
    assert (batch["type"], batch["totalJobs"], batch["batchJobsPerSeed"], batch["invocationsPerBatchJob"]) == (
        "set-external-task-retries", 3, 10, 2)
    entries = {e.property: e for e in UserOperationLogEntry.objects.filter(operation_type="SetExternalTaskRetries")}
    assert {p: (e.entity_type, e.new_value) for p, e in entries.items()} == {
        "nrOfInstances": ("ExternalTask", "5"), "async": ("ExternalTask", "true"), "retries": ("ExternalTask", "3"),
    }
    assert entries["async"].batch_id == batch["id"]
    gone = ids[0]
    instance_delete(instance=instances[0], delete_reason="meanwhile", user_id="someone")  # its task goes with it
    run_jobs()
    items = {i.target_id: (i.state, i.detail) for i in BatchItem.objects.filter(batch_id=batch["id"])}
    assert items.pop(gone) == ("SKIPPED", "external task does not exist any more")
    assert {state for state, _ in items.values()} == {"SUCCEEDED"} and len(items) == 4
    assert set(ExternalTask.objects.values_list("retries", flat=True)) == {3}
    assert not Incident.objects.exists()
    assert set(HistoricIncident.objects.exclude(process_instance_id=instances[0].id).values_list("state", flat=True)) == {"resolved"}
    assert HistoricIncident.objects.get(process_instance_id=instances[0].id).state == "deleted"
    # The tasks are fetchable again.
    request = FetchRequest(worker_id="again", max_tasks=10, topics=(TopicRequest(topic_name="payments", lock_duration=1000),))
    assert len(fetch_and_lock(request, admin_user)) == 3 + len(by_query)


@pytest.mark.django_db
def test_retries_zero_raises_incidents_set_based(admin_user):
    definition = deploy(EXTERNAL, key="payment")
    few = [start(definition) for _ in range(3)]
    many = [start(definition) for _ in range(30)]
    with CaptureQueriesContext(connection) as small:
        external_tasks_set_retries(task_ids=task_ids(few), retries=0)
    with CaptureQueriesContext(connection) as large:
        external_tasks_set_retries(task_ids=task_ids(many), retries=0)
    assert len(large.captured_queries) == len(small.captured_queries)  # statements per chunk, not per task
    assert Incident.objects.filter(incident_type="failedExternalTask").count() == 33
    assert HistoricIncident.objects.filter(incident_type="failedExternalTask", state="open").count() == 33
    external_tasks_set_retries(task_ids=task_ids(few), retries=0)  # no second incident for a task without retries
    assert Incident.objects.count() == 33


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"externalTaskIds": ["x"]}, 400, "The number of retries cannot be null."),
        ({"externalTaskIds": ["x"], "retries": -1}, 400, "The number of retries cannot be negative"),
        ({"externalTaskIds": ["x"], "retries": "2"}, 400, "retries"),
        ({"externalTaskQuery": {"bogus": 1}, "retries": 1}, 400, "bogus"),
        ({"processInstanceQuery": {"nope": 1}, "retries": 1}, 400, "nope"),
        ({"externalTaskIds": [], "retries": 1}, 400, "externalTaskIds is empty"),
        ({"processInstanceIds": ["no-such-instance"], "retries": 1}, 400, "externalTaskIds is empty"),
    ],
)
def test_bad_requests_create_nothing(api, payload, status, fragment):
    response = api.post(f"{R}/{PATH}", payload, format="json")
    assert response.status_code == status, response.content
    assert fragment in response.json()["message"]
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_permission_and_tenants(viewer_api, operator, admin_user):
    assert viewer_api.post(f"{R}/{PATH}", {"externalTaskIds": ["x"], "retries": 1}, format="json").status_code == 403
    mine = start(deploy(EXTERNAL, key="payment", tenant_id="tenant-a"))
    theirs = start(deploy(EXTERNAL, key="payment", tenant_id="tenant-b"))
    ids = task_ids([mine]) + task_ids([theirs])
    response = client_for(operator).post(f"{R}/{PATH}", {"externalTaskIds": ids, "retries": 4}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["tenantId"] is None  # the targets do not share a tenant
    run_jobs()
    items = {i.target_id: i.state for i in BatchItem.objects.filter(batch_id=response.json()["id"])}
    assert items == {ids[0]: "SUCCEEDED", ids[1]: "SKIPPED"}
    assert ExternalTask.objects.get(id=ids[1]).retries is None  # another tenant's task stays untouched


@pytest.mark.django_db
def test_the_wizard_offers_it_with_the_rest_payload(admin_user):
    assert REGISTRY["set-external-task-retries"] is ENDPOINTS[PATH]
    op = OPERATIONS["external-task-retries"]
    assert (op.path, op.unit, op.scope) == (PATH, "external task", "runtime")
    definition = deploy(EXTERNAL, key="payment")
    a, b = failed_tasks(definition, admin_user, 2)
    params = QueryDict(mutable=True)
    params.update({"op": "external-task-retries", "select": "ids", "retries": "2"})
    params.setlist("id", [a.id, b.id])
    draft = build_draft(params, admin_user)
    assert draft.valid and draft.count == 2, draft.errors
    assert draft.payload == {"processInstanceIds": [a.id, b.id], "retries": 2}
    params["retries"] = "-1"
    assert "retries" in build_draft(params, admin_user).errors


# --- real workers ---------------------------------------------------------------------------------


@pytest.mark.cluster
def test_on_real_workers_with_a_gone_task_and_a_suspension(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    definition = deploy(EXTERNAL, key="payment")
    instances = failed_tasks(definition, admin_user, 6)
    ids = task_ids(instances)
    with transaction.atomic():
        batch = batch_create(operation=ENDPOINTS[PATH], payload={
            "externalTaskIds": ids[:1] + ["gone-task"], "processInstanceQuery": {"processDefinitionKey": "payment"}, "retries": 2,
        }, user=admin_user)
        batch_set_suspended(batch=batch, suspended=True, user_id="alice")
    cluster(workers=2)
    time.sleep(3)
    batch.refresh_from_db()
    assert batch.jobs_created == 0 and set(ExternalTask.objects.values_list("retries", flat=True)) == {0}
    response = client_for(admin_user).put(f"{R}/batch/{batch.id}/suspended", {"suspended": False}, format="json")
    assert response.status_code == 204
    historic = finished(batch.id)
    assert (historic.final_state, historic.items_succeeded, historic.items_skipped) == ("completed", 6, 1)
    assert BatchItem.objects.get(batch_id=batch.id, target_id="gone-task").detail == "external task does not exist any more"
    assert set(ExternalTask.objects.values_list("retries", flat=True)) == {2}
    assert not Incident.objects.exists()
    assert set(HistoricIncident.objects.values_list("state", flat=True)) == {"resolved"}


@pytest.mark.cluster
def test_via_rest_on_real_workers_by_historic_query(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=1, invocations=3)
    cluster(workers=2)
    definition = deploy(EXTERNAL, key="payment")
    instances = failed_tasks(definition, admin_user, 5)
    body = create_via_rest(admin_user, PATH, {
        "historicProcessInstanceQuery": {"processDefinitionKey": "payment", "unfinished": True}, "retries": 1,
    })
    assert (body["type"], body["totalJobs"]) == ("set-external-task-retries", 2)
    assert finished(body["id"]).items_succeeded == 5
    wait_for(lambda: set(ExternalTask.objects.values_list("retries", flat=True)) == {1}, timeout=10, message="retries")
    request = FetchRequest(worker_id="again", max_tasks=10, topics=(TopicRequest(topic_name="payments", lock_duration=1000),))
    assert {i.task.process_instance_id for i in fetch_and_lock(request, make_user("fetcher", superuser=True))} == {i.id for i in instances}


@pytest.mark.django_db
def test_the_wizard_steps_confirm_the_tasks_and_execute_the_rest_call(admin_user, client):
    from urllib.parse import urlencode

    client.force_login(admin_user)
    definition = deploy(EXTERNAL, key="payment")
    a, b = failed_tasks(definition, admin_user, 2)
    params = urlencode({"op": "external-task-retries", "key": "payment", "retries": "2"})
    assert client.get(f"/cockpit/batch/operation?{params}").status_code == 200
    confirm = client.get(f"/cockpit/batch/operation/confirm?{params}")
    page = confirm.content.decode()
    assert "You are about to set the retries of <strong>2</strong> external tasks" in page
    assert "POST /engine-rest/external-task/retries-async" in page
    response = client.post("/cockpit/batch/operation/execute", {"token": confirm.context["token"], "params": params})
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert (batch.type, batch.total_items) == ("set-external-task-retries", 2)
    run_jobs()
    assert set(ExternalTask.objects.values_list("retries", flat=True)) == {2} and not Incident.objects.exists()
