"""Progress samples: written as chunks finish, at most one per second and batch, a final one at the end."""
from datetime import timedelta

import pytest
from django.utils import timezone

from batches import progress
from batches.models import BatchProgressSample, HistoricBatch
from batches.progress import progress_sample_record, progress_samples
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_process_clock():
    progress._last_attempt.clear()
    yield
    progress._last_attempt.clear()


def test_a_finished_batch_has_samples_ending_with_its_final_counts(create, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id for _ in range(6)]})
    run_jobs()
    historic = HistoricBatch.objects.get(id=batch.id)
    assert historic.final_state == "completed"
    samples = list(BatchProgressSample.objects.filter(batch_id=batch.id).order_by("at", "id"))
    # chunks within one second share a sample; the end always adds the final one
    assert 2 <= len(samples) <= 3
    assert (samples[-1].done, samples[-1].remaining) == (6, 0)
    assert samples[0].done + samples[0].remaining == 6


def test_samples_are_written_at_most_once_per_second(create):
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id for _ in range(3)]})
    progress_sample_record(batch.id)
    progress._last_attempt.clear()  # another process: only the database check is left
    progress_sample_record(batch.id)
    assert BatchProgressSample.objects.filter(batch_id=batch.id).count() == 1
    BatchProgressSample.objects.filter(batch_id=batch.id).update(at=timezone.now() - timedelta(seconds=2))
    progress_sample_record(batch.id)  # this process sampled less than a second ago
    assert BatchProgressSample.objects.filter(batch_id=batch.id).count() == 1
    progress._last_attempt.clear()
    progress_sample_record(batch.id)
    assert BatchProgressSample.objects.filter(batch_id=batch.id).count() == 2
    progress_sample_record(batch.id, force=True)
    assert BatchProgressSample.objects.filter(batch_id=batch.id).count() == 3


def test_a_sample_counts_done_and_remaining_from_the_counters(create):
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id for _ in range(5)]})
    HistoricBatch.objects.filter(id=batch.id).update(items_succeeded=2, items_skipped=None, items_failed=1)
    progress_sample_record(batch.id)
    sample = BatchProgressSample.objects.get(batch_id=batch.id)
    assert (sample.done, sample.remaining) == (3, 2)


def test_the_series_gives_items_per_second_between_samples(create):
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id for _ in range(5)]})
    historic = HistoricBatch.objects.get(id=batch.id)
    t0 = timezone.now() - timedelta(seconds=10)
    for seconds, done in ((0, 0), (2, 4), (4, 5)):
        BatchProgressSample.objects.create(batch=historic, at=t0 + timedelta(seconds=seconds), done=done, remaining=5 - done)
    points = progress_samples(historic)
    assert [p["rate"] for p in points] == [None, 2.0, 0.5]
    assert [p["remaining"] for p in points] == [5, 1, 0]
    assert points[1]["t"] - points[0]["t"] == pytest.approx(2.0)


def test_no_sample_for_a_deleted_history():
    progress_sample_record("no-such-batch", force=True)
    assert not BatchProgressSample.objects.exists()


def test_a_long_series_is_thinned_keeping_the_first_and_last_sample(create):
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id]})
    historic = HistoricBatch.objects.get(id=batch.id)
    t0 = timezone.now() - timedelta(hours=1)
    BatchProgressSample.objects.bulk_create(
        BatchProgressSample(batch=historic, at=t0 + timedelta(seconds=s), done=s, remaining=100 - s) for s in range(101)
    )
    points = progress_samples(historic, limit=10)
    assert 10 <= len(points) <= 12
    assert points[0]["done"] == 0 and points[-1]["done"] == 100
    assert all(p["rate"] == 1.0 for p in points[1:])  # the rate over a thinned interval stays true
