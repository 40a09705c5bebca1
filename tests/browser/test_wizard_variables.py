"""Set variables walked through the wizard in a real browser: the typed editor, confirm, a real q2 cluster."""
import json

import pytest
from playwright.sync_api import Page, expect

from engine.services.variables import variables_of
from tests.browser.conftest import click_next, shot
from tests.browser.test_wizard import choose_operation, go_next_and_execute
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster


def row(page: Page, number: int):
    return page.locator("[data-variables-editor] tbody tr").nth(number)


def test_set_variables_with_the_typed_editor(page, cluster):
    cluster(workers=2)
    definition = deploy(key="typed")
    ids = [start(definition, amount=n).id for n in range(3)]
    choose_operation(page, "set-variables")
    page.select_option("#key", "typed")
    expect(page.locator("#match-count")).to_have_text("3")
    expect(page.locator("#error-variables-editor")).to_have_text("Add at least one variable.")
    expect(page.locator("#next")).to_be_disabled()

    row(page, 0).locator("input[name=variables_name]").fill("status")
    row(page, 0).locator("input[name=variables_value]").fill("reviewed")
    page.click("[data-variables-add]")  # a row added in the page, no round trip
    row(page, 1).locator("input[name=variables_name]").fill("amount")
    row(page, 1).locator("select[name=variables_type]").select_option("Integer")
    row(page, 1).locator("input[name=variables_value]").fill("12.5")
    expect(page.locator("#error-variables-editor")).to_contain_text(
        "amount: Cannot convert value '12.5' of type 'Integer' to java type java.lang.Integer"
    )
    expect(page.locator("#next")).to_be_disabled()
    row(page, 1).locator("input[name=variables_value]").fill("1000")
    page.click("[data-variables-add]")
    row(page, 2).locator("input[name=variables_name]").fill("unwanted")
    row(page, 2).locator("select[name=variables_type]").select_option("Null")
    expect(row(page, 2).locator("input[name=variables_value]")).to_have_attribute("readonly", "")
    row(page, 2).locator("[data-variables-remove]").click()
    expect(page.locator("[data-variables-editor] tbody tr")).to_have_count(2)
    expect(page.locator("#error-variables-editor")).to_be_empty()

    go_next_and_execute(page, "set-variables", "You are about to set variables on 3 instances")
    for instance_id in ids:
        assert variables_of(instance_id) == {
            "amount": {"value": 1000, "type": "Integer"}, "status": {"value": "reviewed", "type": "String"},
        }


def test_the_confirm_step_shows_the_exact_payload(page):
    definition = deploy(key="payload")
    start(definition)
    choose_operation(page, "set-variables")
    page.select_option("#key", "payload")
    row(page, 0).locator("input[name=variables_name]").fill("due")
    row(page, 0).locator("select[name=variables_type]").select_option("Date")
    row(page, 0).locator("input[name=variables_value]").fill("2031-05-01T10:00")
    expect(page.locator("#next")).to_be_enabled()
    click_next(page)
    page.click("#rest-details summary")
    expect(page.locator("#rest-endpoint")).to_have_text("POST /engine-rest/process-instance/variables-async")
    payload = json.loads(page.locator("#rest-payload").inner_text())
    assert payload["variables"] == {"due": {"value": "2031-05-01T10:00:00.000+0000", "type": "Date"}}
    shot(page, "set-variables-payload")
