"""Fair shares in-process: which job a wake-up locks when batch execution jobs compete with process jobs."""
from datetime import timedelta

import pytest
from django.utils import timezone

from batches.execution import MONITOR_JOB, SEED_JOB
from batches.operations import REGISTRY
from engine.models import Job, JobDefinition
from engine.services.jobs import JOB_SHARES, _priority_bounds, job_acquire, job_share_hand_off
from engine.services.runtime import ASYNC_CONTINUATION
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db

BATCH_TYPE = "instance-deletion"
OWNER = "test-host:1"


@pytest.fixture
def cap(settings):
    def apply(n: int) -> None:
        settings.BATCH = {**settings.BATCH, "MAX_RUNNING_JOBS": n}

    apply(0)
    return apply


def batch_definition() -> JobDefinition:
    return JobDefinition.objects.create(job_type=BATCH_TYPE, job_configuration="")


def job(job_type: str, *, definition: JobDefinition | None = None, age: int = 0, running: bool = False, **fields) -> Job:
    """A due job created `age` seconds ago; running: locked by a live worker."""
    now = timezone.now()
    if running:
        fields.update(lock_owner="other-host:2", lock_expiration_time=now + timedelta(minutes=5))
    created = now - timedelta(seconds=age)
    return Job.objects.create(job_type=job_type, job_definition=definition, create_time=created, **fields)


def batch_job(definition: JobDefinition, **fields) -> Job:
    return job(BATCH_TYPE, definition=definition, **fields)


SERVICE_TASK = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="service"/>'
    '<bpmn:serviceTask id="service" name="Call it"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="service" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)


def process_job(**fields) -> Job:
    """The continuation job of a service task of a new instance (what the engine itself runs)."""
    instance = start(deploy(SERVICE_TASK, key="service-only"))
    found = Job.objects.get(process_instance=instance, job_type=ASYNC_CONTINUATION)
    if fields:
        Job.objects.filter(id=found.id).update(**fields)
        found.refresh_from_db()
    return found


def locked_by_us(*jobs: Job) -> list[bool]:
    return [Job.objects.get(id=j.id).lock_owner == OWNER for j in jobs]


def share():
    return JOB_SHARES[BATCH_TYPE]


def test_every_batch_execution_type_is_in_the_batch_share_and_seed_and_monitor_jobs_are_not():
    assert set(REGISTRY) <= set(JOB_SHARES)
    assert {JOB_SHARES[t].name for t in REGISTRY} == {"batch"}
    assert SEED_JOB not in JOB_SHARES and MONITOR_JOB not in JOB_SHARES


def test_a_process_job_wake_up_costs_one_statement_while_batch_jobs_wait(cap, django_assert_num_queries):
    cap(1)
    definition = batch_definition()
    batch_job(definition, age=10)
    mine = process_job()
    _priority_bounds(timezone.now())  # read once a second per worker, whatever the job
    with django_assert_num_queries(1):
        assert job_acquire(mine.id, owner=OWNER) == mine.id


def test_a_batch_wake_up_runs_a_waiting_process_job_first(cap):
    definition = batch_definition()
    woken = batch_job(definition, age=10)
    waiting = process_job()
    assert job_acquire(woken.id, owner=OWNER) == waiting.id
    assert locked_by_us(woken, waiting) == [False, True]


def test_a_seed_job_overtakes_a_batch_job(cap):
    # Another batch's seed waits behind the wake-ups of this batch's chunks; run in their turn, a
    # batch created later would start only when the first has ended.
    woken = batch_job(batch_definition(), age=10)
    seed = job(SEED_JOB)
    assert job_acquire(woken.id, owner=OWNER) == seed.id
    assert locked_by_us(woken, seed) == [False, True]


def test_a_monitor_job_does_not_overtake_a_batch_job(cap):
    # A monitor polls for as long as its batch runs: were it ahead, each wake-up of the batch's
    # chunks could run it instead, for ever.
    woken = batch_job(batch_definition(), age=10)
    job(MONITOR_JOB)  # another batch's monitor, due
    assert job_acquire(woken.id, owner=OWNER) == woken.id


def test_a_process_job_of_lower_priority_does_not_overtake_a_batch_job(cap):
    woken = batch_job(batch_definition(), priority=5)
    process_job(priority=0)
    assert job_acquire(woken.id, owner=OWNER) == woken.id


def test_a_batch_wake_up_at_the_cap_parks_its_job(cap):
    cap(1)
    definition = batch_definition()
    batch_job(definition, running=True)
    woken = batch_job(definition, enqueued_at=timezone.now())
    assert job_acquire(woken.id, owner=OWNER) is None
    woken.refresh_from_db()
    assert woken.lock_owner is None and woken.enqueued_at is None and woken.due_date is None


def test_below_the_cap_a_batch_job_runs(cap):
    cap(2)
    definition = batch_definition()
    batch_job(definition, running=True)
    woken = batch_job(definition)
    assert job_acquire(woken.id, owner=OWNER) == woken.id


def test_a_job_whose_lock_expired_does_not_hold_a_slot(cap):
    cap(1)
    definition = batch_definition()
    batch_job(definition, lock_owner="dead-host:3", lock_expiration_time=timezone.now() - timedelta(seconds=1), retries=0)
    woken = batch_job(definition)
    assert job_acquire(woken.id, owner=OWNER) == woken.id


def test_at_the_cap_a_batch_wake_up_still_runs_a_waiting_process_job(cap):
    cap(1)
    definition = batch_definition()
    batch_job(definition, running=True)
    woken = batch_job(definition, age=10)
    waiting = process_job()
    assert job_acquire(woken.id, owner=OWNER) == waiting.id


def test_a_wake_up_of_the_busier_batch_runs_a_job_of_the_idle_one(cap):
    first, second = batch_definition(), batch_definition()
    batch_job(first, running=True, age=30)
    woken = batch_job(first, age=20)
    later = batch_job(second, age=1)
    assert job_acquire(woken.id, owner=OWNER) == later.id
    assert locked_by_us(woken, later) == [False, True]


def test_a_batch_with_no_running_job_runs_its_own_job(cap):
    first, second = batch_definition(), batch_definition()
    batch_job(second, running=True)
    woken = batch_job(first)
    batch_job(second, age=10)
    assert job_acquire(woken.id, owner=OWNER) == woken.id


def test_between_batches_with_no_running_jobs_a_worker_takes_turns(cap):
    first, second = batch_definition(), batch_definition()
    a1, a2 = batch_job(first, age=30), batch_job(first, age=20)
    b1 = batch_job(second, age=1)
    assert job_acquire(a1.id, owner=OWNER) == a1.id
    Job.objects.filter(id=a1.id).delete()  # it ran
    assert job_acquire(a2.id, owner=OWNER) == b1.id
    Job.objects.filter(id=b1.id).delete()
    assert job_acquire(a2.id, owner=OWNER) == a2.id


def test_the_hand_off_wakes_the_parked_job_of_the_batch_with_the_fewest_running(cap):
    cap(2)
    first, second = batch_definition(), batch_definition()
    finished = batch_job(first, running=True)
    batch_job(first, running=True)
    batch_job(first, age=30)  # parked: never woken
    parked = batch_job(second, age=1)
    assert job_share_hand_off(share(), finished=(finished.id, first.id)) == [parked.id]
    parked.refresh_from_db()
    assert parked.enqueued_at is not None


def test_with_a_cap_of_one_batches_take_turns(cap):
    cap(1)
    first, second = batch_definition(), batch_definition()
    finished = batch_job(first, running=True)
    batch_job(first, age=30)
    turn = batch_job(second, age=1)
    assert job_share_hand_off(share(), finished=(finished.id, first.id)) == [turn.id]


def test_the_hand_off_wakes_nothing_while_the_share_is_full(cap):
    cap(1)
    definition = batch_definition()
    finished = batch_job(definition, running=True)
    batch_job(definition, running=True)
    batch_job(definition)
    assert job_share_hand_off(share(), finished=(finished.id, definition.id)) == []


def test_the_hand_off_fills_every_free_slot_and_skips_jobs_already_woken(cap):
    cap(3)
    definition = batch_definition()
    finished = batch_job(definition, running=True)
    parked = [batch_job(definition, age=10 - k) for k in range(3)]
    batch_job(definition, enqueued_at=timezone.now())  # its wake-up is on the way
    assert job_share_hand_off(share(), finished=(finished.id, definition.id)) == [j.id for j in parked]


def test_with_fair_shares_off_batch_jobs_are_taken_first_come(cap, settings):
    cap(1)
    settings.ENGINE = {**settings.ENGINE, "FAIR_SHARES": False}
    definition = batch_definition()
    batch_job(definition, running=True)
    woken = batch_job(definition, age=10)
    process_job()
    assert job_acquire(woken.id, owner=OWNER) == woken.id


def test_the_running_count_reads_the_locked_jobs_by_the_lock_index():
    """Every acquisition counts the share's running jobs. Grouped in SQL, SQLite (no statistics)
    walked the whole job table in job-definition order instead (19 ms at 13,000 jobs, growing with
    the table): the count must be planned on job_lock_idx."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from engine.services.jobs import _running_by_tenant

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans from statistics: a test table's plan says nothing about a loaded one")
    definition = batch_definition()
    for i in range(3):
        job(BATCH_TYPE, definition=definition, running=i < 2)
    with CaptureQueriesContext(connection) as queries:
        assert _running_by_tenant(JOB_SHARES[BATCH_TYPE], timezone.now()) == {definition.id: 2}
    (query,) = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "job_lock_idx" in plan, plan
