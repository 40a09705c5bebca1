"""The process instance page in a real browser: its diagram marks this instance's tokens; a click leads to the definition's instances there."""
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_definition_page import badge, invoice  # noqa: F401 (fixture)


def test_the_instance_diagram_shows_its_own_tokens_and_links_to_the_definition(page, invoice):  # noqa: F811
    definition, _, failing = invoice
    page.goto(f"/cockpit/process-definition/{definition.id}")
    page.locator(f'#instances a[href="/cockpit/process-instance/{failing.id}"]').click()
    page.wait_for_url(f"**/cockpit/process-instance/{failing.id}")
    expect(page.locator("#diagram.ready svg[data-element-id=invoice]")).to_be_visible()
    expect(badge(page, "prepareBankTransfer", "tokens")).to_have_text("1")
    expect(badge(page, "prepareBankTransfer", "incidents")).to_have_text("1")
    expect(badge(page, "assignApprover", "tokens")).to_have_count(0)  # other instances' tokens are not this one's
    expect(page.locator("#incidents")).to_contain_text("failedJob")
    expect(page.locator("#variables")).to_contain_text("bankDown")
    shot(page, "instance-page")
    page.locator('#diagram .djs-element[data-element-id="prepareBankTransfer"]').click()
    page.wait_for_url(f"**/cockpit/process-definition/{definition.id}?activity=prepareBankTransfer")
    expect(page.locator("#activity-filter")).to_have_text("prepareBankTransfer")
