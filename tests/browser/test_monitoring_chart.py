"""The monitoring page in a real browser: the uPlot progress chart and sparklines under the CSP, sorting by
clicking headers, and action buttons that follow the batch's live state."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from batches.models import BatchProgressSample, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create, batch_set_suspended
from tests.browser.conftest import shot
from tests.browser.test_csp import LISTEN
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.cluster


def create(user, instances: int, key: str = "chart"):
    definition = deploy(key=key)
    ids = [start(definition).id for _ in range(instances)]
    return batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": ids}, user=user)


def recorded_history(batch, total: int, seconds: int = 20) -> None:
    """Samples as a throttled batch would leave them: 1 item/s, then a stall, then 3 items/s."""
    historic = HistoricBatch.objects.get(id=batch.id)
    start_at = timezone.now() - timedelta(seconds=seconds + 1)
    done = 0
    for second in range(seconds):
        BatchProgressSample.objects.create(batch=historic, at=start_at + timedelta(seconds=second), done=done, remaining=total - done)
        done = min(done + (1 if second < 8 else 0 if second < 12 else 3), total // 2)


def watch_csp(page) -> list[str]:
    console: list[str] = []
    page.context.add_init_script(LISTEN)
    page.on("console", lambda message: console.append(message.text) if "Content Security Policy" in message.text else None)
    return console


def test_the_details_chart_is_drawn_and_the_buttons_follow_the_batch(page, cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=5, invocations=2)
    console = watch_csp(page)
    batch = create(admin_user, 40)
    batch_set_suspended(batch=batch, suspended=True, user_id="alice")
    recorded_history(batch, 40)
    page.goto(f"/cockpit/batch/{batch.id}")
    chart = page.locator("#progress-chart")
    expect(chart.locator("canvas")).to_be_visible()
    expect(chart).to_have_attribute("data-points", "20")
    box = chart.locator("canvas").bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    expect(chart.locator(".u-legend")).to_contain_text("items/s")
    expect(page.locator("#eta")).to_have_text("suspended")
    expect(page.locator("#activate")).to_be_visible()
    expect(page.locator("#throttle-form")).to_be_visible()
    shot(page, "monitoring-chart-details")
    # activated elsewhere: the 2 s refresh turns the button into Suspend, the chart stays drawn
    batch_set_suspended(batch=batch, suspended=False, user_id="someone-else")
    expect(page.locator("#suspend")).to_be_visible(timeout=10_000)
    expect(page.locator("#activate")).to_have_count(0)
    expect(chart.locator("canvas")).to_have_count(1)
    cluster(workers=2)
    expect(page.locator("#final-state")).to_have_text("completed", timeout=60_000)
    for button in ("#suspend", "#activate", "#retry-all", "#delete-batch", "#throttle-form"):
        expect(page.locator(button)).to_have_count(0)
    expect(page.locator("#delete-history")).to_be_visible()
    expect(chart).to_have_attribute("data-running", "false", timeout=15_000)
    assert int(chart.get_attribute("data-points")) > 20  # the workers' samples and the final one
    expect(chart.locator("canvas")).to_have_count(1)
    shot(page, "monitoring-chart-completed")
    assert page.evaluate("window.__cspViolations") == [] and console == []


def test_sorting_by_clicking_headers_and_a_sparkline_per_running_batch(page, admin_user):
    console = watch_csp(page)
    ended = []
    for n in range(3):
        ended.append(create(admin_user, 1, key=f"sorted{n}").id)
        run_jobs()
    running = create(admin_user, 6, key="sparkling")
    batch_set_suspended(batch=running, suspended=True, user_id="alice")
    recorded_history(running, 6, seconds=30)
    page.goto("/cockpit/batch")
    expect(page.locator(f'#running tr[data-batch-id="{running.id}"] .sparkline canvas')).to_be_visible()
    rows = page.locator("#ended tbody tr[data-batch-id]")
    page.click('#ended th a[data-sort="id"]')
    expect(page).to_have_url(re.compile(r"ended_sort=id"))
    expect(page.locator('#ended th[aria-sort="ascending"]')).to_have_text("Id")
    assert [rows.nth(i).get_attribute("data-batch-id") for i in range(3)] == sorted(ended)
    page.click('#ended th a[data-sort="id"]')
    expect(page).to_have_url(re.compile(r"ended_sort=-id"))
    assert [rows.nth(i).get_attribute("data-batch-id") for i in range(3)] == sorted(ended, reverse=True)
    # filtering keeps the order; so does the running table's own sort
    page.click('#running th a[data-sort="type"]')
    expect(page).to_have_url(re.compile(r"sort=type"))
    page.select_option("#failures", "without")
    page.click(".filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"ended_sort=-id"))
    expect(page).to_have_url(re.compile(r"[?&]sort=type"))
    assert [rows.nth(i).get_attribute("data-batch-id") for i in range(3)] == sorted(ended, reverse=True)
    expect(page.locator('#running tr[data-batch-id] .sparkline canvas')).to_be_visible()
    shot(page, "monitoring-list-sorted")
    assert page.evaluate("window.__cspViolations") == [] and console == []


def test_the_confirm_steps_payload_toggle_is_an_eye_button_whose_words_follow_it(page):
    from tests.browser.conftest import click_next

    definition = deploy(key="eyes")
    for _ in range(2):
        start(definition)
    page.goto("/cockpit/batch/operation")
    page.select_option("#op", "suspend")
    expect(page.locator("#notice")).to_be_visible()
    page.select_option("#key", "eyes")
    page.check("input[name=suspended][value=true]")
    expect(page.locator("#next")).to_be_enabled()
    click_next(page)
    toggle = page.locator("#rest-details summary.eye-toggle")
    expect(toggle.locator(".eye")).to_be_visible()
    closed, opened = toggle.locator(".when-closed"), toggle.locator(".when-open")
    expect(closed).to_have_text("Show REST endpoint and payload")
    expect(closed).to_be_visible()
    expect(opened).to_be_hidden()
    expect(page.locator("#rest-payload")).to_be_hidden()
    toggle.click()
    expect(page.locator("#rest-payload")).to_be_visible()
    expect(opened).to_have_text("Hide REST endpoint and payload")
    expect(opened).to_be_visible()
    expect(closed).to_be_hidden()
    shot(page, "wizard-confirm-eye-open")
    toggle.click()
    expect(closed).to_be_visible()
    expect(opened).to_be_hidden()
