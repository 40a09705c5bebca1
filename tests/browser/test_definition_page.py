"""The process definition page in a real browser: the bpmn-js diagram, its badges, and the activity filter."""
from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.services.deployment import deployment_create
from engine.services.modification import instance_modify
from tests.browser.conftest import login, shot
from tests.support.factories import run_jobs, start

DEMO = Path(__file__).parents[2] / "engine" / "bpmn"


@pytest.fixture
def invoice(transactional_db):
    """Demo invoice v2: three instances wait in "Assign approver", two in "Approve invoice", one failed in the bank transfer."""
    _, [definition] = deployment_create(name="invoice", resources=[("invoice_v2.bpmn", (DEMO / "invoice_v2.bpmn").read_bytes())])
    for i in range(3):
        start(definition, business_key=f"INV-{i}")
    approving = [start(definition, business_key=f"INV-A{i}") for i in range(2)]
    failing = start(definition, business_key="INV-F", bankDown=True)
    for instance, target in [*((a, "approveInvoice") for a in approving), (failing, "prepareBankTransfer")]:
        instance_modify(instance_id=instance.id, instructions=[
            {"type": "startBeforeActivity", "activityId": target}, {"type": "cancel", "activityId": "assignApprover"},
        ])
    run_jobs()
    return definition, approving, failing


def element(page, activity_id: str):
    return page.locator(f'#diagram .djs-element[data-element-id="{activity_id}"]')


def badge(page, activity_id: str, kind: str):
    return page.locator(f'#diagram .djs-overlays[data-container-id="{activity_id}"] .count-badge.{kind}')


def test_the_diagram_shows_tokens_and_incidents_and_a_click_filters_the_instances(page, invoice):
    definition, approving, _ = invoice
    page.goto(f"/cockpit/process-definition/{definition.id}")
    expect(page.locator("#diagram.ready svg[data-element-id=invoice]")).to_be_visible()
    for activity_id in ("invoiceReceived", "assignApprover", "approved", "secondApproval", "invoiceRejected"):
        expect(element(page, activity_id)).to_be_visible()
    expect(badge(page, "assignApprover", "tokens")).to_have_text("3")
    expect(badge(page, "approveInvoice", "tokens")).to_have_text("2")
    expect(badge(page, "prepareBankTransfer", "tokens")).to_have_text("1")
    expect(badge(page, "prepareBankTransfer", "incidents")).to_have_text("1")
    expect(badge(page, "invoiceReceived", "tokens")).to_have_count(0)
    expect(page.locator("#diagram .bjs-powered-by")).to_be_visible()  # bpmn.io's license: the watermark stays
    expect(page.locator("#activity-table")).not_to_have_attribute("open", "")  # the diagram replaces the table
    shot(page, "definition-page")

    element(page, "approveInvoice").click()
    page.wait_for_url("**/cockpit/process-definition/*?activity=approveInvoice")
    expect(page.locator("#activity-filter")).to_have_text("approveInvoice")
    rows = page.locator("#instances tbody tr")
    expect(rows).to_have_count(2)
    for instance in approving:
        expect(page.locator("#instances")).to_contain_text(instance.id)
    expect(page.locator(".djs-element.selected-activity")).to_have_attribute("data-element-id", "approveInvoice")
    expect(page.locator("#batch-operation")).to_have_attribute("href", f"/cockpit/batch/operation?key=invoice&version={definition.id.replace(':', '%3A')}&activity=approveInvoice")
    shot(page, "definition-page-filtered")

    page.click("#clear-filter")
    expect(page.locator("#instances tbody tr")).to_have_count(6)


def test_the_page_works_without_javascript(browser, live_server, admin_user, invoice):
    definition, _, failing = invoice
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url, viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    login(tab, admin_user.username)
    tab.goto(f"/cockpit/process-definition/{definition.id}")
    expect(tab.locator("#diagram")).to_be_hidden()
    tab.click('#activities a[data-activity="prepareBankTransfer"]')
    expect(tab.locator("#instances tbody tr")).to_have_count(1)
    expect(tab.locator("#instances")).to_contain_text(failing.id)
    expect(tab.locator('#activities tr.selected td.incidents')).to_have_text("1")
    context.close()
