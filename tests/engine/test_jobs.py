"""The job executor in-process: locking, retries, incidents, the sweep and its schedule."""
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from engine.models import Incident, Job
from engine.services.jobs import (
    SWEEP_SCHEDULE_NAME,
    job_create,
    job_execute,
    jobs_delete,
    jobs_set_retries,
    jobs_sweep,
)
from engine.services.modification import instance_modify
from tests.support.factories import deploy, job_of, run_jobs, start

pytestmark = pytest.mark.django_db


def failed_job():
    instance = start(deploy(), fail=True)
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    run_jobs()
    return instance, job_of(instance)


def test_a_job_locked_by_a_live_worker_is_not_taken_by_another():
    instance = start(deploy())
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    job = job_of(instance)
    Job.objects.filter(id=job.id).update(lock_owner="w1", lock_expiration_time=timezone.now() + timedelta(minutes=5))
    assert job_execute(job.id, owner="w2") == "not-acquired"
    Job.objects.filter(id=job.id).update(lock_expiration_time=timezone.now() - timedelta(seconds=1))
    assert job_execute(job.id, owner="w2") == "succeeded"
    assert not Job.objects.filter(id=job.id).exists()


def test_setting_retries_resolves_the_incident_and_the_job_runs_again():
    instance, job = failed_job()
    assert Incident.objects.filter(configuration=job.id).exists()
    jobs_set_retries(job_ids=[job.id], retries=2)
    assert not Incident.objects.filter(configuration=job.id).exists()
    run_jobs()
    job.refresh_from_db()
    assert job.retries == 0  # the variable still makes it fail, so it is back at zero with a new incident
    assert Incident.objects.filter(configuration=job.id).count() == 1


def test_setting_retries_to_zero_keeps_the_job_out_of_execution():
    instance = start(deploy())
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    job = job_of(instance)
    jobs_set_retries(job_ids=[job.id], retries=0)
    assert run_jobs() == 0


def test_deleting_a_job_removes_its_incident():
    _, job = failed_job()
    assert jobs_delete(job_ids=[job.id]) == 1
    assert not Job.objects.filter(id=job.id).exists()
    assert not Incident.objects.filter(configuration=job.id).exists()


def test_a_job_without_a_handler_fails_with_a_clear_message():
    job = job_create(job_type="no-such-handler", retries=1)
    assert job_execute(job.id, owner="w") == "failed"
    job.refresh_from_db()
    assert job.exception_message == "No job handler registered for job type 'no-such-handler'"
    assert Incident.objects.filter(configuration=job.id).exists()


def test_the_sweep_re_enqueues_lost_wake_ups_and_expired_locks_only():
    lost = job_create(job_type="test-sleep-once", handler_configuration={"marker": "/nonexistent"})
    orphan = job_create(job_type="test-sleep-once", handler_configuration={"marker": "/nonexistent"})
    busy = job_create(job_type="test-sleep-once", handler_configuration={"marker": "/nonexistent"})
    future = job_create(
        job_type="test-sleep-once", handler_configuration={}, due_date=timezone.now() + timedelta(hours=1)
    )
    now = timezone.now()
    Job.objects.filter(id=lost.id).update(enqueued_at=None)
    Job.objects.filter(id=orphan.id).update(
        enqueued_at=now - timedelta(hours=1), lock_owner="dead", lock_expiration_time=now - timedelta(seconds=1)
    )
    Job.objects.filter(id=busy.id).update(
        enqueued_at=now - timedelta(hours=1), lock_owner="alive", lock_expiration_time=now + timedelta(minutes=5)
    )
    assert jobs_sweep(broker_idle=True) == 2
    swept = set(Job.objects.filter(enqueued_at__gte=now).values_list("id", flat=True))
    assert swept == {lost.id, orphan.id}
    assert future.id not in swept


def test_migrations_install_the_sweep_schedule():
    schedule = Schedule.objects.get(name=SWEEP_SCHEDULE_NAME)
    assert schedule.func == "engine.tasks.sweep_jobs"
    assert schedule.repeats == -1 and schedule.schedule_type == Schedule.MINUTES


def test_job_creation_enqueues_one_q2_task_after_commit(django_capture_on_commit_callbacks, settings):
    if "orm" not in settings.Q_CLUSTER:
        pytest.skip("counts ORM broker rows")
    with django_capture_on_commit_callbacks(execute=True):
        job = job_create(job_type="test-sleep-once", handler_configuration={"marker": "/nonexistent"})
    assert OrmQ.objects.count() == 1
    job.refresh_from_db()
    assert job.enqueued_at is not None


def test_a_failure_is_recorded_on_a_new_connection_when_the_old_one_died(monkeypatch):
    from django.db import OperationalError

    from engine.services import jobs as executor

    instance = start(deploy(), fail=True)
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    job = job_of(instance)
    record = executor.job_record_failure
    calls = []

    def dead_then_fine(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return record(*args, **kwargs)

    monkeypatch.setattr(executor, "job_record_failure", dead_then_fine)
    assert job_execute(job.id, owner="w") == "failed"
    job.refresh_from_db()
    assert len(calls) == 2 and job.retries == 2 and job.lock_owner is None


def test_a_deadlock_victim_runs_again_at_once_and_loses_no_retry(monkeypatch):
    from django.db import OperationalError

    from engine.services.jobs import JOB_HANDLERS

    class Deadlock(Exception):
        sqlstate = "40P01"

    instance = start(deploy())
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    job = job_of(instance)
    original, attempts = JOB_HANDLERS["async-continuation"], []

    def victim_once(job):
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return original(job)

    monkeypatch.setitem(JOB_HANDLERS, "async-continuation", victim_once)
    assert job_execute(job.id, owner="w") == "succeeded"
    assert len(attempts) == 2 and not Job.objects.filter(id=job.id).exists()
