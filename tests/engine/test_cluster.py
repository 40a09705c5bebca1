"""The job executor with real qcluster processes: success, failure to incident, a killed worker."""
import os
import signal

import pytest

from engine.models import HistoricJobLog, HistoricProcessInstance, Incident, Job
from engine.services.jobs import job_create, jobs_sweep
from engine.services.modification import instance_modify
from tests.support.cluster import wait_for
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster


def to_service_task(instance):
    instance_modify(
        instance_id=instance.id,
        instructions=[{"type": "cancel", "activityId": "task"}, {"type": "startBeforeActivity", "activityId": "service"}],
    )


def test_a_real_worker_runs_the_service_task_and_completes_the_instance(cluster):
    cluster(workers=2)
    instance = start(deploy())
    to_service_task(instance)
    wait_for(
        lambda: HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED",
        timeout=60,
        message="the instance to complete",
    )
    assert HistoricJobLog.objects.filter(process_instance_id=instance.id, success_log=True).count() == 1


def test_a_failing_job_reaches_an_incident_through_a_real_worker(cluster):
    cluster(workers=2)
    instance = start(deploy(), fail=True)
    to_service_task(instance)
    job = Job.objects.get(process_instance_id=instance.id)
    wait_for(lambda: Incident.objects.filter(configuration=job.id).exists(), timeout=60, message="an incident")
    job.refresh_from_db()
    assert job.retries == 0 and job.lock_owner is None
    assert "process variable 'fail' is set" in job.exception_message
    assert HistoricJobLog.objects.filter(job_id=job.id, failure_log=True).count() == 3


def test_a_job_whose_worker_was_killed_is_recovered_by_the_sweep(cluster, settings, tmp_path):
    settings.ENGINE = {**settings.ENGINE, "JOB_REENQUEUE_SECONDS": 1}
    cluster(workers=1, JOB_LOCK_SECONDS="3")
    marker = tmp_path / "started"
    job = job_create(job_type="test-sleep-once", handler_configuration={"marker": str(marker), "seconds": 120})
    locked = wait_for(
        lambda: Job.objects.filter(id=job.id, lock_owner__isnull=False).values_list("lock_owner", flat=True).first(),
        timeout=60,
        message="a worker to lock the job",
    )
    wait_for(marker.exists, timeout=30, message="the handler to start")
    os.kill(int(locked.rsplit(":", 1)[1]), signal.SIGKILL)
    # The dead worker's lock expires after 3 s; until then nobody may take the job.
    wait_for(lambda: jobs_sweep() == 1, timeout=30, message="the sweep to re-enqueue the orphaned job")
    wait_for(lambda: not Job.objects.filter(id=job.id).exists(), timeout=60, message="the job to finish on a new worker")
    assert HistoricJobLog.objects.filter(job_id=job.id, success_log=True).count() == 1


def test_a_job_whose_database_connection_dies_is_retried_at_once(cluster, tmp_path):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    cluster(workers=1)
    marker = tmp_path / "terminated"
    job = job_create(job_type="test-terminate-connection-once", handler_configuration={"marker": str(marker)})
    wait_for(lambda: not Job.objects.filter(id=job.id).exists(), timeout=60, message="the job to succeed on its retry")
    failure = HistoricJobLog.objects.get(job_id=job.id, failure_log=True)
    assert "terminat" in failure.job_exception_message.lower()
    assert HistoricJobLog.objects.filter(job_id=job.id, success_log=True).count() == 1
