"""The reason of a batch (stored, shown, op log, CSV, required by a setting), its request kept in history,
and the finalState filter of the historic batch query and the ended-batches list."""
import pytest

from batches.execution import batch_end
from batches.models import Batch, HistoricBatch
from engine.models import UserOperationLogEntry
from engine.services.lifecycle import instances_set_suspended
from tests.rest.test_engine_api import assert_error
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"
CAMUNDA_HISTORIC_FIELDS = {
    "id", "type", "totalJobs", "batchJobsPerSeed", "invocationsPerBatchJob", "seedJobDefinitionId",
    "monitorJobDefinitionId", "batchJobDefinitionId", "tenantId", "createUserId", "startTime", "endTime",
    "removalTime", "executionStartTime",
}


def create(api, path, payload) -> dict:
    response = api.post(f"{R}/{path}", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def require_reason(settings):
    settings.BATCH = {**settings.BATCH, "REQUIRE_REASON": ("instance-deletion", "historic-instance-deletion")}


def test_the_reason_is_stored_in_the_history_and_written_into_the_creation_log(api):
    definition = deploy()
    body = create(api, "process-instance/delete", {"processInstanceIds": [start(definition).id], "reason": "GDPR ticket 7"})
    history = api.get(f"{R}/history/batch/{body['id']}").json()
    assert history["reason"] == "GDPR ticket 7" and history["retryOf"] is None
    entries = UserOperationLogEntry.objects.filter(batch_id=body["id"], operation_type="Delete")
    assert {e.annotation for e in entries} == {"GDPR ticket 7"}
    assert entries.get(property="reason").new_value == "GDPR ticket 7"


def test_the_operations_own_annotation_wins_in_the_log_column(api):
    definition = deploy()
    instance = start(definition)
    body = create(api, "modification/executeAsync", {
        "processDefinitionId": definition.id, "processInstanceIds": [instance.id], "annotation": "Camunda's",
        "instructions": [{"type": "startBeforeActivity", "activityId": "service"}], "reason": "ours",
    })
    entries = UserOperationLogEntry.objects.filter(batch_id=body["id"])
    assert {e.annotation for e in entries} == {"Camunda's"}
    assert entries.get(property="reason").new_value == "ours"


def test_the_history_keeps_what_was_asked_beside_camundas_fields(api):
    definition = deploy()
    body = create(api, "process-instance/delete", {
        "processInstanceQuery": {"processDefinitionId": definition.id}, "processInstanceIds": [start(definition).id],
        "deleteReason": "cleanup", "skipCustomListeners": True, "maxItemsPerSecond": 5, "reason": "tidy",
    })
    run_jobs()
    history = api.get(f"{R}/history/batch/{body['id']}").json()
    assert CAMUNDA_HISTORIC_FIELDS <= set(history)
    request = history["request"]
    assert request["payload"]["processInstanceQuery"] == {"processDefinitionId": definition.id}
    assert request["payload"]["deleteReason"] == "cleanup" and "reason" not in request["payload"]
    assert request["options"] == {"reason": "tidy", "maxItemsPerSecond": 5.0}
    listed = api.get(f"{R}/history/batch", {"batchId": body["id"]}).json()
    assert listed == [history]


def test_a_required_reason_is_a_400_naming_it_for_destructive_types_only(api, require_reason):
    definition = deploy()
    instance = start(definition)
    response = api.post(f"{R}/process-instance/delete", {"processInstanceIds": [instance.id]}, format="json")
    assert_error(response, 400, "InvalidRequestException", "reason: a reason is required for instance-deletion")
    blank = api.post(f"{R}/process-instance/delete", {"processInstanceIds": [instance.id], "reason": "  "}, format="json")
    assert_error(blank, 400, "InvalidRequestException", "reason:")
    assert not HistoricBatch.objects.exists()
    create(api, "process-instance/delete", {"processInstanceIds": [instance.id], "reason": "asked by ops"})
    create(api, "process-instance/variables-async", {"processInstanceIds": [start(definition).id], "variables": {"a": {"value": 1}}})
    assert HistoricBatch.objects.count() == 2


def test_by_default_no_type_requires_a_reason():
    """A Camunda client sends no reason and must work unchanged; an operator opts in per type."""
    from batches.operations import REGISTRY
    import os
    import subprocess
    import sys

    script = "import django; django.setup(); from django.conf import settings; print(','.join(settings.BATCH['REQUIRE_REASON']))"
    env = {k: v for k, v in os.environ.items() if k != "BATCH_REQUIRE_REASON"}
    env["DJANGO_SETTINGS_MODULE"] = "cockpit.settings"
    env.setdefault("DJANGO_DEBUG", "1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    env["BATCH_REQUIRE_REASON"] = "instance-deletion, instance-migration"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out.split(",") == ["instance-deletion", "instance-migration"] and all(t in REGISTRY for t in out.split(","))


def test_the_items_csv_starts_with_the_reason(client, admin_user):
    from tests.conftest import client_for

    definition = deploy()
    body = create(client_for(admin_user), "process-instance/delete", {"processInstanceIds": [start(definition).id], "reason": "why\nnot"})
    client.force_login(admin_user)
    text = b"".join(client.get(f"/cockpit/batch/{body['id']}/items.csv").streaming_content).decode()
    assert text.splitlines()[0] == "# reason: why not"
    assert text.splitlines()[1].startswith("position,target_id")


def ended_batches(api):
    """One completed, one failed (every item failed), one completed with failures, one canceled."""
    definition = deploy()
    completed = create(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    stuck = start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    modify = {"processDefinitionId": definition.id, "instructions": [{"type": "startBeforeActivity", "activityId": "service"}]}
    failed = create(api, "modification/executeAsync", {**modify, "processInstanceIds": [stuck.id]})
    mixed = create(api, "modification/executeAsync", {**modify, "processInstanceIds": [stuck.id, start(definition).id]})
    canceled = create(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    assert api.delete(f"{R}/batch/{canceled['id']}").status_code == 204
    run_jobs()
    # A failed execution job keeps a batch running; ending it (as completion does) keeps what its items did.
    for body in (failed, mixed):
        batch_end(Batch.objects.get(id=body["id"]), canceled=False)
    return {"completed": completed["id"], "failed": failed["id"], "completed_with_failures": mixed["id"], "canceled": canceled["id"]}


def test_the_final_state_filter_of_the_historic_batch_query(api):
    ids = ended_batches(api)
    for state, batch_id in ids.items():
        assert HistoricBatch.objects.get(id=batch_id).final_state == state
        assert [h["id"] for h in api.get(f"{R}/history/batch", {"finalState": state}).json()] == [batch_id]
        assert api.get(f"{R}/history/batch/count", {"finalState": state}).json() == {"count": 1}
    assert [h["id"] for h in api.get(f"{R}/history/batch", {"finalState": "FAILED"}).json()] == [ids["failed"]]
    response = api.get(f"{R}/history/batch", {"finalState": "done"})
    assert_error(response, 400, "InvalidRequestException", "finalState")
    assert_error(api.get(f"{R}/history/batch/count", {"finalState": "done"}), 400, "InvalidRequestException", "finalState")


def test_the_ended_batches_list_filters_by_final_state(client, api, admin_user):
    ids = ended_batches(api)
    client.force_login(admin_user)
    page = client.get("/cockpit/batch", {"finalState": "failed"}).content.decode()
    assert ids["failed"] in page and ids["completed"] not in page and ids["canceled"] not in page
    assert 'value="failed" selected' in page
    bad = client.get("/cockpit/batch", {"finalState": "nope"})
    assert bad.status_code == 400 and b"finalState" in bad.content
