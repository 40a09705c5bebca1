"""The wizard's Options fieldset in a real browser: typed options reach the confirm step's REST payload."""
import json

import pytest
from playwright.sync_api import expect

from batches.models import HistoricBatch
from tests.browser.conftest import click_next, shot
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db(transaction=True)


def test_options_typed_in_the_wizard_reach_the_payload_and_the_batch(page):
    definition = deploy(key="opts")
    start(definition)
    page.goto("/cockpit/batch/operation")
    page.select_option("#op", "cancel")
    expect(page.locator("#batch-options")).to_be_visible()
    page.select_option("#key", "opts")
    page.fill("#reason", "night cleanup")
    page.fill("#maxItemsPerSecond", "2")
    page.fill("#windowStart", "22:00")
    page.fill("#windowEnd", "05:00")
    page.fill("#windowTimeZone", "Europe/Berlin")
    expect(page.locator("#match-count")).to_have_text("1")
    shot(page, "wizard-options-1-define")
    click_next(page)
    page.click("#rest-details summary")
    payload = json.loads(page.locator("#rest-payload").inner_text())
    assert payload["reason"] == "night cleanup" and payload["maxItemsPerSecond"] == 2
    assert payload["window"] == {"start": "22:00", "end": "05:00", "timeZone": "Europe/Berlin"}
    shot(page, "wizard-options-2-confirm")
    page.click("#execute")
    expect(page.locator("#batch-id")).to_be_visible()
    history = HistoricBatch.objects.get(id=page.locator("#batch-id").inner_text())
    assert history.reason == "night cleanup" and history.request["options"]["window"]["timeZone"] == "Europe/Berlin"
