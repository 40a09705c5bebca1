"""The confirmed set is the executed set: frozen selections, drift, eligibility, typed confirmation."""
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations import ENDPOINTS
from batches.operations.base import NOT_RUNNING_SKIPPED
from batches.operations.historic_instance_deletion import STILL_RUNNING
from batches.operations.instance_modification import OTHER_VERSION, SUSPENDED_WILL_FAIL
from batches.operations.set_job_retries import NO_JOB
from batches.operations.suspension import ALREADY_SUSPENDED
from cockpit.confirmation import CONFIRMATION_GONE, DRIFT, TYPED_WRONG, selections_expire
from cockpit.models import ConfirmedSelection, ConfirmedTarget, WizardSubmission
from cockpit.wizard import NO_JOBS
from engine.models import Job
from engine.services.lifecycle import instances_delete, instances_set_suspended
from engine.services.modification import instance_modify
from engine.services.runtime import task_complete
from tests.conftest import make_user
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db
CONFIRM = "/cockpit/batch/operation/confirm"
EXECUTE = "/cockpit/batch/operation/execute"


def confirm(client, **params):
    response = client.get(f"{CONFIRM}?{urlencode(params, doseq=True)}")
    assert response.status_code == 200, response.get("Location")
    return response


def execute(client, page, **extra):
    return client.post(EXECUTE, {"token": page.context["token"], "params": page.context["query_string"], **extra})


def summary(page) -> str:
    return page.content.decode().split('id="summary">')[1].split("</p>")[0]


def with_job(definition, **variables):
    instance = start(definition, **variables)
    task_complete(task_id=instance.tokens.get().id)
    return instance


def finished(definition):
    instance = start(definition)
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}])
    return instance


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_execute_creates_exactly_the_confirmed_items_and_consumes_the_selection(admin_client):
    definition = deploy(key="same")
    ids = {start(definition).id for _ in range(3)}
    page = confirm(admin_client, op="cancel", key="same")
    selection = ConfirmedSelection.objects.get(token=page.context["token"])
    assert selection.count == 3 and set(ConfirmedTarget.objects.values_list("target_id", flat=True)) == ids
    response = execute(admin_client, page)
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert set(BatchItem.objects.filter(batch_id=batch.id).values_list("target_id", flat=True)) == ids
    assert not ConfirmedSelection.objects.exists() and not ConfirmedTarget.objects.exists()


def test_an_instance_started_after_confirming_stops_execute_until_confirmed_again(admin_client):
    definition = deploy(key="drift")
    first = [start(definition).id for _ in range(2)]
    page = confirm(admin_client, op="cancel", key="drift")
    late = start(definition).id
    again = execute(admin_client, page)
    assert again.status_code == 200
    assert DRIFT.format(confirmed=2, now=3, added=1, removed=0) in again.content.decode()
    assert "You are about to cancel <strong>3</strong> instances." in summary(again)
    assert not Batch.objects.exists() and not HistoricBatch.objects.exists() and not BatchItem.objects.exists()
    assert not WizardSubmission.objects.exists()
    assert again.context["token"] != page.context["token"]
    assert execute(admin_client, page).status_code == 409  # the old token is spent
    assert execute(admin_client, again).status_code == 302
    assert set(BatchItem.objects.values_list("target_id", flat=True)) == {*first, late}


def test_an_instance_ended_after_confirming_is_drift_too(admin_client):
    definition = deploy(key="gone")
    ids = [start(definition).id for _ in range(3)]
    page = confirm(admin_client, op="suspend", key="gone", suspended="true")
    instances_delete(instance_ids=[ids[0]], delete_reason=None)
    again = execute(admin_client, page)
    assert DRIFT.format(confirmed=3, now=2, added=0, removed=1) in again.content.decode()
    assert not Batch.objects.exists()
    execute(admin_client, again)
    assert set(BatchItem.objects.values_list("target_id", flat=True)) == set(ids[1:])


def test_drift_to_no_jobs_at_all_offers_no_execute(admin_client):
    definition = deploy(key="vanish")
    only = with_job(definition)
    page = confirm(admin_client, op="retries", key="vanish", retries="1")
    instances_delete(instance_ids=[only.id], delete_reason=None)  # its job goes with it
    again = execute(admin_client, page)
    assert DRIFT.format(confirmed=1, now=0, added=0, removed=1) in again.content.decode()
    assert summary(again) == NO_JOBS and 'id="execute"' not in again.content.decode()
    assert not Batch.objects.exists()


def test_without_drift_the_batch_has_the_confirmed_jobs(admin_client):
    definition = deploy(key="jobs")
    instances = [with_job(definition), with_job(definition), start(definition)]
    page = confirm(admin_client, op="retries", key="jobs", retries="5")
    assert "You are about to set the retries of <strong>2</strong> jobs (of 3 instances)." in summary(page)
    execute(admin_client, page)
    jobs = set(Job.objects.filter(process_instance_id__in=[i.id for i in instances]).values_list("id", flat=True))
    assert set(BatchItem.objects.values_list("target_id", flat=True)) == jobs


def test_a_new_job_after_confirming_is_drift_in_jobs(admin_client):
    definition = deploy(key="morejobs")
    with_job(definition)
    waiting = start(definition)
    page = confirm(admin_client, op="retries", key="morejobs", retries="5")
    task_complete(task_id=waiting.tokens.get().id)  # a second job appears
    again = execute(admin_client, page)
    assert DRIFT.format(confirmed=1, now=2, added=1, removed=0) in again.content.decode()
    assert "<strong>2</strong> jobs (of 2 instances)" in summary(again)


def test_modification_says_which_instances_will_fail_or_be_skipped_and_they_do(admin_client):
    definition = deploy(key="modify")
    other = deploy(key="modify")  # version 2
    running = [start(definition) for _ in range(4)]
    instances_set_suspended(instance_ids=[running[0].id], suspended=True)
    done, newer = finished(definition), start(other)
    ids = [i.id for i in running] + [done.id, newer.id]
    page = confirm(
        admin_client, op="modify", version=definition.id, select="ids", id=ids,
        ins_type=["cancel", "startBeforeActivity"], ins_id=["task", "service"],
    )
    assert summary(page) == (
        f"You are about to modify <strong>6</strong> instances; <strong>1</strong> {SUSPENDED_WILL_FAIL[0]}; "
        f"<strong>1</strong> {OTHER_VERSION[0]}; <strong>1</strong> {NOT_RUNNING_SKIPPED[0]}."
    )
    execute(admin_client, page)
    run_jobs()
    items = dict(BatchItem.objects.values_list("target_id", "state"))
    assert items[running[0].id] == BatchItem.FAILED
    assert items[newer.id] == items[done.id] == BatchItem.SKIPPED
    assert [items[i.id] for i in running[1:]] == [BatchItem.SUCCEEDED] * 3


def test_the_eligibility_of_a_large_modification_reads_as_one_sentence(admin_client):
    definition = deploy(key="many")
    ids = [start(definition).id for _ in range(12)]
    instances_set_suspended(instance_ids=ids[:5], suspended=True)
    page = confirm(admin_client, op="modify", version=definition.id, ins_type="cancel", ins_id="task")
    assert summary(page) == (
        f"You are about to modify <strong>12</strong> instances; <strong>5</strong> {SUSPENDED_WILL_FAIL[1]}."
    )


def test_cancelling_names_the_selected_instances_that_do_not_run(admin_client):
    definition = deploy(key="cancel")
    running, done = start(definition), finished(definition)
    page = confirm(admin_client, op="cancel", select="ids", id=[running.id, done.id])
    assert summary(page) == (
        f"You are about to cancel <strong>2</strong> instances; <strong>1</strong> {NOT_RUNNING_SKIPPED[0]}."
    )


def test_suspending_names_the_instances_already_suspended(admin_client):
    definition = deploy(key="pause")
    ids = [start(definition).id for _ in range(3)]
    instances_set_suspended(instance_ids=ids[:2], suspended=True)
    page = confirm(admin_client, op="suspend", key="pause", suspended="true")
    assert summary(page) == (
        "You are about to change the suspension state of <strong>3</strong> instances; "
        f"<strong>2</strong> {ALREADY_SUSPENDED[1]}."
    )


def test_deleting_history_names_the_instances_still_running(admin_client):
    definition = deploy(key="history")
    done, running = finished(definition), start(definition)
    page = confirm(admin_client, op="delete-history", select="ids", id=[done.id, running.id])
    assert summary(page) == (
        f"You are about to delete the history of <strong>2</strong> instances; <strong>1</strong> {STILL_RUNNING[0]}."
    )
    execute(admin_client, page)
    run_jobs()
    items = dict(BatchItem.objects.values_list("target_id", "state"))
    assert items == {done.id: BatchItem.SUCCEEDED, running.id: BatchItem.SKIPPED}


def test_job_retries_name_the_jobs_that_are_gone(admin_user):
    definition = deploy(key="gonejobs")
    jobs = [Job.objects.get(process_instance_id=with_job(definition).id).id for _ in range(2)]
    operation = ENDPOINTS["job/retries"]
    selection = ConfirmedSelection.objects.create(token="t", user=admin_user, operation="retries", payload={})
    ConfirmedTarget.objects.bulk_create(ConfirmedTarget(selection=selection, target_id=i) for i in [*jobs, "gone"])
    data = operation.validate({"jobIds": jobs, "retries": 1})
    assert operation.eligibility(data, selection.targets(), admin_user) == [(NO_JOB[0], 1)]


def test_a_large_destructive_selection_asks_for_the_number_typed(admin_client, settings):
    settings.BATCH_TYPED_CONFIRMATION_THRESHOLD = 2
    definition = deploy(key="typed")
    for _ in range(3):
        start(definition)
    page = confirm(admin_client, op="cancel", key="typed")
    assert 'id="typed_count"' in page.content.decode()
    for typed in ("", "2", "three"):
        wrong = execute(admin_client, page, typed_count=typed)
        assert wrong.status_code == 200 and TYPED_WRONG.format(units="instances", count="3") in wrong.content.decode()
        assert wrong.context["token"] == page.context["token"]
    assert not Batch.objects.exists() and not WizardSubmission.objects.exists()
    assert execute(admin_client, page, typed_count=" 3 ").status_code == 302
    assert Batch.objects.get().total_items == 3


@pytest.mark.parametrize(
    ("params", "threshold"),
    [
        ({"op": "suspend", "key": "small", "suspended": "true"}, 2),  # not destructive
        ({"op": "cancel", "select": "ids"}, 2),  # every instance ticked by hand
        ({"op": "cancel", "key": "small"}, 3),  # not over the threshold
    ],
)
def test_no_number_is_asked_for_safe_hand_picked_or_small_selections(admin_client, settings, params, threshold):
    settings.BATCH_TYPED_CONFIRMATION_THRESHOLD = threshold
    definition = deploy(key="small")
    ids = [start(definition).id for _ in range(3)]
    page = confirm(admin_client, **params, **({"id": ids} if params.get("select") == "ids" else {}))
    assert 'id="typed_count"' not in page.content.decode()
    assert execute(admin_client, page).status_code == 302


def test_expired_selections_are_deleted_with_their_targets_when_a_new_one_is_made(admin_client, settings):
    definition = deploy(key="old")
    start(definition)
    stale = confirm(admin_client, op="cancel", key="old")
    ConfirmedSelection.objects.filter(token=stale.context["token"]).update(created=timezone.now() - timedelta(hours=25))
    assert execute(admin_client, stale).status_code == 409  # expired: nothing runs on it
    fresh = confirm(admin_client, op="cancel", key="old")
    assert list(ConfirmedSelection.objects.values_list("token", flat=True)) == [fresh.context["token"]]
    assert ConfirmedTarget.objects.count() == 1
    expired = timezone.now() - timedelta(hours=settings.WIZARD_CONFIRMATION_HOURS, seconds=1)
    ConfirmedSelection.objects.update(created=expired)
    assert selections_expire() == 1 and not ConfirmedTarget.objects.exists()


def test_a_selection_cannot_be_executed_by_another_user(admin_client):
    from django.test import Client

    start(deploy(key="mine"))
    page = confirm(admin_client, op="cancel", key="mine")
    intruder = Client()
    intruder.force_login(make_user("mallory", superuser=True))
    response = intruder.post(EXECUTE, {"token": page.context["token"]})
    assert response.status_code == 409 and CONFIRMATION_GONE in response.content.decode()
    assert not Batch.objects.exists() and not WizardSubmission.objects.exists()
    assert intruder.get(f"/cockpit/batch/operation/result/{page.context['token']}").status_code == 404
    assert execute(admin_client, page).status_code == 302 and Batch.objects.count() == 1


def test_support_staff_see_confirmed_selections_in_the_admin(admin_client):
    start(deploy(key="admin"))
    page = confirm(admin_client, op="cancel", key="admin")
    token = page.context["token"]
    assert token in admin_client.get("/admin/cockpit/confirmedselection/").content.decode()
    assert admin_client.get(f"/admin/cockpit/confirmedselection/{token}/change/").status_code == 200
    assert admin_client.get(f"/admin/cockpit/confirmedselection/{token}/delete/").status_code == 200
    admin_client.post(f"/admin/cockpit/confirmedselection/{token}/delete/", {"post": "yes"})
    assert not ConfirmedSelection.objects.exists() and not ConfirmedTarget.objects.exists()
    execute(admin_client, page)
    assert admin_client.get("/admin/cockpit/wizardsubmission/").status_code == 200
