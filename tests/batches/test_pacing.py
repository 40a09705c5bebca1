"""Throttle and schedule of a batch: next_opening, paced execution jobs in process, the REST endpoints."""
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from batches.models import Batch, BatchItem, HistoricBatch
from batches.pacing import next_opening, throttle_reserve
from engine.models import Job, UserOperationLogEntry
from engine.query import format_date
from engine.services.jobs import jobs_wake_due
from tests.support.factories import deploy, run_jobs, start

R = "/engine-rest"
BERLIN = "Europe/Berlin"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- next_opening ------------------------------------------------------------------------------


def test_no_schedule_is_always_open():
    assert next_opening(utc(2026, 11, 25, 12)) is None


def test_not_before_in_the_future_is_the_opening():
    assert next_opening(utc(2026, 11, 25, 12), utc(2026, 11, 25, 22)) == utc(2026, 11, 25, 22)
    assert next_opening(utc(2026, 11, 25, 23), utc(2026, 11, 25, 22)) is None


def test_a_window_opens_today_or_tomorrow_at_its_start():
    window = (time(9), time(17), "UTC")
    assert next_opening(utc(2026, 11, 25, 8), None, *window) == utc(2026, 11, 25, 9)
    assert next_opening(utc(2026, 11, 25, 12), None, *window) is None
    assert next_opening(utc(2026, 11, 25, 17), None, *window) == utc(2026, 11, 26, 9)  # the end is excluded


def test_a_window_across_midnight_wraps():
    window = (time(22), time(5), "UTC")
    assert next_opening(utc(2026, 11, 25, 23), None, *window) is None
    assert next_opening(utc(2026, 11, 26, 3), None, *window) is None
    assert next_opening(utc(2026, 11, 26, 5), None, *window) == utc(2026, 11, 26, 22)
    assert next_opening(utc(2026, 11, 26, 12), None, *window) == utc(2026, 11, 26, 22)


def test_a_window_whose_start_equals_its_end_never_closes():
    assert next_opening(utc(2026, 11, 25, 3), None, time(4), time(4), "UTC") is None


def test_the_window_is_local_time_in_its_zone():
    # 22:00 in Berlin is 21:00 UTC in winter (CET, +01:00) and 20:00 UTC in summer (CEST, +02:00).
    assert next_opening(utc(2026, 11, 25, 12), None, time(22), time(5), BERLIN) == utc(2026, 11, 25, 21)
    assert next_opening(utc(2026, 7, 1, 12), None, time(22), time(5), BERLIN) == utc(2026, 7, 1, 20)


def test_the_opening_after_the_spring_forward_night_moves_by_the_new_offset():
    # Berlin springs forward on 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST.
    before, after = time(1), time(6)
    assert next_opening(utc(2026, 3, 28, 12), None, before, after, BERLIN) == utc(2026, 3, 29, 0)  # 01:00 CET
    assert next_opening(utc(2026, 3, 29, 12), None, before, after, BERLIN) == utc(2026, 3, 29, 23)  # 01:00 CEST


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clock_jumps():
    # 02:30 does not exist in Berlin on 2026-03-29: at 01:00 UTC the clock reads 03:00, inside 02:30-05:00.
    assert next_opening(utc(2026, 3, 28, 12), None, time(2, 30), time(5), BERLIN) == utc(2026, 3, 29, 1)


def test_a_window_entirely_in_the_skipped_hour_opens_the_next_day():
    assert next_opening(utc(2026, 3, 28, 12), None, time(2, 10), time(2, 50), BERLIN) == utc(2026, 3, 30, 0, 10)


def test_a_window_starting_in_the_repeated_hour_opens_at_its_first_occurrence():
    # Berlin falls back on 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET: 02:30 happens twice.
    assert next_opening(utc(2026, 10, 24, 12), None, time(2, 30), time(4), BERLIN) == utc(2026, 10, 25, 0, 30)


def test_not_before_and_window_combine():
    # Not before 2026-11-26 06:00 UTC, window 22:00-05:00 UTC: the first open instant is that evening.
    assert next_opening(utc(2026, 11, 25, 23), utc(2026, 11, 26, 6), time(22), time(5), "UTC") == utc(2026, 11, 26, 22)


# --- paced execution jobs, in process -------------------------------------------------------------


def paced_batch(create, batch_sizes, n: int, **options) -> Batch:
    batch_sizes(per_seed=10, invocations=n)
    definition = deploy()
    ids = [start(definition).id for _ in range(n)]
    return create("process-instance/suspended-async", {"processInstanceIds": ids, "suspended": True, **options})


def states(batch_id: str) -> dict[str, int]:
    rows = BatchItem.objects.filter(batch_id=batch_id).values_list("state", flat=True)
    return {state: list(rows).count(state) for state in BatchItem.STATES}


def execution_job(batch: Batch) -> Job:
    return Job.objects.get(job_definition_id=batch.batch_job_definition_id)


@pytest.mark.django_db(transaction=True)
def test_a_throttled_job_works_one_slice_then_waits_for_its_reserved_time(create, batch_sizes, settings):
    batch = paced_batch(create, batch_sizes, 7, maxItemsPerSecond=3)
    run_jobs()
    # The first slice waits its share of the rate too (3 items: 1 s), so N items take N / rate.
    job = execution_job(batch)
    assert states(batch.id)["SUCCEEDED"] == 0 and job.handler_configuration["reservedItems"] == 3
    assert job.due_date > timezone.now()
    make_reservations_due(batch)
    run_jobs()
    assert states(batch.id)["SUCCEEDED"] == 3
    job = execution_job(batch)
    assert job.handler_configuration["cursor"] == 3
    assert job.due_date > timezone.now()  # the next slice is reserved on the batch's timeline
    assert job.handler_configuration["reservedItems"] == 3
    batch.refresh_from_db()
    assert batch.throttle_next_at >= job.due_date


def make_reservations_due(batch: Batch) -> None:
    """What time does for a reserved slice: its reserved start and due date are now in the past."""
    past = timezone.now() - timedelta(milliseconds=10)
    for job in Job.objects.filter(job_definition_id=batch.batch_job_definition_id):
        config = {**job.handler_configuration, "reservedAt": format_date(past)}
        Job.objects.filter(id=job.id).update(handler_configuration=config, due_date=past)


@pytest.mark.django_db(transaction=True)
def test_a_throttled_job_finishes_its_range_slice_by_slice_and_ends_the_batch(create, batch_sizes):
    batch = paced_batch(create, batch_sizes, 7, maxItemsPerSecond=3)
    done = []
    while Batch.objects.filter(id=batch.id).exists() and len(done) < 6:
        run_jobs()
        done.append(states(batch.id)["SUCCEEDED"])
        make_reservations_due(batch)
    assert done == [0, 3, 6, 7]
    historic = HistoricBatch.objects.get(id=batch.id)
    assert historic.final_state == "completed" and historic.items_succeeded == 7


@pytest.mark.django_db(transaction=True)
def test_a_paced_job_with_a_failed_item_fails_at_the_end_of_its_range_and_its_retry_runs_only_that_item(create, batch_sizes):
    from engine.services.lifecycle import instances_set_suspended

    batch_sizes(per_seed=10, invocations=5)
    definition = deploy()
    good, stuck, other = start(definition), start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create("modification/executeAsync", {
        "processDefinitionId": definition.id,
        "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
        "processInstanceIds": [good.id, stuck.id, other.id],
        "maxItemsPerSecond": 2,  # slices of two: the failed item is in the first, the range ends in the second
    })
    run_jobs()  # reserves the first slice
    make_reservations_due(batch)
    run_jobs()
    assert states(batch.id) == {"PENDING": 1, "SUCCEEDED": 1, "SKIPPED": 0, "FAILED": 1}
    job = execution_job(batch)
    assert job.retries == 3 and job.handler_configuration["cursor"] == 2  # a slice with a failure is no job failure yet
    make_reservations_due(batch)
    run_jobs(limit=1)
    job = execution_job(batch)
    assert job.retries == 2 and "cursor" not in job.handler_configuration
    assert job.exception_message.startswith(f"1 of 3 items failed; first {stuck.id}: ")
    assert states(batch.id) == {"PENDING": 0, "SUCCEEDED": 2, "SKIPPED": 0, "FAILED": 1}
    instances_set_suspended(instance_ids=[stuck.id], suspended=False)
    Batch.objects.filter(id=batch.id).update(throttle_next_at=None)
    run_jobs()  # the retry reserves its slice
    make_reservations_due(batch)
    run_jobs()
    historic = HistoricBatch.objects.get(id=batch.id)
    assert historic.final_state == "completed" and historic.items_succeeded == 3


@pytest.mark.django_db(transaction=True)
def test_three_reservations_follow_each_other_at_the_rate(create, batch_sizes):
    batch = paced_batch(create, batch_sizes, 3, maxItemsPerSecond=4)
    now = timezone.now()
    with transaction.atomic():  # the caller (an execution job) holds a transaction
        starts = [throttle_reserve(batch_id=batch.id, now=now, at_most=100) for _ in range(3)]
    assert [items for _, items in starts] == [4, 4, 4]
    assert [start - now for start, _ in starts] == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=3)]


@pytest.mark.django_db(transaction=True)
def test_a_batch_outside_its_window_reschedules_to_the_opening_without_working(create, batch_sizes):
    opening = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    window = {"start": opening.strftime("%H:%M"), "end": (opening + timedelta(hours=1)).strftime("%H:%M"), "timeZone": "UTC"}
    batch = paced_batch(create, batch_sizes, 4, window=window)
    run_jobs()
    assert states(batch.id)["PENDING"] == 4
    assert execution_job(batch).due_date == opening


@pytest.mark.django_db(transaction=True)
def test_an_unpaced_batch_keeps_no_cursor(create, batch_sizes):
    batch = paced_batch(create, batch_sizes, 4)
    run_jobs()
    assert HistoricBatch.objects.get(id=batch.id).items_succeeded == 4


@pytest.mark.django_db(transaction=True)
def test_wake_due_wakes_jobs_that_became_due_once():
    past = timezone.now() - timedelta(seconds=5)

    def job(**fields) -> Job:
        return Job.objects.create(job_type="batch-monitor-job", create_time=past, retries=3, handler_configuration={"batchId": "none"}, **fields)

    never_woken = job(due_date=past)
    woken_before_due = job(due_date=past, enqueued_at=past - timedelta(seconds=1))
    woken_since = job(due_date=past - timedelta(seconds=1), enqueued_at=past)
    not_due = job(due_date=timezone.now() + timedelta(hours=1))
    long_due = job(due_date=timezone.now() - timedelta(minutes=5))  # the sweep's: beyond the horizon
    assert jobs_wake_due() == 2
    assert Job.objects.get(id=never_woken.id).enqueued_at > past
    assert Job.objects.get(id=woken_before_due.id).enqueued_at > past
    assert Job.objects.get(id=woken_since.id).enqueued_at == past
    assert Job.objects.get(id=not_due.id).enqueued_at is None
    assert Job.objects.get(id=long_due.id).enqueued_at is None
    assert jobs_wake_due() == 0  # each got its wake-up since it became due


# --- REST ----------------------------------------------------------------------------------------------


@pytest.fixture
def running(create, batch_sizes) -> Batch:
    return paced_batch(create, batch_sizes, 2)


def test_put_throttle_sets_the_rate_and_logs_it(api, running):
    response = api.put(f"{R}/batch/{running.id}/throttle", {"maxItemsPerSecond": 25}, format="json")
    assert response.status_code == 204, response.content
    running.refresh_from_db()
    assert running.max_items_per_second == 25.0
    entry = UserOperationLogEntry.objects.get(operation_type="SetBatchThrottle", batch_id=running.id)
    assert (entry.entity_type, entry.property, entry.new_value) == ("Batch", "maxItemsPerSecond", "25.0")


def test_put_throttle_null_removes_the_throttle(api, create, batch_sizes):
    batch = paced_batch(create, batch_sizes, 2, maxItemsPerSecond=5)
    assert api.put(f"{R}/batch/{batch.id}/throttle", {"maxItemsPerSecond": None}, format="json").status_code == 204
    batch.refresh_from_db()
    assert batch.max_items_per_second is None


@pytest.mark.parametrize(
    "body, field",
    [({"maxItemsPerSecond": 0}, "maxItemsPerSecond"), ({"maxItemsPerSecond": "fast"}, "maxItemsPerSecond"),
     ({"maxItemsPerSecond": True}, "maxItemsPerSecond"), ({}, "maxItemsPerSecond"), ({"rate": 3}, "rate")],
)
def test_put_throttle_refuses_bad_input_naming_the_field(api, running, body, field):
    response = api.put(f"{R}/batch/{running.id}/throttle", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")
    assert not UserOperationLogEntry.objects.filter(operation_type="SetBatchThrottle").exists()


def test_put_throttle_of_an_unknown_batch_is_404(api, db):
    response = api.put(f"{R}/batch/nope/throttle", {"maxItemsPerSecond": 3}, format="json")
    assert response.status_code == 404
    assert response.json()["message"] == "Batch with id 'nope' does not exist"


def test_put_throttle_needs_change_batch(viewer_api, running):
    assert viewer_api.put(f"{R}/batch/{running.id}/throttle", {"maxItemsPerSecond": 3}, format="json").status_code == 403
    running.refresh_from_db()
    assert running.max_items_per_second is None


def test_put_throttle_does_not_reach_another_tenants_batch(operator_api, running):
    # The running fixture's batch has no tenant; the operator (tenant-a) sees only tenant-a's and untenanted
    # rows, so an other tenant's batch is hidden the same way.
    Batch.objects.filter(id=running.id).update(tenant_id="tenant-b")
    assert operator_api.put(f"{R}/batch/{running.id}/throttle", {"maxItemsPerSecond": 3}, format="json").status_code == 404


def test_put_schedule_sets_not_before_and_window_and_logs_it(api, running):
    body = {"notBefore": "2030-01-01T22:00:00.000+0100", "window": {"start": "22:00", "end": "05:00", "timeZone": BERLIN}}
    assert api.put(f"{R}/batch/{running.id}/schedule", body, format="json").status_code == 204
    running.refresh_from_db()
    assert running.not_before == utc(2030, 1, 1, 21)
    assert (running.window_start, running.window_end, running.window_time_zone) == (time(22), time(5), BERLIN)
    properties = dict(UserOperationLogEntry.objects.filter(operation_type="SetBatchSchedule").values_list("property", "new_value"))
    assert properties == {"notBefore": "2030-01-01T21:00:00.000+0000", "window": "22:00-05:00 Europe/Berlin"}


def test_put_schedule_with_nulls_clears_it(api, create, batch_sizes):
    batch = paced_batch(create, batch_sizes, 2, window={"start": "01:00", "end": "02:00", "timeZone": "UTC"})
    assert api.put(f"{R}/batch/{batch.id}/schedule", {"notBefore": None, "window": None}, format="json").status_code == 204
    batch.refresh_from_db()
    assert (batch.not_before, batch.window_start, batch.window_end, batch.window_time_zone) == (None, None, None, None)


@pytest.mark.parametrize(
    "body, field",
    [({"notBefore": "tonight"}, "notBefore"), ({"window": "22-05"}, "window"),
     ({"window": {"start": "25:00", "end": "05:00"}}, "window.start"),
     ({"window": {"start": "22:00", "end": "5"}}, "window.end"),
     ({"window": {"start": "22:00", "end": "05:00", "timeZone": "Mars/Olympus"}}, "window.timeZone"),
     ({"when": "now"}, "when")],
)
def test_put_schedule_refuses_bad_input_naming_the_field(api, running, body, field):
    response = api.put(f"{R}/batch/{running.id}/schedule", body, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")


def test_put_schedule_of_an_unknown_batch_is_404_and_needs_permission(api, viewer_api, running):
    assert api.put(f"{R}/batch/nope/schedule", {"window": None}, format="json").status_code == 404
    assert viewer_api.put(f"{R}/batch/{running.id}/schedule", {"window": None}, format="json").status_code == 403


# --- the details page's throttle form (cockpit.views.pacing) ---------------------------------------------


def logged_in(user, *, csrf: bool = False):
    from django.test import Client

    from tests.conftest import PASSWORD

    client = Client(enforce_csrf_checks=csrf)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_page_form_sets_the_throttle_and_redirects(admin_user, running):
    response = logged_in(admin_user).post(f"/cockpit/batch/{running.id}/throttle", {"maxItemsPerSecond": "7.5"})
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.max_items_per_second == 7.5


@pytest.mark.parametrize("raw", ["fast", "0", "-3", "nan", "1e99"])
def test_the_page_form_refuses_bad_input_with_400_naming_the_field(admin_user, running, raw):
    response = logged_in(admin_user).post(f"/cockpit/batch/{running.id}/throttle", {"maxItemsPerSecond": raw})
    assert response.status_code == 400
    assert b"maxItemsPerSecond:" in response.content
    running.refresh_from_db()
    assert running.max_items_per_second is None


def test_the_page_form_needs_permission_csrf_and_a_known_batch(admin_user, viewer, running):
    assert logged_in(viewer).post(f"/cockpit/batch/{running.id}/throttle", {"maxItemsPerSecond": "3"}).status_code == 403
    assert logged_in(admin_user, csrf=True).post(f"/cockpit/batch/{running.id}/throttle", {"maxItemsPerSecond": "3"}).status_code == 403
    assert logged_in(admin_user).post("/cockpit/batch/nope/throttle", {"maxItemsPerSecond": "3"}).status_code == 404
    running.refresh_from_db()
    assert running.max_items_per_second is None


def test_the_details_page_escapes_and_shows_the_schedule(admin_user, create, batch_sizes):
    batch = paced_batch(create, batch_sizes, 2, notBefore="2099-01-01T00:00:00.000+0000")
    page = logged_in(admin_user).get(f"/cockpit/batch/{batch.id}").content.decode()
    assert 'id="pacing-paused"' in page and "Not before" in page and "2099-01-01 00:00 UTC" in page


def test_the_details_page_shows_the_eta_the_throttle_implies(admin_user, create, batch_sizes):
    batch = paced_batch(create, batch_sizes, 30, maxItemsPerSecond=0.5)  # 30 pending at 0.5/s: one minute
    page = logged_in(admin_user).get(f"/cockpit/batch/{batch.id}").content.decode()
    assert "at most 0.5 items/s · about 1 min 0 s left at this rate" in page
    assert 'id="pacing-paused"' not in page


def test_the_page_schedule_form_sets_and_clears_the_schedule(admin_user, running):
    form = {"notBefore": "2099-01-02T03:04", "windowStart": "22:00", "windowEnd": "05:00", "windowTimeZone": "Europe/Berlin"}
    response = logged_in(admin_user).post(f"/cockpit/batch/{running.id}/schedule", form)
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.not_before == datetime(2099, 1, 2, 3, 4, tzinfo=UTC)
    assert (running.window_start, running.window_end, running.window_time_zone) == (time(22), time(5), BERLIN)
    page = logged_in(admin_user).get(f"/cockpit/batch/{running.id}").content.decode()
    assert 'name="notBefore" value="2099-01-02T03:04"' in page and 'name="windowTimeZone" placeholder="UTC" value="Europe/Berlin"' in page
    entry = UserOperationLogEntry.objects.filter(batch_id=running.id, operation_type="SetBatchSchedule")
    assert entry.exists()
    empty = {"notBefore": "", "windowStart": "", "windowEnd": "", "windowTimeZone": ""}
    assert logged_in(admin_user).post(f"/cockpit/batch/{running.id}/schedule", empty).status_code == 302
    running.refresh_from_db()
    assert (running.not_before, running.window_start, running.window_time_zone) == (None, None, None)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"windowStart": "22:00", "windowEnd": "", "windowTimeZone": ""}, "window.end"),
        ({"windowStart": "22:00", "windowEnd": "05:00", "windowTimeZone": "Mars/Olympus"}, "window.timeZone"),
        ({"notBefore": "tomorrow"}, "Enter a date and time"),
    ],
)
def test_the_page_schedule_form_refuses_bad_input_naming_the_field(admin_user, running, form, named):
    response = logged_in(admin_user).post(f"/cockpit/batch/{running.id}/schedule", form)
    assert response.status_code == 400
    assert named in response.content.decode() and "Schedule not changed" in response.content.decode()
    running.refresh_from_db()
    assert running.window_start is None and running.not_before is None


def test_the_page_schedule_form_needs_permission_csrf_and_a_running_batch(admin_user, viewer, running):
    form = {"windowStart": "22:00", "windowEnd": "05:00"}
    assert logged_in(viewer).post(f"/cockpit/batch/{running.id}/schedule", form).status_code == 403
    assert logged_in(admin_user, csrf=True).post(f"/cockpit/batch/{running.id}/schedule", form).status_code == 403
    assert logged_in(admin_user).post("/cockpit/batch/nope/schedule", form).status_code == 404
    running.refresh_from_db()
    assert running.window_start is None
    run_jobs()  # the batch ends
    assert not Batch.objects.filter(id=running.id).exists()
    ended = logged_in(admin_user).post(f"/cockpit/batch/{running.id}/schedule", form, follow=True)
    assert "its pacing cannot change any more" in ended.content.decode()
