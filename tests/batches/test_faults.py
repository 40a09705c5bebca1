"""Faults with real qcluster processes: workers killed with SIGKILL mid-batch; nothing lost, nothing twice."""
import os
import signal
import time

import pytest
from django.db.models import Count

from batches.models import BatchItem, HistoricBatch
from engine.demo import load_instances
from engine.models import HistoricActivityInstance, HistoricJobLog, HistoricProcessInstance, Job, ProcessInstance
from engine.services.jobs import jobs_sweep
from tests.conftest import client_for

pytestmark = pytest.mark.cluster
R = "/engine-rest"


def test_a_10k_item_batch_survives_two_killed_workers(cluster, admin_user, settings, batch_sizes):
    settings.ENGINE = {**settings.ENGINE, "JOB_REENQUEUE_SECONDS": 1}
    batch_sizes(per_seed=20, invocations=100)
    load_instances(15_400)  # 65 % of them are running: 10,010 instances
    running = list(ProcessInstance.objects.values_list("id", flat=True))
    assert len(running) >= 10_000
    for _ in range(2):  # two clusters, as on two hosts
        cluster(workers=1, JOB_LOCK_SECONDS="3")
    response = client_for(admin_user).post(f"{R}/process-instance/delete", {"processInstanceQuery": {}, "deleteReason": "faults"}, format="json")
    assert response.status_code == 200, response.content
    batch_id = response.json()["id"]
    killed = 0
    victims: set[int] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        historic = HistoricBatch.objects.get(id=batch_id)
        if historic.end_time:
            break
        owners = Job.objects.filter(job_type="instance-deletion", lock_owner__isnull=False).values_list("lock_owner", flat=True)
        pids = {int(owner.rsplit(":", 1)[1]) for owner in owners} - victims
        if pids and killed < 2:
            victim = pids.pop()
            try:
                os.kill(victim, signal.SIGKILL)
                victims.add(victim)
                killed += 1
            except ProcessLookupError:
                pass
        jobs_sweep()  # what the q2 schedule does every minute, here every few tenths of a second
        time.sleep(0.2)
    historic = HistoricBatch.objects.get(id=batch_id)
    assert killed == 2
    assert historic.end_time is not None and historic.final_state == "completed"
    assert BatchItem.objects.filter(batch_id=batch_id).count() == len(running)
    assert dict(BatchItem.objects.filter(batch_id=batch_id).values_list("state").annotate(n=Count("id"))) == {"SUCCEEDED": len(running)}
    terminated = HistoricProcessInstance.objects.filter(id__in=running)
    assert terminated.filter(state="EXTERNALLY_TERMINATED", delete_reason="faults").count() == len(running)
    # Changed exactly once: each instance has one cancelled activity record, no leftovers anywhere.
    cancelled = HistoricActivityInstance.objects.filter(process_instance_id__in=running, canceled=True)
    assert cancelled.values("process_instance_id").annotate(n=Count("id")).filter(n__gt=1).count() == 0
    assert not ProcessInstance.objects.exists()
    assert not Job.objects.filter(lock_owner__isnull=False).exists()


def test_a_batch_continues_where_it_stopped_after_a_restart(cluster, admin_user, settings, batch_sizes):
    from tests.support.cluster import wait_for

    settings.ENGINE = {**settings.ENGINE, "JOB_REENQUEUE_SECONDS": 1}
    batch_sizes(per_seed=10, invocations=10)
    load_instances(3000)
    running = ProcessInstance.objects.count()
    first = cluster(workers=2, JOB_LOCK_SECONDS="3")
    response = client_for(admin_user).post(f"{R}/process-instance/delete", {"processInstanceQuery": {}}, format="json")
    batch_id = response.json()["id"]
    wait_for(lambda: BatchItem.objects.filter(batch_id=batch_id, state="SUCCEEDED").exists(), timeout=60, message="progress")
    first.stop()  # the whole application goes down mid-batch
    done_at_stop = BatchItem.objects.filter(batch_id=batch_id, state="SUCCEEDED").count()
    assert 0 < done_at_stop < running
    cluster(workers=2, JOB_LOCK_SECONDS="3")  # and comes back
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not HistoricBatch.objects.get(id=batch_id).end_time:
        jobs_sweep()
        time.sleep(0.3)
    historic = HistoricBatch.objects.get(id=batch_id)
    assert historic.final_state == "completed" and historic.items_succeeded == running
    assert not ProcessInstance.objects.exists()


def test_a_batch_job_whose_database_connection_dies_is_retried_and_the_batch_completes(cluster, admin_user, batch_sizes):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    batch_sizes(per_seed=10, invocations=50)
    load_instances(300)
    running = ProcessInstance.objects.count()
    # Fault injection in the database: the first deletion of a history-tracked instance kills its
    # own backend mid-transaction (a sequence is not rolled back, so it fires exactly once).
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE fault_once")
        cursor.execute(
            """CREATE FUNCTION kill_backend_once() RETURNS trigger AS $$
            BEGIN
              IF nextval('fault_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
              RETURN OLD;
            END $$ LANGUAGE plpgsql"""
        )
        cursor.execute(
            "CREATE TRIGGER kill_backend_once BEFORE DELETE ON engine_processinstance "
            "FOR EACH ROW EXECUTE FUNCTION kill_backend_once()"
        )
    try:
        cluster(workers=2)
        response = client_for(admin_user).post(f"{R}/process-instance/delete", {"processInstanceQuery": {}}, format="json")
        batch_id = response.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not HistoricBatch.objects.get(id=batch_id).end_time:
            time.sleep(0.3)
        historic = HistoricBatch.objects.get(id=batch_id)
        assert historic.final_state == "completed" and historic.items_succeeded == running
        failed_attempts = HistoricJobLog.objects.filter(job_definition_id=historic.batch_job_definition_id, failure_log=True)
        assert failed_attempts.count() == 1
        message = failed_attempts.get().job_exception_message.lower()
        assert "terminat" in message or "connection" in message
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS kill_backend_once ON engine_processinstance")
            cursor.execute("DROP FUNCTION IF EXISTS kill_backend_once()")
            cursor.execute("DROP SEQUENCE IF EXISTS fault_once")
