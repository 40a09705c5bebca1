"""Pacing of a running batch: its throttle (items per second, shared by every worker through the
Batch row) and its schedule (not before a time, inside a daily window), and the services that change them.

How a paced execution job works (batches.execution.run_execution_job): it works its range in
slices; before a slice it reserves time on the batch (throttle_reserve), and outside the schedule
it reschedules itself to next_opening without working. The supervisor's precise wake-ups
(engine.services.jobs.jobs_wake_due) run it again when its time comes.
"""
from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batches.models import Batch
from batches.options import window_json
from engine.models import Job
from engine.query import format_date
from engine.services.jobs import jobs_enqueue_on_commit
from engine.services.oplog import operation_log_write


# --- the schedule: pure time arithmetic ------------------------------------------------------


def in_window(instant: datetime, start: time, end: time, zone: zoneinfo.ZoneInfo) -> bool:
    """Whether the local time of instant lies in [start, end); start > end wraps midnight, start == end is always open."""
    if start == end:
        return True
    local = instant.astimezone(zone).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _local_instant(day, at: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """The first instant (UTC) at which the local clock reads `at` on day, or, if the clock skips it
    (a spring-forward gap), the instant the clock jumps past it."""
    naive = datetime.combine(day, at)
    early, late = sorted(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    if early.astimezone(zone).replace(tzinfo=None) == naive:
        return early  # exists (the first of two on a fall-back day)
    # In a gap: the local clock passes `at` somewhere in [early, late]; find the jump to the second.
    low, high = early, late
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def next_opening(
    now: datetime,
    not_before: datetime | None = None,
    window_start: time | None = None,
    window_end: time | None = None,
    time_zone: str | None = None,
) -> datetime | None:
    """None if a batch with this schedule may work at `now`; else the next instant (UTC) it may.

    DST-correct: the window is local wall-clock time in time_zone (UTC when not given).
    """
    at = max(now, not_before) if not_before is not None else now
    if window_start is None or window_end is None or window_start == window_end:
        return None if at <= now else at.astimezone(UTC)
    zone = zoneinfo.ZoneInfo(time_zone or "UTC")
    if in_window(at, window_start, window_end, zone):
        return None if at <= now else at.astimezone(UTC)
    day = at.astimezone(zone).date()
    for offset in range(3):  # a window that the clock skips entirely on one day opens the next
        candidate = _local_instant(day + timedelta(days=offset), window_start, zone)
        if candidate >= at and in_window(candidate, window_start, window_end, zone):
            return candidate
    raise AssertionError("a daily window opens within three days")  # not reached


def batch_opening(batch: Batch, now: datetime) -> datetime | None:
    return next_opening(now, batch.not_before, batch.window_start, batch.window_end, batch.window_time_zone)


def is_paced(batch: Batch) -> bool:
    """The one cheap check an execution job makes: fields already loaded, no query."""
    return batch.max_items_per_second is not None or batch.not_before is not None or batch.window_start is not None


# --- the throttle -----------------------------------------------------------------------------


def slice_seconds() -> float:
    return float(settings.BATCH.get("PACING_SLICE_SECONDS", 1.0))


def slice_size(rate: float) -> int:
    """Items per slice: about PACING_SLICE_SECONDS of the rate, at least one."""
    return max(1, int(rate * slice_seconds()))


def throttle_reserve(*, batch_id: str, now: datetime, at_most: int) -> tuple[datetime, int] | None:
    """Reserve the next slice of the batch's rate; return (when it may start, how many items), or
    None when the batch is not throttled (any more).

    Under the Batch row lock (the caller holds its job row: batches.execution._lock_batch's order),
    so all workers on all nodes share one timeline: a slice of k items takes the next k / rate
    seconds of it, from max(now, throttle_next_at), and starts when they have passed. So by any
    moment t no more than rate × (t − the first reservation) items have run: the first slice waits
    its share too, and a batch of N items takes at least N / rate seconds.
    """
    batch = Batch.objects.select_for_update().filter(id=batch_id).only("max_items_per_second", "throttle_next_at").first()
    if batch is None or batch.max_items_per_second is None:
        return None
    rate = batch.max_items_per_second
    items = max(1, min(slice_size(rate), at_most))
    start = max(now, batch.throttle_next_at or now) + timedelta(seconds=items / rate)
    Batch.objects.filter(id=batch_id).update(throttle_next_at=start)
    return start, items


# --- services: change the pacing of a running batch --------------------------------------------


def batch_set_throttle(*, batch: Batch, max_items_per_second: float | None, user_id: str | None) -> None:
    """Set (or, with None, remove) the throttle; waiting execution jobs re-plan at once with the new rate."""
    with transaction.atomic():
        _wake_waiting_jobs(batch)
        locked = Batch.objects.select_for_update().filter(id=batch.id).first()
        if locked is None:
            return
        old = locked.max_items_per_second
        Batch.objects.filter(id=batch.id).update(max_items_per_second=max_items_per_second, throttle_next_at=None)
        operation_log_write(
            user_id=user_id,
            operation_type="SetBatchThrottle",
            entity_type="Batch",
            properties={"maxItemsPerSecond": (old, max_items_per_second)},
            batch_id=batch.id,
            tenant_id=batch.tenant_id,
        )


def batch_set_schedule(
    *, batch: Batch, not_before: datetime | None, window: tuple[time | None, time | None, str | None], user_id: str | None
) -> None:
    """Set the not-before time and the daily window (None: none); paused jobs look again at once."""
    start, end, zone = window
    with transaction.atomic():
        _wake_waiting_jobs(batch)
        locked = Batch.objects.select_for_update().filter(id=batch.id).first()
        if locked is None:
            return
        old_window = window_json(locked.window_start, locked.window_end, locked.window_time_zone)
        Batch.objects.filter(id=batch.id).update(
            not_before=not_before, window_start=start, window_end=end, window_time_zone=zone if start else None,
            throttle_next_at=None,
        )
        new_window = window_json(start, end, zone)
        operation_log_write(
            user_id=user_id,
            operation_type="SetBatchSchedule",
            entity_type="Batch",
            properties={
                "notBefore": (format_date(locked.not_before), format_date(not_before)),
                "window": (_window_text(old_window), _window_text(new_window)),
            },
            batch_id=batch.id,
            tenant_id=batch.tenant_id,
        )


def _window_text(window: dict | None) -> str | None:
    return f"{window['start']}-{window['end']} {window['timeZone']}" if window else None


def _wake_waiting_jobs(batch: Batch) -> None:
    """Make the batch's execution jobs that wait for a later time due now, so they re-plan.

    Job rows before the Batch row (the lock order); a running job's row is skipped: it reads the
    new pacing before its next slice anyway.
    """
    now = timezone.now()
    waiting = Job.objects.select_for_update(skip_locked=True).filter(
        job_definition_id=batch.batch_job_definition_id, due_date__gt=now
    )
    ids = list(waiting.order_by("id").values_list("id", flat=True))
    if ids:
        Job.objects.filter(id__in=ids).update(due_date=now, enqueued_at=None)
        jobs_enqueue_on_commit(list(Job.objects.filter(id__in=ids, suspended=False, retries__gt=0).values_list("id", flat=True)))


# --- what the details page shows ------------------------------------------------------------------


def pacing_state(batch: Batch | None, remaining_items: int, now: datetime | None = None) -> dict:
    """The throttle with the ETA it implies and, when paused by its schedule, until when."""
    if batch is None:
        return {}
    now = now or timezone.now()
    rate = batch.max_items_per_second
    opening = batch_opening(batch, now)
    waiting_for = None
    if opening is not None:
        waiting_for = "not-before" if batch.not_before and opening == batch.not_before.astimezone(UTC) else "window"
    return {
        "rate": rate,
        "eta_seconds": int(remaining_items / rate) if rate else None,
        "resumes_at": opening,
        "waiting_for": waiting_for,
        "window": window_json(batch.window_start, batch.window_end, batch.window_time_zone),
        "not_before": batch.not_before,
    }
