"""Fair shares on real workers: process jobs keep flowing while a large batch runs, and batches take turns."""
import time

import pytest
from django.contrib.auth.models import User

from batches.models import HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.demo import load_instances
from engine.models import HistoricProcessInstance, ProcessInstance
from tests.engine.test_fairness import SERVICE_TASK
from tests.support.cluster import wait_for
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster


def cancel(user: User, ids: list[str]) -> HistoricBatch:
    batch = batch_create(
        operation=ENDPOINTS["process-instance/delete"],
        payload={"processInstanceIds": ids, "deleteReason": "fairness"},
        user=user,
    )
    return HistoricBatch.objects.get(id=batch.id)


def progress(batch: HistoricBatch) -> tuple[int, bool]:
    """(items done, ended) of a batch, read from its history row."""
    row = HistoricBatch.objects.get(id=batch.id)
    return row.items_succeeded + row.items_failed + row.items_skipped, row.end_time is not None


def started(batch: HistoricBatch, at_least: int = 1) -> None:
    wait_for(lambda: progress(batch)[0] >= at_least, timeout=120, message=f"batch {batch.id} to work off items")


def test_process_jobs_complete_while_a_large_batch_runs(cluster, admin_user, batch_sizes):
    # Every execution job exists (and has its wake-up queued) from the first seed run: first come,
    # first served, a process job's wake-up would wait behind all of them, to the batch's end.
    batch_sizes(per_seed=1000, invocations=50)
    load_instances(20_000)
    running = list(ProcessInstance.objects.values_list("id", flat=True))
    assert len(running) >= 13_000
    service = deploy(SERVICE_TASK, key="service-only")
    cluster(workers=2, BATCH_MAX_RUNNING_JOBS="1")
    batch = cancel(admin_user, running)
    started(batch, at_least=500)
    instances = []
    for _ in range(10):
        instances.append(start(service).id)
        time.sleep(0.2)
    ended = HistoricProcessInstance.objects.filter(id__in=instances, end_time__isnull=False)
    wait_for(lambda: ended.count() == len(instances), timeout=180, message="the process instances to end")
    done, batch_ended = progress(batch)
    assert not batch_ended, "the process jobs waited for the whole batch"
    assert done < len(running)
    wait_for(lambda: progress(batch)[1], timeout=300, message="the batch to end")
    final = HistoricBatch.objects.get(id=batch.id)
    assert final.items_succeeded == len(running)
    assert max(ended.values_list("end_time", flat=True)) < final.end_time


def test_a_second_batch_is_not_queued_behind_the_first(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=1000, invocations=50)
    load_instances(12_000)
    running = list(ProcessInstance.objects.order_by("id").values_list("id", flat=True))
    first_ids, second_ids = running[:7000], running[7000:7500]
    cluster(workers=2, BATCH_MAX_RUNNING_JOBS="1")
    first = cancel(admin_user, first_ids)
    started(first, at_least=200)
    second = cancel(admin_user, second_ids)
    samples: list[tuple[tuple[int, bool], tuple[int, bool]]] = []

    def second_ended() -> bool:
        samples.append((progress(first), progress(second)))
        return samples[-1][1][1]

    wait_for(second_ended, timeout=300, message="the second batch to end")
    first_done, first_ended = samples[-1][0]  # read just before the second batch was seen ended
    assert not first_ended and first_done < len(first_ids), "the second batch waited for the whole first one"
    # Both made progress at the same time: some sample saw each one part-way.
    assert any(0 < a[0] < len(first_ids) and 0 < b[0] < len(second_ids) for a, b in samples)
    wait_for(lambda: progress(first)[1], timeout=300, message="the first batch to end")
    assert HistoricBatch.objects.get(id=first.id).items_succeeded == len(first_ids)
    assert HistoricBatch.objects.get(id=second.id).items_succeeded == len(second_ids)
