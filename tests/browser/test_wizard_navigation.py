"""Next on the wizard leaves the form even while a live search is still pending."""
import re
import time

from playwright.sync_api import Page, expect

from tests.support.factories import deploy, start


def test_next_reaches_the_confirm_step_while_a_live_search_is_pending(page: Page):
    """CI once saw Next "do nothing": the typed reason's delayed live search fired while the
    confirm page was still loading, pushed its URL into the history and so cancelled the
    navigation. Here the confirm page is slowed so that the live search always fires during it."""
    definition = deploy(key="walk")
    for i in range(3):
        start(definition, business_key=f"W-{i}")

    def slow_confirm(route):
        time.sleep(1.5)  # longer than the form's 500 ms live-search delay
        route.continue_()

    page.goto("/cockpit/batch/operation")
    page.select_option("#op", "cancel")
    expect(page.locator("#notice")).to_be_visible()
    page.select_option("#key", "walk")
    expect(page.locator("#match-count")).to_have_text("3")
    live = []
    page.on("request", lambda r: live.append(r.url) if r.headers.get("hx-request") else None)
    page.route("**/cockpit/batch/operation/confirm?**", slow_confirm)
    page.fill("#deleteReason", "typed just before Next")
    page.click("#next")
    expect(page.locator("#summary")).to_contain_text("You are about to cancel 3 instances", timeout=10_000)
    expect(page).to_have_url(re.compile(r"/cockpit/batch/operation/confirm\?"))
    assert any("deleteReason=typed" in url for url in live)  # the live search did fire meanwhile


def test_the_form_is_busy_until_the_live_search_answers_the_last_edit(page: Page):
    definition = deploy(key="walk")
    start(definition)
    page.goto("/cockpit/batch/operation")
    page.select_option("#op", "cancel")
    expect(page.locator("#notice")).to_be_visible()
    form = page.locator("#wizard-form")
    expect(form).not_to_have_attribute("aria-busy", "true")
    page.fill("#businessKey", "nothing-like-this")
    expect(form).to_have_attribute("aria-busy", "true")
    expect(form).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#match-count")).to_have_text("0")


def test_an_operation_chosen_before_the_scripts_loaded_still_updates_the_form(page: Page):
    """On a slow connection the operator picks the operation while htmx is still loading."""
    held = []
    page.route("**/*.js", lambda route: held.append(route))
    page.goto("/cockpit/batch/operation", wait_until="commit")
    page.wait_for_selector("#op", state="attached")
    page.select_option("#op", "cancel")
    assert held, "the page's scripts were requested"
    for route in held:
        route.continue_()
    page.unroute("**/*.js")
    expect(page.locator("#notice")).to_be_visible()
    expect(page.locator("#deleteReason")).to_be_visible()
