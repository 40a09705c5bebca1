"""The migration page in a real browser: generate, edit a row, the live report, then the wizard to monitoring."""
import pytest
from playwright.sync_api import Page, expect

from cockpit.migration import PLAN_INVALID, PLAN_VALID
from engine.models import ProcessInstance
from engine.services.migration import INCOMPATIBLE
from engine.services.runtime import task_complete
from tests.batches.test_migration import V1, V2
from tests.browser.conftest import click_next, shot
from tests.support.factories import deploy, start, tokens

pytestmark = pytest.mark.cluster


def choose_versions(page: Page, v1, v2) -> None:
    page.goto("/cockpit/migration")
    page.select_option("#source", v1.id)
    expect(page.locator("#target option")).to_have_count(2)  # the page reloaded with v1's other versions
    page.select_option("#target", v2.id)
    expect(page.locator("#mapping")).to_be_visible()
    expect(page.locator("#source-diagram.ready")).to_be_visible()
    expect(page.locator("#target-diagram.ready")).to_be_visible()


def test_generate_edit_validate_confirm_execute_and_monitor(page, cluster, settings):
    settings.MIGRATION_SYNC_THRESHOLD = 0  # always a batch here, to watch it on the monitoring page
    cluster(workers=2)
    v1, v2 = deploy(V1, key="mig"), deploy(V2, key="mig")
    both = [start(v1).id for _ in range(2)]  # tokens in "task" and "check"
    one = start(v1)
    task_complete(task_id=one.tokens.get(activity_id="check").id)  # tokens in "task" and (waiting) "join"
    choose_versions(page, v1, v2)
    expect(page.locator("#unmapped")).to_contain_text("check")
    shot(page, "migration-1-generated")
    page.click("#add-row")
    row = page.locator("#mapping tr.mapping-row").last
    row.locator("select[name=map_source]").select_option("check")
    row.locator("select[name=map_target]").select_option("service")
    incompatible = INCOMPATIBLE.format(source="UserTaskActivityBehavior", target="ClassDelegateActivityBehavior")
    expect(row.locator(".failures")).to_have_text(incompatible)
    expect(page.locator("#validation-summary")).to_have_text(PLAN_INVALID)
    shot(page, "migration-2-invalid-row")
    row.locator("select[name=map_target]").select_option("review")
    expect(page.locator("#validation-summary")).to_have_text(PLAN_VALID)
    expect(row.locator(".failures")).to_be_empty()
    expect(page.locator("#unmapped")).to_be_hidden()  # "check" is mapped now
    shot(page, "migration-3-valid")
    page.click("#next")
    expect(page.locator("#op")).to_have_value("migrate")
    expect(page.locator("#match-count")).to_have_text("3")
    expect(page.locator("#wizard-mapping")).to_contain_text("review")
    shot(page, "migration-4-wizard")
    click_next(page)
    expect(page.locator("#summary")).to_have_text("You are about to migrate 3 instances.")
    page.click("#rest-details summary")
    expect(page.locator("#rest-endpoint")).to_have_text("POST /engine-rest/migration/executeAsync")
    expect(page.locator("#rest-payload")).to_contain_text('"targetActivityIds": [\n          "review"')
    shot(page, "migration-5-confirm")
    page.click("#execute")
    expect(page.locator("#batch-id")).to_be_visible()
    page.click("#monitor-link")
    expect(page.locator("#final-state")).to_have_text("completed", timeout=90_000)
    shot(page, "migration-6-monitor")
    moved = ProcessInstance.objects.filter(id__in=[*both, one.id])
    assert set(moved.values_list("process_definition_id", flat=True)) == {v2.id}
    assert tokens(moved.get(id=both[0])) == ["review", "task"] and tokens(moved.get(id=one.id)) == ["join", "task"]


def test_the_page_works_without_javascript(browser, live_server, admin_user):
    from tests.browser.conftest import login

    v1, v2 = deploy(V1, key="mig"), deploy(V2, key="mig")
    start(v1)
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    tab = context.new_page()
    login(tab, admin_user.username)
    tab.goto("/cockpit/migration")
    tab.select_option("#source", v1.id)
    tab.click("#show-mapping")
    tab.select_option("#target", v2.id)
    tab.click("#show-mapping")
    expect(tab.locator("#source-activities")).to_be_visible()  # tables instead of diagrams
    row = tab.locator("#mapping tr.mapping-row").last  # the blank row for a new instruction
    row.locator("select[name=map_source]").select_option("check")
    row.locator("select[name=map_target]").select_option("service")
    tab.click("#validate")
    expect(tab.locator("#validation-summary")).to_have_text(PLAN_INVALID)
    shot(tab, "migration-nojs-invalid")
    tab.locator("#mapping tr.mapping-row.invalid select[name=map_target]").select_option("review")
    tab.click("#next")
    expect(tab.locator("#op")).to_have_value("migrate")
    tab.click("#next")
    expect(tab.locator("#summary")).to_contain_text("You are about to migrate 1 instance")
    tab.click("#execute")
    expect(tab.locator("#instance-count")).to_have_text("1")  # at or below MIGRATION_SYNC_THRESHOLD: at once
    assert ProcessInstance.objects.get().process_definition_id == v2.id
    context.close()
