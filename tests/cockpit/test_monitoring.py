"""Batch monitoring pages and actions without a browser."""
import pytest

from batches.models import Batch, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.models import Job
from engine.services.lifecycle import instances_set_suspended
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def failing_batch(user):
    definition = deploy()
    stuck = start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = batch_create(
        operation=ENDPOINTS["modification/executeAsync"],
        payload={"processDefinitionId": definition.id, "processInstanceIds": [stuck.id], "instructions": [{"type": "cancel", "activityId": "task"}]},
        user=user,
    )
    run_jobs()
    return batch, stuck


def test_the_list_shows_running_and_ended_batches_with_filters(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    done = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [start(definition).id]}, user=admin_user)
    run_jobs()
    running, _ = failing_batch(admin_user)
    page = client.get("/cockpit/batch").content.decode()
    assert running.id in page and done.id in page and "completed" in page
    assert running.id not in client.get("/cockpit/batch?failures=without").content.decode()
    assert running.id not in client.get("/cockpit/batch?createdBy=someone-else").content.decode()
    assert "Enter a date and time" in client.get("/cockpit/batch?startedAfter=never").content.decode()
    partial = client.get("/cockpit/batch", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="running").content.decode()
    assert partial.lstrip().startswith("<section id=\"running\"") and "<html" not in partial


def test_details_show_statistics_failed_jobs_and_items(admin_user, client):
    client.force_login(admin_user)
    batch, stuck = failing_batch(admin_user)
    page = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    # A failed item is reported, not raised: its job's stack trace names the item failure and its reason.
    assert "is suspended and cannot be modified" in page and "batches.execution.ItemFailed: Process instance" in page
    assert 'id="failed-jobs">1<' in page and stuck.id in page
    csv = b"".join(client.get(f"/cockpit/batch/{batch.id}/items.csv?state=FAILED").streaming_content).decode()
    assert csv.splitlines()[0] == "position,target_id,state,detail,updated_at"
    assert stuck.id in csv and "FAILED" in csv


def test_retry_suspend_and_delete_actions(admin_user, client):
    client.force_login(admin_user)
    batch, stuck = failing_batch(admin_user)
    instances_set_suspended(instance_ids=[stuck.id], suspended=False)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    response = client.post(f"/cockpit/batch/{batch.id}/retry", {"job_id": job.id}, follow=True)
    assert "Retrying 1 failed job." in response.content.decode()
    from engine.models import UserOperationLogEntry

    retry = UserOperationLogEntry.objects.get(operation_type="SetJobRetries", job_id=job.id)
    assert (retry.entity_type, retry.user_id, retry.org_value, retry.new_value) == ("Job", admin_user.username, "0", "1")
    client.post(f"/cockpit/batch/{batch.id}/suspend", {"suspended": "true"})
    assert Batch.objects.get(id=batch.id).suspended and Job.objects.get(id=job.id).suspended
    client.post(f"/cockpit/batch/{batch.id}/suspend", {"suspended": "false"})
    assert not Batch.objects.get(id=batch.id).suspended
    assert "Keep the history" in client.get(f"/cockpit/batch/{batch.id}/delete").content.decode()
    client.post(f"/cockpit/batch/{batch.id}/delete", {"cascade": "false"})
    assert HistoricBatch.objects.get(id=batch.id).final_state == "canceled"


def test_deleting_a_failed_job_asks_first(admin_user, client):
    client.force_login(admin_user)
    batch, _ = failing_batch(admin_user)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    url = f"/cockpit/batch/{batch.id}/jobs/{job.id}/delete"
    assert "Delete job" in client.get(url).content.decode()
    assert Job.objects.filter(id=job.id).exists()
    client.post(url)
    assert not Job.objects.filter(id=job.id).exists()


def test_actions_need_permissions_and_reads_are_tenant_filtered(admin_user, operator, viewer, client):
    batch, _ = failing_batch(admin_user)
    client.force_login(viewer)
    assert client.post(f"/cockpit/batch/{batch.id}/suspend", {"suspended": "true"}).status_code == 403
    assert client.post(f"/cockpit/batch/{batch.id}/delete", {"cascade": "true"}).status_code == 403
    assert client.post(f"/cockpit/batch/{batch.id}/retry").status_code == 403
    foreign = start(deploy(key="claims", tenant_id="tenant-b"))
    hidden = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [foreign.id]}, user=admin_user)
    client.force_login(operator)
    assert client.get(f"/cockpit/batch/{hidden.id}").status_code == 404
    assert hidden.id not in client.get("/cockpit/batch").content.decode()


def test_a_batch_completing_while_its_page_renders_is_shown_running_or_ended(admin_user, client, monkeypatch):
    """The details page reads the runtime batch and the historic batch in two queries. A completion
    committing between them must not leave a page with neither a running batch (which refreshes
    itself) nor a final state: that page stayed at "0 succeeded" for good (seen in CI)."""
    from cockpit.views import monitoring

    client.force_login(admin_user)
    definition = deploy()
    batch = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [start(definition).id]}, user=admin_user)
    real = monitoring._historic_or_404

    def historic_then_completion(request, batch_id):
        historic = real(request, batch_id)
        run_jobs()  # the batch's jobs run and complete it right after this read
        return historic

    monkeypatch.setattr(monitoring, "_historic_or_404", historic_then_completion)
    page = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert not Batch.objects.filter(id=batch.id).exists()
    refreshes = 'hx-trigger="every 2s"' in page
    ended = 'id="final-state">completed<' in page
    assert refreshes or ended, "the page neither refreshes nor shows the final state"
