"""Throttled and scheduled batches on a real supervised worker node (`manage.py workers`, as production runs).

Paced execution jobs reschedule themselves to a later time; the supervisor's precise wake-ups run
them when it comes (the minute sweep would make these tests take minutes).
"""
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from batches.models import Batch, BatchItem, HistoricBatch
from engine.models import Job
from tests.conftest import client_for
from tests.support.cluster import wait_for
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster
R = "/engine-rest"


def suspension_batch(create, batch_sizes, n: int, per_job: int, **options) -> Batch:
    batch_sizes(per_seed=10, invocations=per_job)
    definition = deploy()
    ids = [start(definition).id for _ in range(n)]
    return create("process-instance/suspended-async", {"processInstanceIds": ids, "suspended": True, **options})


def done(batch_id: str) -> int:
    return BatchItem.objects.filter(batch_id=batch_id).exclude(state=BatchItem.PENDING).count()


def execution_started(batch_id: str):
    return wait_for(
        lambda: HistoricBatch.objects.filter(id=batch_id).values_list("execution_start_time", flat=True).first(),
        timeout=60,
        message="the first slice",
    )


def ended(batch_id: str, timeout: float = 90) -> HistoricBatch:
    wait_for(lambda: HistoricBatch.objects.filter(id=batch_id, end_time__isnull=False).exists(), timeout=timeout, message="the batch to end")
    return HistoricBatch.objects.get(id=batch_id)


def test_a_throttled_batch_is_never_faster_than_its_rate(cluster, create, batch_sizes):
    cluster(workers=2, command="workers")
    n, rate = 24, 8  # three slices of a second's worth (8 items), over three execution jobs
    batch = suspension_batch(create, batch_sizes, n, per_job=8, maxItemsPerSecond=rate)
    historic = ended(batch.id)
    assert historic.final_state == "completed" and historic.items_succeeded == n
    # Each slice takes its items / rate of the batch's timeline before it starts (the first too):
    # from creation to the end, a batch of n items takes at least n / rate seconds.
    elapsed = (historic.end_time - historic.start_time).total_seconds()
    assert elapsed >= n / rate
    print(f"{n} items at {rate}/s: {elapsed:.2f} s from creation to the end")


def test_a_rate_changed_while_running_takes_effect(cluster, create, batch_sizes, admin_user):
    cluster(workers=2, command="workers")
    n, rate = 100, 4
    batch = suspension_batch(create, batch_sizes, n, per_job=25, maxItemsPerSecond=rate)
    execution_started(batch.id)
    created = HistoricBatch.objects.get(id=batch.id).start_time
    # Three slices in: each waited for its reserved time and was woken then (not by the minute sweep).
    wait_for(lambda: done(batch.id) >= 3 * rate, timeout=30, message="three slices")
    for _ in range(3):
        # Physics: a slice runs once its items / rate of the batch's timeline have passed, the first
        # too, and the timeline starts at the first reservation, after creation. (Measured from the
        # first slice, a first slice woken late would make its successors look early.)
        seen, at = done(batch.id), timezone.now()
        assert seen <= rate * (at - created).total_seconds()
        time.sleep(0.5)
    response = client_for(admin_user).put(f"{R}/batch/{batch.id}/throttle", {"maxItemsPerSecond": 1000}, format="json")
    assert response.status_code == 204, response.content
    changed, left = time.monotonic(), n - done(batch.id)
    historic = ended(batch.id)
    assert historic.items_succeeded == n
    # At the old rate the rest needed left / rate seconds; the new one is far faster than half of it.
    assert time.monotonic() - changed < left / rate / 2


def test_a_batch_outside_its_window_waits_and_resumes_when_the_window_includes_now(cluster, create, batch_sizes, admin_user):
    cluster(workers=2, command="workers")
    now = timezone.now()
    closed = {"start": (now + timedelta(hours=2)).strftime("%H:%M"), "end": (now + timedelta(hours=3)).strftime("%H:%M"), "timeZone": "UTC"}
    batch = suspension_batch(create, batch_sizes, 10, per_job=5, window=closed)
    execution_jobs = Job.objects.filter(job_definition_id=batch.batch_job_definition_id)
    wait_for(
        lambda: execution_jobs.filter(due_date__gt=timezone.now() + timedelta(hours=1)).count() == 2,
        timeout=60,
        message="both execution jobs to wait for the window",
    )
    time.sleep(3)  # the node keeps running; nothing may be worked outside the window
    assert done(batch.id) == 0
    assert not HistoricBatch.objects.get(id=batch.id).execution_start_time
    open_now = {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=1)).strftime("%H:%M"), "timeZone": "UTC"}
    response = client_for(admin_user).put(f"{R}/batch/{batch.id}/schedule", {"window": open_now}, format="json")
    assert response.status_code == 204, response.content
    historic = ended(batch.id, timeout=60)
    assert historic.final_state == "completed" and historic.items_succeeded == 10
