"""Retry failed items as a new batch, clicked on the details page in a real browser."""
import re

import pytest
from playwright.sync_api import expect

from batches.models import BatchItem, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.services.lifecycle import instances_set_suspended
from tests.browser.conftest import shot
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_retry_button_creates_a_linked_batch_on_the_failed_items(page, admin_user, batch_sizes):
    batch_sizes(per_seed=5, invocations=5)
    definition = deploy(key="retryme")
    good, stuck = start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = batch_create(operation=ENDPOINTS["modification/executeAsync"], user=admin_user, payload={
        "processDefinitionId": definition.id, "processInstanceIds": [good.id, stuck.id],
        "instructions": [{"type": "startBeforeActivity", "activityId": "service"}], "reason": "unblock orders",
    })
    run_jobs()
    page.goto(f"/cockpit/batch/{batch.id}")
    expect(page.locator("#batch-reason")).to_have_text("unblock orders")
    button = page.locator("#retry-failed-items")
    expect(button).to_have_text("Retry 1 failed item as a new batch")
    shot(page, "retry-items-before")
    button.click()
    page.wait_for_url(re.compile(r"/cockpit/batch/(?!" + re.escape(batch.id) + r")[^/]+$"))
    retry = HistoricBatch.objects.get(retry_of_id=batch.id)
    assert page.url.endswith(f"/cockpit/batch/{retry.id}")
    assert list(BatchItem.objects.filter(batch_id=retry.id).values_list("target_id", flat=True)) == [stuck.id]
    expect(page.locator("#retry-of a")).to_have_attribute("href", f"/cockpit/batch/{batch.id}")
    expect(page.locator("#batch-reason")).to_have_text("unblock orders")
    shot(page, "retry-items-new-batch")
    page.click("#retry-of a")
    expect(page.locator("#retried-by a")).to_have_text(retry.id)
    shot(page, "retry-items-original")
