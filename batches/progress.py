"""Progress samples of a batch (items done and remaining over time): the data behind the details page's chart."""
from __future__ import annotations

import json
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from batches.models import BatchProgressSample, HistoricBatch

# One sample per batch and second is plenty for a chart refreshed every few seconds, and keeps the
# table small: a million-item batch running an hour writes some 3,600 rows, not one per chunk.
SAMPLE_INTERVAL = timedelta(seconds=1)

# Per process, when this process last tried to sample a batch: skips even the conditional insert
# for the many chunks a worker finishes within one interval. The database check stays the rule.
_last_attempt: dict[str, float] = {}


def progress_sample_record(batch_id: str, *, force: bool = False) -> None:
    """Record the batch's done/remaining items from its counters, unless a sample is younger than
    SAMPLE_INTERVAL (force: the final sample when the batch ends). One set-based statement."""
    clock = time.monotonic()
    if not force and clock - _last_attempt.get(batch_id, float("-inf")) < SAMPLE_INTERVAL.total_seconds():
        return
    _last_attempt[batch_id] = clock
    if len(_last_attempt) > 1000:  # ended batches must not accumulate in a long-lived worker
        _last_attempt.clear()
    now = timezone.now()
    samples, batches = BatchProgressSample._meta.db_table, HistoricBatch._meta.db_table
    done = "COALESCE(h.items_succeeded, 0) + COALESCE(h.items_skipped, 0) + COALESCE(h.items_failed, 0)"
    at, stamp = connection.ops.quote_name("at"), connection.ops.adapt_datetimefield_value
    young = "" if force else f"AND NOT EXISTS (SELECT 1 FROM {samples} s WHERE s.batch_id = h.id AND s.{at} > %s)"
    params = [stamp(now), batch_id] + ([] if force else [stamp(now - SAMPLE_INTERVAL)])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {samples} (batch_id, {at}, done, remaining) "
            f"SELECT h.id, %s, {done}, CASE WHEN h.total_items > {done} THEN h.total_items - ({done}) ELSE 0 END "
            f"FROM {batches} h WHERE h.id = %s {young}",
            params,
        )


def progress_samples(historic: HistoricBatch, *, limit: int = 1500) -> list[dict]:
    """The batch's samples, oldest first, with the rate (items per second) since the previous point.
    A long batch keeps every n-th sample (and the last), so a ten-hour run still fits one chart."""
    samples = historic.samples.order_by("at", "id")
    step = max(1, -(-samples.count() // limit))
    rows = []
    last = None
    for index, row in enumerate(samples.values_list("at", "done", "remaining").iterator(chunk_size=5000)):
        if index % step == 0:
            rows.append(row)
        last = row
    if last is not None and rows[-1] is not last:
        rows.append(last)
    points: list[dict] = []
    previous = None
    for at, done, remaining in rows:
        rate = None
        if previous is not None:
            seconds = (at - previous[0]).total_seconds()
            rate = round(max(done - previous[1], 0) / seconds, 2) if seconds > 0 else None
        points.append({"t": round(at.timestamp(), 3), "done": done, "remaining": remaining, "rate": rate})
        previous = (at, done)
    return points


def progress_sparklines(batch_ids: list[str], *, window: timedelta = timedelta(minutes=2)) -> dict[str, str]:
    """batch id → JSON {"t": [...], "rate": [...]} of its recent items per second (one query for the list page)."""
    series: dict[str, dict[str, list]] = {}
    last: dict[str, tuple] = {}
    rows = (
        BatchProgressSample.objects.filter(batch_id__in=batch_ids, at__gte=timezone.now() - window)
        .order_by("batch_id", "at", "id")
        .values_list("batch_id", "at", "done")
    )
    for batch_id, at, done in rows:
        previous = last.get(batch_id)
        last[batch_id] = (at, done)
        seconds = (at - previous[0]).total_seconds() if previous else 0
        if seconds > 0:
            points = series.setdefault(batch_id, {"t": [], "rate": []})
            points["t"].append(round(at.timestamp(), 3))
            points["rate"].append(round(max(done - previous[1], 0) / seconds, 2))
    return {batch_id: json.dumps(points) for batch_id, points in series.items()}
