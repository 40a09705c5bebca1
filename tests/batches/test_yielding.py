"""Fair shares inside a job: a long execution job works its range in slices and, between slices,
gives its worker to a waiting process job, going on from its cursor later."""
import pytest

from batches.execution import CURSOR, run_execution_job
from batches.models import Batch, BatchItem, HistoricBatch
from engine.models import Job
from engine.services.jobs import Reschedule
from tests.batches.test_lifecycle import run_seed
from tests.engine.test_fairness import process_job
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_job(create, batch_sizes, settings):
    settings.BATCH = {**settings.BATCH, "YIELD_SLICE_ITEMS": 5}
    batch_sizes(per_seed=10, invocations=12)
    definition = deploy()
    ids = [start(definition).id for _ in range(12)]
    batch = create("process-instance/suspended-async", {"processInstanceIds": ids, "suspended": True})
    run_seed(batch)
    return batch, Job.objects.get(job_definition_id=batch.batch_job_definition_id)


def done(batch: Batch) -> int:
    return BatchItem.objects.filter(batch_id=batch.id, state=BatchItem.SUCCEEDED).count()


def test_a_long_range_stops_after_a_slice_when_a_process_job_waits(long_job):
    batch, job = long_job
    waiting = process_job()
    outcome = run_execution_job(job)
    assert isinstance(outcome, Reschedule) and done(batch) == 5
    # The counters of the slices worked are written once, when the job stops (not per slice).
    assert HistoricBatch.objects.get(id=batch.id).items_succeeded == 5
    job.refresh_from_db()
    assert job.handler_configuration[CURSOR] == job.handler_configuration["first"] + 5
    Job.objects.filter(id=waiting.id).delete()  # the worker ran it
    assert run_execution_job(job) is None  # the other 7 in two slices, nobody waiting
    assert done(batch) == 12
    assert HistoricBatch.objects.get(id=batch.id).final_state == "completed"


def test_without_a_waiting_process_job_the_whole_range_runs_at_once(long_job):
    batch, job = long_job
    assert run_execution_job(job) is None
    assert done(batch) == 12
    historic = HistoricBatch.objects.get(id=batch.id)
    assert (historic.items_succeeded, historic.final_state) == (12, "completed")


def test_with_fair_shares_off_the_range_runs_at_once_even_if_a_process_job_waits(long_job, settings):
    settings.ENGINE = {**settings.ENGINE, "FAIR_SHARES": False}
    batch, job = long_job
    process_job()
    assert run_execution_job(job) is None
    assert done(batch) == 12
