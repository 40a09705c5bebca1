"""Retry what failed: a new batch of the same type and parameters on exactly the failed (or skipped) items."""
import pytest

from batches.models import Batch, BatchItem, HistoricBatch
from batches.retry import batch_retry_items
from engine.errors import BadUserRequest, NotAuthorized
from engine.models import HistoricActivityInstance, Job, ProcessInstance, UserOperationLogEntry
from engine.services.lifecycle import instances_set_suspended
from engine.services.modification import instance_modify
from tests.conftest import client_for, make_user
from tests.rest.test_engine_api import assert_error, failed_instance
from tests.support.factories import deploy, run_jobs, start
from tests.batches.test_pacing import make_reservations_due

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def item_states(batch_id: str) -> dict[str, str]:
    return dict(BatchItem.objects.filter(batch_id=batch_id).values_list("target_id", "state"))


def targets(batch_id: str) -> list[str]:
    return list(BatchItem.objects.filter(batch_id=batch_id).order_by("seq").values_list("target_id", flat=True))


def failed_modification(create):
    """A modification batch whose suspended instance failed (three attempts) while the other succeeded."""
    definition = deploy()
    good, stuck = start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create(
        "modification/executeAsync",
        {
            "processDefinitionId": definition.id,
            "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
            "processInstanceIds": [good.id, stuck.id],
            "reason": "move them on",
        },
    )
    # Until its execution job has no retries left (a retry's backoff may put it off past run_jobs).
    for _ in range(5):
        run_jobs()
        jobs = Job.objects.filter(job_definition_id=batch.batch_job_definition_id)
        if not jobs.filter(retries__gt=0).exists():
            break
        jobs.update(due_date=None)
    assert Job.objects.get(job_definition_id=batch.batch_job_definition_id).retries == 0
    assert item_states(batch.id) == {good.id: "SUCCEEDED", stuck.id: "FAILED"}
    return batch, good, stuck


def test_retrying_failed_items_creates_a_linked_batch_of_the_same_type_on_exactly_them(create, admin_user, batch_sizes):
    batch_sizes(per_seed=10, invocations=5)
    batch, good, stuck = failed_modification(create)
    historic = HistoricBatch.objects.get(id=batch.id)
    retry = batch_retry_items(historic=historic, state="FAILED", user=admin_user)
    assert retry.type == "instance-modification" and retry.retry_of_id == batch.id
    assert targets(retry.id) == [stuck.id]
    assert retry.configuration["instructions"] == Batch.objects.get(id=batch.id).configuration["instructions"]
    assert retry.reason == "move them on"  # the options are taken over
    retry_history = HistoricBatch.objects.get(id=retry.id)
    assert retry_history.retry_of_id == batch.id and retry_history.request["options"]["reason"] == "move them on"
    assert list(HistoricBatch.objects.filter(retry_of_id=batch.id).values_list("id", flat=True)) == [retry.id]

    instances_set_suspended(instance_ids=[stuck.id], suspended=False)
    run_jobs()
    assert item_states(retry.id) == {stuck.id: "SUCCEEDED"}
    assert HistoricBatch.objects.get(id=retry.id).final_state == HistoricBatch.COMPLETED
    assert HistoricActivityInstance.objects.filter(process_instance_id=stuck.id, activity_id="service").count() == 1


def test_retrying_skipped_items_of_a_query_selection_runs_on_exactly_those_ids(create, admin_user):
    definition = deploy()
    running = start(definition)
    batch = create(
        "process-instance/delete",
        {"processInstanceIds": ["ghost-1"], "processInstanceQuery": {"processDefinitionId": definition.id}, "deleteReason": "x"},
    )
    run_jobs()
    assert item_states(batch.id) == {"ghost-1": "SKIPPED", running.id: "SUCCEEDED"}
    later = start(definition)  # matches the original query, but was not a skipped item
    retry = batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="SKIPPED", user=admin_user)
    assert retry.type == "instance-deletion" and targets(retry.id) == ["ghost-1"]
    run_jobs()
    assert ProcessInstance.objects.filter(id=later.id).exists()
    assert HistoricBatch.objects.get(id=retry.id).final_state == HistoricBatch.COMPLETED


def test_retrying_a_set_job_retries_batch_keeps_its_retries_and_options(create, admin_user):
    window = {"start": "22:00", "end": "05:00", "timeZone": "Europe/Berlin"}
    batch = create("job/retries", {"jobIds": ["gone-job"], "retries": 4, "maxItemsPerSecond": 1000, "reason": "r"})
    run_jobs()  # reserves the throttled slice
    make_reservations_due(batch)
    run_jobs()
    assert item_states(batch.id) == {"gone-job": "SKIPPED"}
    historic = HistoricBatch.objects.get(id=batch.id)
    retry = batch_retry_items(historic=historic, state="SKIPPED", user=admin_user, options={"window": window})
    assert (retry.type, retry.configuration["retries"], targets(retry.id)) == ("set-job-retries", 4, ["gone-job"])
    # The throttle and reason are taken over; the window given with the retry is added.
    assert (retry.max_items_per_second, retry.reason, retry.window_time_zone) == (1000.0, "r", "Europe/Berlin")
    other = batch_retry_items(historic=historic, state="SKIPPED", user=admin_user, options={"maxItemsPerSecond": None, "reason": "s"})
    assert (other.max_items_per_second, other.reason) == (None, "s")


def test_retrying_the_jobs_of_process_instances_uses_the_endpoint_that_created_it(create, admin_user):
    definition = deploy()
    instance = failed_instance(definition)
    batch = create("process-instance/job-retries", {"processInstances": [instance.id], "retries": 2})
    # Its items are jobs; make one disappear before the batch runs, so it is skipped.
    BatchItem.objects.filter(batch_id=batch.id).update(target_id="vanished-job")
    run_jobs()
    assert item_states(batch.id) == {"vanished-job": "SKIPPED"}
    retry = batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="SKIPPED", user=admin_user)
    assert HistoricBatch.objects.get(id=retry.id).request["path"] == "process-instance/job-retries"
    assert (retry.configuration["retries"], targets(retry.id)) == (2, ["vanished-job"])


def test_retrying_a_set_variables_batch_sets_the_same_variables(create, admin_user):
    definition = deploy()
    instance, ended = start(definition), start(definition)
    batch = create(
        "process-instance/variables-async",
        {"processInstanceIds": [instance.id, ended.id], "variables": {"colour": {"value": "red", "type": "String"}}},
    )
    instance_modify(instance_id=ended.id, instructions=[{"type": "cancel", "activityId": "task"}])
    run_jobs()
    assert item_states(batch.id) == {instance.id: "SUCCEEDED", ended.id: "SKIPPED"}
    retry = batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="SKIPPED", user=admin_user)
    assert retry.type == "set-variables" and targets(retry.id) == [ended.id]
    assert retry.configuration["variables"] == batch.configuration["variables"]


def test_a_batch_without_such_items_is_refused(create, admin_user):
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id]})
    run_jobs()
    with pytest.raises(BadUserRequest, match="has no FAILED items"):
        batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="FAILED", user=admin_user)
    with pytest.raises(BadUserRequest, match="state: must be one of FAILED, SKIPPED"):
        batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="PENDING", user=admin_user)
    assert HistoricBatch.objects.count() == 1


def test_a_user_without_the_types_create_permission_is_refused(create, viewer):
    batch = create("job/retries", {"jobIds": ["gone"], "retries": 1})
    run_jobs()
    with pytest.raises(NotAuthorized, match="create_set_job_retries"):
        batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="SKIPPED", user=viewer)


def test_rest_retry_answers_the_new_batch_dto_and_the_history_links_both_ways(api, create):
    batch = create("job/retries", {"jobIds": ["gone-a", "gone-b"], "retries": 1})
    run_jobs()
    response = api.post(f"{R}/batch/{batch.id}/items/retry", {"state": "SKIPPED", "reason": "second try"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "set-job-retries" and body["id"] != batch.id
    assert targets(body["id"]) == ["gone-a", "gone-b"]
    history = api.get(f"{R}/history/batch/{body['id']}").json()
    assert (history["retryOf"], history["reason"]) == (batch.id, "second try")
    retries = api.get(f"{R}/history/batch", {"retryOf": batch.id}).json()
    assert [h["id"] for h in retries] == [body["id"]]
    entry = UserOperationLogEntry.objects.get(batch_id=body["id"], property="reason")
    assert entry.new_value == "second try" and entry.annotation == "second try"


def test_rest_retry_defaults_to_failed_and_refuses_with_400_403_and_404(api, create, operator_api, viewer_api):
    batch = create("job/retries", {"jobIds": ["gone"], "retries": 1})
    run_jobs()
    url = f"{R}/batch/{batch.id}/items/retry"
    assert_error(api.post(url, {}, format="json"), 400, "InvalidRequestException", "has no FAILED items to retry")
    assert_error(api.post(url, {"state": "nope"}, format="json"), 400, "InvalidRequestException", "state: must be one of")
    assert_error(api.post(url, {"state": "SKIPPED", "bogus": 1}, format="json"), 400, "InvalidRequestException", "bogus")
    assert_error(
        api.post(url, {"state": "SKIPPED", "maxItemsPerSecond": -1}, format="json"), 400, "InvalidRequestException", "maxItemsPerSecond"
    )
    assert_error(viewer_api.post(url, {"state": "SKIPPED"}, format="json"), 403, "AuthorizationException", "create_set_job_retries")
    assert_error(api.post(f"{R}/batch/nope/items/retry", {}, format="json"), 404, "InvalidRequestException", "nope")
    assert HistoricBatch.objects.count() == 1


def test_a_batch_of_another_tenant_is_not_found(create, admin_user):
    definition = deploy(tenant_id="tenant-b")
    instance = start(definition)
    instances_set_suspended(instance_ids=[instance.id], suspended=True)
    batch = create(
        "modification/executeAsync",
        {
            "processDefinitionId": definition.id,
            "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
            "processInstanceIds": [instance.id],
        },
    )
    run_jobs()
    outsider = make_user("otto-outsider", perms=True, tenants=("tenant-a",))
    response = client_for(outsider).post(f"{R}/batch/{batch.id}/items/retry", {}, format="json")
    assert_error(response, 404, "InvalidRequestException", batch.id)
    member = make_user("tina-member", perms=True, tenants=("tenant-b",))
    response = client_for(member).post(f"{R}/batch/{batch.id}/items/retry", {}, format="json")
    assert response.status_code == 200, response.content
    assert targets(response.json()["id"]) == [instance.id]


# --- the details page ------------------------------------------------------------------------------


def test_the_details_page_retries_failed_items_and_links_both_ways(create, admin_user, client):
    batch, good, stuck = failed_modification(create)
    client.force_login(admin_user)
    page = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert 'id="retry-failed-items"' in page and "Retry 1 failed item as a new batch" in page
    assert 'id="retry-skipped-items"' not in page
    assert 'id="batch-reason">move them on</dd>' in page and "processDefinitionId" in page
    response = client.post(f"/cockpit/batch/{batch.id}/items/retry", {"state": "FAILED"})
    retry = HistoricBatch.objects.get(retry_of_id=batch.id)
    assert response.status_code == 302 and response["Location"] == f"/cockpit/batch/{retry.id}"
    assert targets(retry.id) == [stuck.id]
    new_page = client.get(response["Location"]).content.decode()
    assert f'href="/cockpit/batch/{batch.id}"' in new_page and 'id="retry-of"' in new_page
    old_page = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert 'id="retried-by"' in old_page and f'href="/cockpit/batch/{retry.id}"' in old_page


def test_the_retry_buttons_come_with_the_live_refresh_once_no_job_retries_the_items(create, admin_user, client):
    definition = deploy()
    good, stuck = start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create("modification/executeAsync", {
        "processDefinitionId": definition.id,
        "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
        "processInstanceIds": [good.id, stuck.id],
    })
    run_jobs(limit=3)  # seed, then the execution job's first attempt: it fails and will retry
    client.force_login(admin_user)
    live = {"HX-Request": "true", "HX-Target": "detail-live"}
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    assert job.retries > 0 and job.exception_message
    while_retrying = client.get(f"/cockpit/batch/{batch.id}", headers=live).content.decode()
    assert while_retrying.lstrip().startswith('<div id="detail-live"') and 'id="retry-failed-items"' not in while_retrying
    Job.objects.filter(id=job.id).update(retries=0)  # its retries are used up
    refreshed = client.get(f"/cockpit/batch/{batch.id}", headers=live).content.decode()
    assert 'id="retry-failed-items"' in refreshed and "Retry 1 failed item as a new batch" in refreshed


def test_the_retry_form_needs_csrf_the_permission_and_a_visible_batch(create, client):
    from django.test import Client

    batch = create("job/retries", {"jobIds": ["gone"], "retries": 1})
    run_jobs()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("csrf-user", superuser=True))
    assert strict.post(f"/cockpit/batch/{batch.id}/items/retry", {"state": "SKIPPED"}).status_code == 403
    client.force_login(make_user("no-perms"))
    assert client.post(f"/cockpit/batch/{batch.id}/items/retry", {"state": "SKIPPED"}).status_code == 403
    assert client.post("/cockpit/batch/nope/items/retry", {"state": "SKIPPED"}).status_code == 404
    admin = make_user("admin2", superuser=True)
    client.force_login(admin)
    nothing = client.post(f"/cockpit/batch/{batch.id}/items/retry", {"state": "FAILED"}, follow=True)
    assert "has no FAILED items to retry" in nothing.content.decode()
    assert HistoricBatch.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("process-instance/delete", {"processInstanceIds": ["ghost"]}),
        ("history/process-instance/delete", {"historicProcessInstanceIds": ["ghost"], "failIfNotExists": False}),
        ("job/retries", {"jobIds": ["ghost"], "retries": 1}),
        ("process-instance/suspended-async", {"processInstanceIds": ["ghost"], "suspended": True}),
        ("external-task/retries-async", {"externalTaskIds": ["ghost"], "retries": 1}),
    ],
)
def test_skipped_items_of_each_type_are_retried_by_the_endpoint_that_created_them(create, admin_user, path, payload):
    batch = create(path, payload)
    run_jobs()
    assert item_states(batch.id) == {"ghost": "SKIPPED"}
    retry = batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="SKIPPED", user=admin_user)
    history = HistoricBatch.objects.get(id=retry.id)
    assert (retry.type, history.request["path"], targets(retry.id)) == (batch.type, path, ["ghost"])
    assert retry.configuration == {**batch.configuration, "tenantIds": retry.configuration["tenantIds"]}


def test_failed_items_are_not_retried_as_a_new_batch_while_their_job_still_retries_them(create, admin_user, batch_sizes):
    """Else the original job's next retry and the new batch would both apply them."""
    from batches.retry import still_retrying

    batch_sizes(per_seed=10, invocations=5)
    definition = deploy()
    good, stuck = start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create(
        "modification/executeAsync",
        {"processDefinitionId": definition.id, "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
         "processInstanceIds": [good.id, stuck.id]},
    )
    from django.utils import timezone

    from engine.services.jobs import executable_jobs, job_execute

    jobs = Job.objects.filter(job_definition_id=batch.batch_job_definition_id)
    for _ in range(20):  # seed, then the execution job: stop after its first failure
        if jobs.filter(exception_message__isnull=False).exists():
            break
        job_execute(executable_jobs(timezone.now()).values_list("id", flat=True).first(), owner="test-runner")
    job = jobs.get()
    assert job.retries == 2 and item_states(batch.id) == {good.id: "SUCCEEDED", stuck.id: "FAILED"}
    historic = HistoricBatch.objects.get(id=batch.id)
    with pytest.raises(BadUserRequest) as refused:
        batch_retry_items(historic=historic, state="FAILED", user=admin_user)
    assert str(refused.value) == still_retrying(batch.id)
    Job.objects.filter(id=job.id).update(retries=0)  # its retries used up: now the new batch may take them
    assert targets(batch_retry_items(historic=historic, state="FAILED", user=admin_user).id) == [stuck.id]


def test_a_retry_copies_its_targets_in_the_database_in_their_order(create, admin_user):
    """The retried items' targets are copied with one INSERT … SELECT: no target id passes through
    the process as a parameter (a retry of a million failed items holds none in memory), the
    original order is kept and targets that no longer exist stay (they are skipped again)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ghosts = ["ghost-c", "ghost-a", "ghost-b"]  # not in id order
    batch = create("process-instance/delete", {"processInstanceIds": ghosts, "deleteReason": "x"})
    run_jobs()
    assert item_states(batch.id) == dict.fromkeys(ghosts, "SKIPPED")
    with CaptureQueriesContext(connection) as queries:
        retry = batch_retry_items(historic=HistoricBatch.objects.get(id=batch.id), state="SKIPPED", user=admin_user)
    assert targets(retry.id) == ghosts
    assert list(BatchItem.objects.filter(batch_id=retry.id).order_by("seq").values_list("seq", "state")) == [
        (0, "PENDING"), (1, "PENDING"), (2, "PENDING")
    ]
    assert HistoricBatch.objects.get(id=retry.id).total_items == 3
    # The retry records the retried batch's request (its payload named the ids); nothing else names them.
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith('UPDATE "batches_historicbatch" SET "request"')]
    assert not [sql for sql in statements if any(ghost in sql for ghost in ghosts)], "a target id was sent as a parameter"
