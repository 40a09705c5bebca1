"""The details page's pacing panel in a real browser: throttle with ETA, window wait, changing the throttle."""
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from batches.models import Batch
from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.models import UserOperationLogEntry
from tests.browser.conftest import shot
from tests.support.factories import deploy, start


@pytest.fixture
def paced(admin_user, batch_sizes) -> Batch:
    batch_sizes(per_seed=10, invocations=10)
    definition = deploy(key="paced")
    ids = [start(definition).id for _ in range(20)]
    soon = timezone.now() + timedelta(hours=2)
    window = {"start": soon.strftime("%H:%M"), "end": (soon + timedelta(hours=1)).strftime("%H:%M"), "timeZone": "UTC"}
    payload = {"processInstanceIds": ids, "suspended": True, "maxItemsPerSecond": 2, "window": window}
    return batch_create(operation=ENDPOINTS["process-instance/suspended-async"], payload=payload, user=admin_user)


def test_the_throttle_shows_its_eta_and_changes_from_the_page(page, paced):
    page.goto(f"/cockpit/batch/{paced.id}")
    expect(page.locator("#pacing-throttle")).to_contain_text("at most 2 items/s")
    expect(page.locator("#pacing-throttle")).to_contain_text("about 10 s of work at this rate once it resumes")  # 20 pending / 2 per s
    expect(page.locator("#pacing-paused")).to_contain_text("Waiting for window")
    expect(page.locator("#pacing-paused")).to_contain_text("resumes at")
    shot(page, "pacing-throttled")
    page.fill("#max-items-per-second", "5")
    page.click("#set-throttle")
    expect(page.locator(".messages")).to_contain_text("Throttle set to 5 items per second.")
    expect(page.locator("#pacing-throttle")).to_contain_text("at most 5 items/s")
    expect(page.locator("#pacing-throttle")).to_contain_text("about 4 s of work")
    paced.refresh_from_db()
    assert paced.max_items_per_second == 5
    assert UserOperationLogEntry.objects.filter(operation_type="SetBatchThrottle", batch_id=paced.id).count() == 1
    shot(page, "pacing-changed")


def test_a_bad_throttle_is_refused_naming_the_field(page, paced):
    page.goto(f"/cockpit/batch/{paced.id}")
    page.fill("#max-items-per-second", "0")
    with page.expect_response(lambda r: r.url.endswith("/throttle")) as answer:
        page.click("#set-throttle")
    assert answer.value.status == 400
    expect(page.locator("#pacing-error")).to_contain_text("maxItemsPerSecond")
    shot(page, "pacing-refused")
    paced.refresh_from_db()
    assert paced.max_items_per_second == 2


def test_an_empty_throttle_removes_it(page, paced):
    page.goto(f"/cockpit/batch/{paced.id}")
    page.fill("#max-items-per-second", "")
    page.click("#set-throttle")
    expect(page.locator("#pacing-throttle")).to_contain_text("none")
    paced.refresh_from_db()
    assert paced.max_items_per_second is None
