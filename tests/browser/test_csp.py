"""Every page runs under the Content-Security-Policy without a single violation (vendored bpmn-js and htmx included)."""
import pytest
from playwright.sync_api import expect

from batches.operations import ENDPOINTS
from batches.services import batch_create
from tests.browser.test_definition_page import invoice  # noqa: F401 (fixture)
from tests.support.factories import run_jobs

# Recorded in the page before any of its scripts run; the policy cannot block this init script.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture
def watched(page):
    console = []
    page.context.add_init_script(LISTEN)
    page.on("console", lambda message: console.append(message.text) if "Content Security Policy" in message.text else None)
    return page, console


def violations(tab) -> list[str]:
    return tab.evaluate("window.__cspViolations || []")


def test_every_page_works_under_the_policy(watched, invoice, admin_user):  # noqa: F811
    tab, console = watched
    definition, _, failing = invoice
    batch = batch_create(operation=ENDPOINTS["process-instance/delete"],
                         payload={"processInstanceIds": [failing.id], "deleteReason": "csp"}, user=admin_user)
    run_jobs()
    response = tab.goto("/")
    header = response.headers["content-security-policy"]
    assert "script-src 'self'" in header and "unsafe-inline" not in header.split("script-src", 1)[1].split(";", 1)[0]
    seen = {}
    for url, ready in [
        ("/", "main"),
        ("/cockpit/process-definition", "main table"),
        (f"/cockpit/process-definition/{definition.id}", "#diagram.ready svg"),
        (f"/cockpit/process-instance/{failing.id}", "#diagram.ready svg"),
        ("/cockpit/batch", "main table"),
        (f"/cockpit/batch/{batch.id}", "main"),
        (f"/cockpit/migration?source={definition.id}", "main"),
        ("/admin/", "#content"),
        ("/admin/batches/historicbatch/", "#result_list"),
    ]:
        tab.goto(url)
        expect(tab.locator(ready).first).to_be_visible()
        seen[url] = violations(tab)
    # The wizard's htmx: choosing an operation re-renders the form, typing searches live.
    tab.goto("/cockpit/batch/operation")
    tab.select_option("#op", "cancel")
    expect(tab.locator("#key")).to_be_visible()
    tab.select_option("#key", "invoice")
    tab.fill("#deleteReason", "checking the policy")
    expect(tab.locator("table.matches tbody tr code").first).to_be_visible()
    seen["wizard"] = violations(tab)
    assert {url: found for url, found in seen.items() if found} == {}
    assert console == []
    # The policy bites: an injected inline script is blocked, and the listener sees it.
    tab.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1"; document.body.append(s); }""")
    tab.wait_for_function("window.__cspViolations.length > 0")
    assert tab.evaluate("window.__ran") is None and "script-src" in violations(tab)[0]
