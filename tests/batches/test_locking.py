"""Suspending or deleting a batch while one of its chunks runs, on PostgreSQL's row locks.

A running chunk holds its own job row and, at its end, takes the batch row. An operator action
that took the batch row first and then waited for the job rows closed a cycle: PostgreSQL killed
one side after deadlock_timeout, giving the operator an error or the chunk a spurious failure.
"""
import threading
import time

import pytest
from django.db import close_old_connections, connection

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations import ENDPOINTS, operation_for
from batches.services import batch_create, batch_delete, batch_set_suspended
from engine.models import Job
from engine.services.jobs import job_execute
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db(transaction=True)


def in_thread(target, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def chunk_paused_mid_work(admin_user, batch_sizes, monkeypatch):
    """A 2-chunk cancellation whose first chunk stops inside its work until released."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks exist on PostgreSQL only")
    batch_sizes(per_seed=10, invocations=2)
    definition = deploy()
    batch = batch_create(
        operation=ENDPOINTS["process-instance/delete"],
        payload={"processInstanceIds": [start(definition).id for _ in range(4)]},
        user=admin_user,
    )
    seed = Job.objects.get(job_definition_id=batch.seed_job_definition_id)
    assert job_execute(seed.id, owner="test") == "succeeded"
    inside, release = threading.Event(), threading.Event()
    operation = type(operation_for("instance-deletion"))
    original = operation.apply

    def paused_apply(self, ids, configuration):
        inside.set()
        release.wait(30)
        return original(self, ids, configuration)

    monkeypatch.setattr(operation, "apply", paused_apply)
    job = Job.objects.filter(job_definition_id=batch.batch_job_definition_id).order_by("id").first()
    outcome: dict = {}
    errors: list = []
    worker = in_thread(lambda: outcome.setdefault("chunk", job_execute(job.id, owner="worker")), errors)
    assert inside.wait(10)
    yield batch, release, worker, outcome, errors
    release.set()
    worker.join(30)


@pytest.mark.parametrize("action", ["suspend", "delete"])
def test_an_operator_action_during_a_running_chunk_waits_for_it_instead_of_deadlocking(chunk_paused_mid_work, action, admin_user):
    batch, release, worker, outcome, errors = chunk_paused_mid_work
    if action == "suspend":
        operator = in_thread(lambda: batch_set_suspended(batch=batch, suspended=True, user_id="op"), errors)
    else:
        operator = in_thread(lambda: batch_delete(batch=batch, cascade=False, user_id="op"), errors)
    time.sleep(0.5)  # the operator is now waiting for the chunk's job row
    release.set()
    worker.join(30)
    operator.join(30)
    assert not errors, errors
    assert outcome["chunk"] == "succeeded"
    assert BatchItem.objects.filter(batch_id=batch.id, state=BatchItem.SUCCEEDED).count() == 2
    assert not BatchItem.objects.filter(batch_id=batch.id, state=BatchItem.FAILED).exists()
    if action == "suspend":
        assert Batch.objects.get(id=batch.id).suspended
        assert not Job.objects.filter(job_definition_id=batch.batch_job_definition_id, suspended=False).exists()
    else:
        assert not Batch.objects.filter(id=batch.id).exists()
        assert HistoricBatch.objects.get(id=batch.id).final_state == HistoricBatch.CANCELED
