"""The wizard walked in a real browser for each operation, watched to completion on a real q2 cluster."""
import json
import re

import pytest
from playwright.sync_api import Page, expect

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations.instance_modification import SUSPENDED_WILL_FAIL
from cockpit.confirmation import DRIFT, TYPED_WRONG
from engine.models import HistoricProcessInstance, Job, ProcessInstance
from engine.services.lifecycle import instances_delete, instances_set_suspended
from engine.services.modification import instance_modify
from engine.services.runtime import task_complete
from tests.browser.conftest import click_next, shot
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster


def choose_operation(page: Page, key: str) -> None:
    page.goto("/cockpit/batch/operation")
    page.select_option("#op", key)
    expect(page.locator("#notice")).to_be_visible()


def go_next_and_execute(page: Page, name: str, summary: str) -> str:
    expect(page.locator("#next")).to_be_enabled()
    shot(page, f"{name}-1-define")
    click_next(page)
    expect(page.locator("#summary")).to_contain_text(summary)
    page.click("#rest-details summary")
    expect(page.locator("#rest-payload")).to_be_visible()
    shot(page, f"{name}-2-confirm")
    page.click("#execute")
    expect(page.locator("#batch-id")).to_be_visible()
    shot(page, f"{name}-3-result")
    batch_id = page.locator("#batch-id").inner_text()
    page.click("#monitor-link")
    expect(page.locator("#final-state")).to_have_text("completed", timeout=90_000)
    shot(page, f"{name}-4-monitor")
    return batch_id


def finished(definition):
    instance = start(definition)
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}])
    return instance


def test_cancel_running_instances_by_query(page, cluster):
    cluster(workers=2)
    definition = deploy(key="walk")
    ids = [start(definition, business_key=f"W-{i}").id for i in range(5)]
    choose_operation(page, "cancel")
    page.select_option("#key", "walk")
    page.fill("#deleteReason", "cleanup via wizard")
    expect(page.locator("#match-count")).to_have_text("5")
    go_next_and_execute(page, "cancel", "You are about to cancel 5 instances")
    states = set(HistoricProcessInstance.objects.filter(id__in=ids).values_list("state", "delete_reason"))
    assert states == {("EXTERNALLY_TERMINATED", "cleanup via wizard")}


def test_delete_history_of_selected_instances(page, cluster):
    cluster(workers=2)
    definition = deploy(key="hist")
    done = [finished(definition) for _ in range(3)]
    start(definition)  # running: not offered
    choose_operation(page, "delete-history")
    expect(page.locator("#match-count")).to_have_text("3")
    page.check("input[name=select][value=ids]")
    page.check(f"input[name=id][value='{done[0].id}']")
    page.check(f"input[name=id][value='{done[1].id}']")
    expect(page.locator("#selected-count")).to_have_text("2")
    go_next_and_execute(page, "delete-history", "You are about to delete the history of 2 instances")
    assert list(HistoricProcessInstance.objects.filter(id__in=[d.id for d in done]).values_list("id", flat=True)) == [done[2].id]


def test_set_retries_of_failed_jobs(page, cluster):
    cluster(workers=2)
    definition = deploy(key="retry")
    instance = start(definition, fail=True)
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}, {"type": "startBeforeActivity", "activityId": "service"}])
    Job.objects.filter(process_instance_id=instance.id).update(retries=0)
    choose_operation(page, "retries")
    page.select_option("#key", "retry")
    page.fill("#retries", "0")
    page.fill("#dueDate", "2031-05-01T10:00")
    go_next_and_execute(page, "retries", "You are about to set the retries of 1 job (of 1 instance)")
    assert Job.objects.get(process_instance_id=instance.id).due_date.year == 2031


def test_modify_instances_of_a_version(page, cluster):
    cluster(workers=2)
    definition = deploy(key="move")
    ids = [start(definition).id for _ in range(3)]
    choose_operation(page, "modify")
    expect(page.locator("#error-version")).to_contain_text("Choose the process definition version")
    page.select_option("#version", definition.id)
    expect(page.locator("#error-version")).to_be_empty()  # the form body was re-rendered for this version
    expect(page.locator("select[name=ins_id] option[value=service]").first).to_be_attached()
    page.locator("select[name=ins_type]").nth(0).select_option("cancel")
    page.locator("select[name=ins_id]").nth(0).select_option("task")
    page.locator("select[name=ins_type]").nth(1).select_option("startBeforeActivity")
    page.locator("select[name=ins_id]").nth(1).select_option("service")
    page.fill("#annotation", "skip the user task")
    expect(page.locator("#match-count")).to_have_text("3")
    go_next_and_execute(page, "modify", "You are about to modify 3 instances")
    assert not ProcessInstance.objects.filter(id__in=ids, tokens__activity_id="task").exists()


def test_suspend_instances(page, cluster):
    cluster(workers=2)
    definition = deploy(key="pause")
    ids = [start(definition).id for _ in range(4)]
    choose_operation(page, "suspend")
    page.select_option("#key", "pause")
    expect(page.locator("#next")).to_be_disabled()
    expect(page.locator("#error-suspended")).to_have_text("Choose whether to suspend or to activate.")
    page.check("input[name=suspended][value=true]")
    go_next_and_execute(page, "suspend", "You are about to change the suspension state of 4 instances")
    assert set(ProcessInstance.objects.filter(id__in=ids).values_list("suspended", flat=True)) == {True}


def test_validation_keeps_next_disabled_and_back_keeps_every_entry(page, live_server):
    definition = deploy(key="valid")
    instance = start(definition)
    task_complete(task_id=instance.tokens.get().id)  # a job to set the retries of
    choose_operation(page, "retries")
    page.select_option("#key", "valid")
    expect(page.locator("#next")).to_be_disabled()
    page.fill("#retries", "-1")
    expect(page.locator("#error-retries")).to_contain_text("must be a non-negative Integer, but '-1' has been provided")
    expect(page.locator("#next")).to_be_disabled()
    shot(page, "validation-error")
    page.fill("#retries", "4")
    expect(page.locator("#error-retries")).to_be_empty()
    click_next(page)
    expect(page.locator("#summary")).to_contain_text("1 instance")
    page.reload()  # every step survives a reload
    expect(page.locator("#summary")).to_contain_text("1 instance")
    page.click("#back")
    expect(page.locator("#op")).to_have_value("retries")
    expect(page.locator("#key")).to_have_value("valid")
    expect(page.locator("#retries")).to_have_value("4")


def test_double_clicking_execute_creates_one_batch(page, live_server):
    definition = deploy(key="twice")
    start(definition)
    page.goto("/cockpit/batch/operation/confirm?op=suspend&key=twice&suspended=true")
    page.dblclick("#execute")
    expect(page.locator("#batch-id")).to_be_visible()
    page.wait_for_timeout(500)
    assert Batch.objects.count() == 1 and HistoricBatch.objects.count() == 1


def test_a_business_key_with_a_script_tag_shows_as_text(page, live_server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    start(deploy(key="xss"), business_key="<script>alert('x')</script>")
    page.goto("/cockpit/batch/operation?op=cancel&key=xss")
    expect(page.locator("td.bk").first).to_have_text("<script>alert('x')</script>")
    assert dialogs == []


def test_the_page_works_without_javascript(browser, live_server, admin_user):
    from tests.browser.conftest import login

    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    tab = context.new_page()
    login(tab, admin_user.username)
    start(deploy(key="nojs"))
    tab.goto("/cockpit/batch/operation?op=suspend")
    tab.check("input[name=suspended][value=true]")
    tab.select_option("#key", "nojs")
    tab.click("button:has-text('Update search')")  # without JavaScript the form is sent with a button
    click_next(tab)
    assert re.search(r"You are about to .* 1 instance", tab.locator("#summary").inner_text())
    tab.click("#execute")
    assert tab.locator("#batch-id").is_visible()
    context.close()


def test_a_selection_that_changed_is_shown_and_needs_a_second_confirmation(page, live_server):
    definition = deploy(key="moving")
    ids = [start(definition, business_key=f"M-{i}").id for i in range(3)]
    choose_operation(page, "cancel")
    page.select_option("#key", "moving")
    expect(page.locator("#match-count")).to_have_text("3")
    click_next(page)
    expect(page.locator("#summary")).to_have_text("You are about to cancel 3 instances.")
    late = start(definition, business_key="M-late").id  # meanwhile, one instance starts and one ends
    instances_delete(instance_ids=[ids[0]], delete_reason=None)
    page.click("#execute")
    expect(page.locator("#drift")).to_contain_text(DRIFT.format(confirmed=3, now=3, added=1, removed=1))
    expect(page.locator("#summary")).to_have_text("You are about to cancel 3 instances.")
    shot(page, "drift-confirm")
    assert not Batch.objects.exists()
    page.click("#execute")
    expect(page.locator("#batch-id")).to_be_visible()
    assert set(BatchItem.objects.values_list("target_id", flat=True)) == {ids[1], ids[2], late}


def test_the_confirm_page_says_which_instances_will_fail(page, live_server):
    definition = deploy(key="stuck")
    ids = [start(definition).id for _ in range(3)]
    instances_set_suspended(instance_ids=ids[:1], suspended=True)
    choose_operation(page, "modify")
    page.select_option("#version", definition.id)
    expect(page.locator("select[name=ins_id] option[value=task]").first).to_be_attached()  # the body re-rendered
    page.locator("select[name=ins_type]").nth(0).select_option("cancel")
    page.locator("select[name=ins_id]").nth(0).select_option("task")
    expect(page.locator("#match-count")).to_have_text("3")
    click_next(page)
    expect(page.locator("#summary")).to_have_text(f"You are about to modify 3 instances; 1 {SUSPENDED_WILL_FAIL[0]}.")
    shot(page, "eligibility-confirm")


def test_a_large_cancellation_asks_for_the_number_of_instances(page, live_server, settings):
    settings.BATCH_TYPED_CONFIRMATION_THRESHOLD = 2
    definition = deploy(key="many")
    for _ in range(3):
        start(definition)
    page.goto("/cockpit/batch/operation/confirm?op=cancel&key=many")
    expect(page.locator("label[for=typed_count]")).to_contain_text("(3)")
    page.fill("#typed_count", "2")
    page.click("#execute")
    expect(page.locator("#error-typed_count")).to_have_text(TYPED_WRONG.format(units="instances", count="3"))
    shot(page, "typed-confirmation-error")
    assert not Batch.objects.exists()
    page.fill("#typed_count", "3")
    page.click("#execute")
    expect(page.locator("#batch-id")).to_be_visible()
    assert Batch.objects.get().total_items == 3


def test_the_variable_filter_narrows_the_live_count(page, live_server):
    definition = deploy(key="amounts")
    for amount in (500, 5000, 7000):
        start(definition, amount=amount)
    choose_operation(page, "cancel")
    page.select_option("#key", "amounts")
    expect(page.locator("#match-count")).to_have_text("3")
    page.fill("#var-name-1", "amount")
    page.select_option("#var-op-1", "gt")
    page.fill("#var-value-1", "1000")
    expect(page.locator("#match-count")).to_have_text("2")
    page.select_option("#var-op-1", "like")
    expect(page.locator("#error-variables")).to_have_text("Only string values can be used with 'like' condition")
    expect(page.locator("#next")).to_be_disabled()
    page.select_option("#var-op-1", "lteq")
    expect(page.locator("#match-count")).to_have_text("1")
    expect(page.locator("#error-variables")).to_be_empty()
    shot(page, "variable-filter")
    click_next(page)
    expect(page.locator("#summary")).to_have_text("You are about to cancel 1 instance.")


def test_restart_finished_instances_from_an_activity(page, cluster):
    cluster(workers=2)
    definition = deploy(key="again")
    done = [finished_with_key(definition, f"R-{i}") for i in range(3)]
    choose_operation(page, "restart")
    expect(page.locator("#error-version")).to_contain_text("Choose the process definition version to restart")
    page.select_option("#version", definition.id)
    expect(page.locator("select[name=ins_id] option[value=service]").first).to_be_attached()  # the body re-rendered
    expect(page.locator("select[name=ins_type] option[value=cancel]")).to_have_count(0)  # start instructions only
    page.locator("select[name=ins_type]").nth(0).select_option("startBeforeActivity")
    page.locator("select[name=ins_id]").nth(0).select_option("task")
    page.check("input[name=withoutBusinessKey]")
    expect(page.locator("#match-count")).to_have_text("3")
    expect(page.locator("#next")).to_be_enabled()
    shot(page, "restart-1-define")
    click_next(page)
    expect(page.locator("#summary")).to_contain_text("You are about to restart 3 instances")
    page.click("#rest-details summary")
    expect(page.locator("#rest-endpoint")).to_have_text(f"POST /engine-rest/process-definition/{definition.id}/restart-async")
    body = json.loads(page.locator("#rest-payload").inner_text())
    assert "processDefinitionId" not in body and body["withoutBusinessKey"] is True  # it travels in the path
    shot(page, "restart-2-confirm")
    page.click("#execute")
    expect(page.locator("#batch-id")).to_be_visible()
    page.click("#monitor-link")
    expect(page.locator("#final-state")).to_have_text("completed", timeout=90_000)
    shot(page, "restart-3-monitor")
    restarted = ProcessInstance.objects.filter(process_definition_id=definition.id)
    assert restarted.count() == 3 and set(restarted.values_list("business_key", flat=True)) == {None}
    assert HistoricProcessInstance.objects.filter(id__in=[d.id for d in done], end_time__isnull=False).count() == 3


def finished_with_key(definition, business_key):
    instance = start(definition, business_key=business_key)
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}])
    return instance
