"""Batch monitoring in a real browser: live progress, retry from the page, suspend/activate, delete."""
import pytest
from playwright.sync_api import expect

from batches.models import Batch, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create, batch_set_suspended
from engine.models import HistoricProcessInstance
from engine.services.lifecycle import instances_set_suspended
from tests.browser.conftest import shot
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster


def create(user, path, payload):
    return batch_create(operation=ENDPOINTS[path], payload=payload, user=user)


def test_the_list_updates_live_while_a_cluster_works(page, cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    definition = deploy(key="live")
    ids = [start(definition).id for _ in range(10)]
    batch = create(admin_user, "process-instance/delete", {"processInstanceIds": ids})
    batch_set_suspended(batch=batch, suspended=True, user_id="alice")
    page.goto("/cockpit/batch")
    row = page.locator("#running tr", has_text=batch.id[-12:])
    expect(row).to_contain_text("suspended")
    expect(row).to_contain_text("0/10 items")
    shot(page, "monitoring-list-running")
    cluster(workers=2)
    batch_set_suspended(batch=batch, suspended=False, user_id="alice")
    # No reload: htmx polls the running table; the batch leaves it and shows as ended.
    expect(page.locator("#running")).not_to_contain_text(batch.id[-12:], timeout=60_000)
    page.reload()
    expect(page.locator("#ended tr", has_text=batch.id[-12:])).to_contain_text("completed")
    shot(page, "monitoring-list-ended")


def test_retry_a_failed_job_from_the_details_page(page, cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=5, invocations=5)
    cluster(workers=2)
    definition = deploy(key="fails")
    stuck = start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create(admin_user, "modification/executeAsync", {
        "processDefinitionId": definition.id, "processInstanceIds": [stuck.id],
        "instructions": [{"type": "cancel", "activityId": "task"}],
    })
    page.goto(f"/cockpit/batch/{batch.id}")
    expect(page.locator("#failed-jobs")).to_have_text("1", timeout=60_000)
    expect(page.locator(".failed-job .exception")).to_contain_text("is suspended and cannot be modified")
    page.click(".failed-job summary")
    expect(page.locator(".stacktrace")).to_contain_text("ItemFailed")  # a failed item is reported, not raised
    shot(page, "monitoring-details-failed")
    instances_set_suspended(instance_ids=[stuck.id], suspended=False)
    page.click("text=Retry this job")
    expect(page.locator(".messages")).to_contain_text("Retrying 1 failed job.")
    expect(page.locator("#final-state")).to_have_text("completed", timeout=60_000)
    assert HistoricProcessInstance.objects.get(id=stuck.id).state == "EXTERNALLY_TERMINATED"


def test_suspend_activate_and_delete_keeping_or_removing_history(page, admin_user):
    definition = deploy(key="acts")
    kept = create(admin_user, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    gone = create(admin_user, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    page.goto(f"/cockpit/batch/{kept.id}")
    page.click("#suspend")
    expect(page.locator(".messages")).to_contain_text("Batch suspended.")
    assert Batch.objects.get(id=kept.id).suspended
    page.click("#activate")
    expect(page.locator(".messages")).to_contain_text("Batch activated.")
    assert not Batch.objects.get(id=kept.id).suspended
    shot(page, "monitoring-details-running")
    page.click("#delete-batch")
    shot(page, "monitoring-delete-confirm")
    page.click("#confirm-delete")  # the default keeps the history
    expect(page.locator("#final-state")).to_have_text("canceled")
    page.goto(f"/cockpit/batch/{gone.id}")
    page.click("#delete-batch")
    page.check("input[name=cascade][value=true]")
    page.click("#confirm-delete")
    expect(page.locator(".messages")).to_contain_text("deleted together with its history")
    assert not HistoricBatch.objects.filter(id=gone.id).exists()
    assert HistoricBatch.objects.get(id=kept.id).final_state == "canceled"
