"""Batch lifecycle in-process: seeding, execution, per-item results, failures, suspension, deletion."""
from datetime import timedelta

import pytest
from django.utils import timezone

from batches.models import Batch, BatchItem, HistoricBatch
from batches.selectors import with_statistics
from batches.execution import SEED_JOB, run_seed_job
from batches.services import batch_delete, batch_set_suspended
from engine.errors import BadUserRequest
from engine.models import HistoricActivityInstance, HistoricJobLog, HistoricProcessInstance, Incident, Job, UserOperationLogEntry
from engine.services.jobs import job_execute, jobs_set_retries
from engine.services.lifecycle import NOT_RUNNING, instances_set_suspended
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def run_seed(batch: Batch) -> None:
    seed = Job.objects.get(job_definition_id=batch.seed_job_definition_id)
    assert job_execute(seed.id, owner="test") == "succeeded"


def entered_service(instance) -> int:
    return HistoricActivityInstance.objects.filter(process_instance_id=instance.id, activity_id="service").count()


def stats(batch_id: str) -> tuple[int, int, int]:
    row = with_statistics(Batch.objects.filter(id=batch_id)).get()
    return row.remaining_jobs, row.completed_jobs, row.failed_jobs


def items(batch_id: str) -> dict[str, tuple[str, str | None]]:
    return {i.target_id: (i.state, i.detail) for i in BatchItem.objects.filter(batch_id=batch_id)}


def test_seeding_creates_jobs_per_seed_in_rounds(create, batch_sizes):
    batch_sizes(per_seed=2, invocations=5)
    definition = deploy()
    instances = [start(definition) for _ in range(20)]
    batch = create("process-instance/delete", {"processInstanceIds": [i.id for i in instances]})
    assert (batch.total_jobs, batch.jobs_created, batch.total_items) == (4, 0, 20)
    run_seed(batch)
    batch.refresh_from_db()
    assert batch.jobs_created == 2
    assert Job.objects.filter(job_definition_id=batch.batch_job_definition_id).count() == 2
    assert not Job.objects.filter(job_definition_id=batch.monitor_job_definition_id).exists()
    run_seed(batch)
    batch.refresh_from_db()
    assert batch.jobs_created == 4
    assert not Job.objects.filter(job_definition_id=batch.seed_job_definition_id).exists()
    assert Job.objects.filter(job_definition_id=batch.monitor_job_definition_id).count() == 1
    ranges = sorted(
        (j.handler_configuration["first"], j.handler_configuration["last"])
        for j in Job.objects.filter(job_definition_id=batch.batch_job_definition_id)
    )
    assert ranges == [(0, 5), (5, 10), (10, 15), (15, 20)]


def test_a_cancellation_batch_completes_immediately_with_per_item_results(create, batch_sizes):
    batch_sizes(per_seed=10, invocations=3)
    definition = deploy()
    instances = [start(definition) for _ in range(7)]
    batch = create(
        "process-instance/delete",
        {"processInstanceIds": [i.id for i in instances] + ["ghost"], "deleteReason": "cleanup"},
    )
    run_jobs()
    assert not Batch.objects.filter(id=batch.id).exists()
    historic = HistoricBatch.objects.get(id=batch.id)
    assert historic.end_time is not None and historic.final_state == "completed"
    assert (historic.items_succeeded, historic.items_skipped, historic.items_failed) == (7, 1, 0)
    assert items(batch.id)["ghost"] == ("SKIPPED", NOT_RUNNING)
    states = set(HistoricProcessInstance.objects.filter(id__in=[i.id for i in instances]).values_list("state", "delete_reason"))
    assert states == {("EXTERNALLY_TERMINATED", "cleanup")}
    assert not Job.objects.exists()  # seed, execution and monitor jobs are all gone


def test_ids_and_query_are_united_without_duplicates(create):
    definition = deploy(key="a")
    other = deploy(key="b")
    a1, a2 = start(definition), start(definition)
    b1 = start(other)
    batch = create(
        "process-instance/suspended-async",
        {
            "processInstanceIds": [a1.id, a1.id, b1.id],
            "processInstanceQuery": {"processDefinitionKey": "a"},
            "historicProcessInstanceQuery": {"processInstanceIds": [a2.id, b1.id]},
            "suspended": True,
        },
    )
    assert sorted(items(batch.id)) == sorted([a1.id, a2.id, b1.id])
    assert sorted(BatchItem.objects.filter(batch_id=batch.id).values_list("seq", flat=True)) == [0, 1, 2]


def test_an_empty_selection_is_refused_and_leaves_nothing_behind(create):
    deploy()
    with pytest.raises(BadUserRequest, match="processInstanceIds is empty"):
        create("process-instance/delete", {"processInstanceQuery": {"processDefinitionKey": "nope"}})
    assert not Batch.objects.exists() and not HistoricBatch.objects.exists() and not BatchItem.objects.exists()
    assert not Job.objects.exists()


def test_a_failing_item_fails_the_job_keeps_the_rest_and_a_retry_completes_it(create, batch_sizes):
    batch_sizes(per_seed=10, invocations=5)
    definition = deploy()
    good, stuck = start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create(
        "modification/executeAsync",
        {
            "processDefinitionId": definition.id,
            "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
            "processInstanceIds": [good.id, stuck.id],
        },
    )
    run_jobs()
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    assert job.retries == 0
    # Retries run only the unfinished item, so the last attempt had one item and it failed again.
    assert job.exception_message == (
        f"1 of 1 items failed; first {stuck.id}: Process instance '{stuck.id}' is suspended and cannot be modified"
    )
    failures = HistoricJobLog.objects.filter(job_id=job.id, failure_log=True).order_by("timestamp")
    assert failures.count() == 3
    assert failures.first().job_exception_message.startswith(f"1 of 2 items failed; first {stuck.id}")
    assert "suspended" in job.exception_stacktrace
    assert Incident.objects.filter(configuration=job.id).exists()
    assert items(batch.id)[good.id] == ("SUCCEEDED", None)
    assert items(batch.id)[stuck.id][0] == "FAILED"
    assert stats(batch.id) == (1, 0, 1)
    assert entered_service(good) == 1  # applied once
    assert Batch.objects.filter(id=batch.id).exists()  # a failed job blocks completion

    instances_set_suspended(instance_ids=[stuck.id], suspended=False)
    jobs_set_retries(job_ids=[job.id], retries=1)
    run_jobs()
    historic = HistoricBatch.objects.get(id=batch.id)
    assert historic.final_state == "completed" and historic.items_succeeded == 2
    assert entered_service(good) == 1  # not applied again by the retry
    assert entered_service(stuck) == 1


def test_deleting_a_failed_job_lets_the_monitor_finish_as_failed(create, batch_sizes):
    from batches.execution import batch_complete_if_done
    from engine.services.jobs import jobs_delete

    batch_sizes(per_seed=10, invocations=5)
    definition = deploy()
    stuck = start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create(
        "modification/executeAsync",
        {"processDefinitionId": definition.id, "instructions": [{"type": "cancel", "activityId": "task"}], "processInstanceIds": [stuck.id]},
    )
    run_jobs()
    jobs_delete(job_ids=[Job.objects.get(job_definition_id=batch.batch_job_definition_id).id])
    monitor = Job.objects.get(job_definition_id=batch.monitor_job_definition_id)
    Job.objects.filter(id=monitor.id).update(due_date=timezone.now())
    run_jobs()
    assert not batch_complete_if_done(batch.id)  # already ended by the monitor
    historic = HistoricBatch.objects.get(id=batch.id)
    assert historic.final_state == "failed" and historic.items_failed == 1  # every item failed


def test_statistics_follow_camunda_arithmetic(create, batch_sizes):
    batch_sizes(per_seed=2, invocations=1)
    definition = deploy()
    instances = [start(definition) for _ in range(4)]
    batch = create("process-instance/delete", {"processInstanceIds": [i.id for i in instances]})
    assert stats(batch.id) == (4, 0, 0)
    run_seed(batch)
    first, second = Job.objects.filter(job_definition_id=batch.batch_job_definition_id)
    Job.objects.filter(id=second.id).update(retries=0)
    assert stats(batch.id) == (4, 0, 1)  # 2 not created + 2 existing; one without retries
    # The seed's next run waits: due, it would go first (a wake-up of a chunk runs a waiting seed).
    Job.objects.filter(job_definition_id=batch.seed_job_definition_id).update(due_date=timezone.now() + timedelta(hours=1))
    job_execute(first.id, owner="test")
    assert stats(batch.id) == (3, 1, 1)


def test_a_suspended_batch_makes_no_progress_until_activated(create, batch_sizes, admin_user):
    batch_sizes(per_seed=1, invocations=1)
    definition = deploy()
    instances = [start(definition) for _ in range(3)]
    batch = create("process-instance/delete", {"processInstanceIds": [i.id for i in instances]})
    run_seed(batch)
    batch_set_suspended(batch=batch, suspended=True, user_id="alice")
    assert run_jobs() == 0
    assert set(Job.objects.values_list("suspended", flat=True)) == {True}
    # A job created while suspended is born suspended (the seed job run directly).
    run_seed_job(Job.objects.get(job_type=SEED_JOB))
    assert Job.objects.filter(job_definition_id=batch.batch_job_definition_id, suspended=False).count() == 0
    assert HistoricProcessInstance.objects.filter(state="ACTIVE").count() == 3
    batch_set_suspended(batch=batch, suspended=False, user_id="alice")
    run_jobs()
    assert HistoricBatch.objects.get(id=batch.id).final_state == "completed"
    assert HistoricProcessInstance.objects.filter(state="EXTERNALLY_TERMINATED").count() == 3
    assert set(UserOperationLogEntry.objects.filter(batch_id=batch.id).values_list("operation_type", flat=True)) >= {
        "SuspendBatch",
        "ActivateBatch",
    }


def test_deleting_a_batch_keeps_or_removes_its_history(create, batch_sizes):
    batch_sizes(per_seed=1, invocations=1)
    definition = deploy()
    kept = create("process-instance/delete", {"processInstanceIds": [start(definition).id, start(definition).id]})
    gone = create("process-instance/delete", {"processInstanceIds": [start(definition).id]})
    run_seed(kept)
    run_seed(gone)
    batch_delete(batch=kept, cascade=False, user_id="alice")
    batch_delete(batch=gone, cascade=True, user_id="alice")
    assert not Batch.objects.exists() and not Job.objects.exists()
    historic = HistoricBatch.objects.get(id=kept.id)
    assert historic.final_state == "canceled" and historic.items_pending == 2
    assert not HistoricBatch.objects.filter(id=gone.id).exists()
    assert not BatchItem.objects.filter(batch_id=gone.id).exists()
    assert not HistoricJobLog.objects.filter(job_definition_id=gone.batch_job_definition_id).exists()
    assert HistoricJobLog.objects.filter(job_definition_id=kept.seed_job_definition_id).exists()


def test_creation_writes_one_operation_log_entry_set_with_the_batch_id(create):
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id], "deleteReason": "r"})
    entries = UserOperationLogEntry.objects.filter(batch_id=batch.id)
    assert {e.property: e.new_value for e in entries} == {"nrOfInstances": "1", "async": "true", "deleteReason": "r"}
    assert {(e.operation_type, e.entity_type, e.user_id) for e in entries} == {("Delete", "ProcessInstance", "alice-admin")}
    assert len({e.operation_id for e in entries}) == 1


def test_halving_isolates_exactly_the_failing_items_of_a_large_chunk(create, batch_sizes):
    batch_sizes(per_seed=10, invocations=50)
    definition = deploy()
    instances = [start(definition) for _ in range(11)]
    stuck = [instances[2], instances[7]]
    instances_set_suspended(instance_ids=[i.id for i in stuck], suspended=True)
    batch = create(
        "modification/executeAsync",
        {"processDefinitionId": definition.id, "processInstanceIds": [i.id for i in instances],
         "instructions": [{"type": "startBeforeActivity", "activityId": "service"}]},
    )
    run_seed(batch)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    assert job_execute(job.id, owner="test") == "failed"
    results = items(batch.id)
    assert sorted(t for t, (state, _) in results.items() if state == "FAILED") == sorted(i.id for i in stuck)
    assert [state for state, _ in results.values()].count("SUCCEEDED") == 9
    assert all(entered_service(i) == 1 for i in instances if i not in stuck)
    assert Job.objects.get(id=job.id).exception_message.startswith("2 of 11 items failed")


def test_live_item_counters_always_equal_the_items(create, batch_sizes):
    from batches.selectors import item_counts_for
    from batches.execution import item_counts

    batch_sizes(per_seed=10, invocations=3)
    definition = deploy()
    instances = [start(definition) for _ in range(7)]
    stuck = instances[4]
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create(
        "modification/executeAsync",
        {"processDefinitionId": definition.id, "processInstanceIds": [i.id for i in instances] + ["ghost"],
         "instructions": [{"type": "cancel", "activityId": "task"}]},
    )
    assert item_counts_for([batch.id])[batch.id] == item_counts(batch.id) == {"PENDING": 8, "SUCCEEDED": 0, "SKIPPED": 0, "FAILED": 0}
    run_jobs()
    assert item_counts_for([batch.id])[batch.id] == item_counts(batch.id) == {"PENDING": 0, "SUCCEEDED": 6, "SKIPPED": 1, "FAILED": 1}
    instances_set_suspended(instance_ids=[stuck.id], suspended=False)
    jobs_set_retries(job_ids=[Job.objects.get(job_definition_id=batch.batch_job_definition_id).id], retries=1)
    run_jobs()
    historic = HistoricBatch.objects.get(id=batch.id)
    assert (historic.items_succeeded, historic.items_skipped, historic.items_failed, historic.items_pending) == (7, 1, 0, 0)


def test_execution_start_time_is_when_the_first_execution_job_started(create, batch_sizes):
    batch_sizes(per_seed=10, invocations=2)
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id for _ in range(4)]})
    run_seed(batch)
    assert Batch.objects.get(id=batch.id).execution_start_time is None
    before = timezone.now()
    first = Job.objects.filter(job_definition_id=batch.batch_job_definition_id).order_by("id").first()
    assert job_execute(first.id, owner="test") == "succeeded"
    started = Batch.objects.get(id=batch.id).execution_start_time
    assert started is not None and before <= started <= timezone.now()
    assert HistoricBatch.objects.get(id=batch.id).execution_start_time == started
    run_jobs()
    assert HistoricBatch.objects.get(id=batch.id).execution_start_time == started  # later jobs keep the first time


def test_a_chunk_does_its_work_unlocked_and_locks_batch_before_historic_batch(create, batch_sizes):
    """The lock order every batch path follows (job row, Batch, HistoricBatch): two workers on
    PostgreSQL deadlocked in most multi-chunk batches when chunks wrote the counters first."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks (FOR UPDATE) exist on PostgreSQL only")
    batch_sizes(per_seed=10, invocations=3)
    definition = deploy()
    batch = create("process-instance/delete", {"processInstanceIds": [start(definition).id for _ in range(6)]})
    run_seed(batch)
    sent: list[str] = []

    def capture(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    job = Job.objects.filter(job_definition_id=batch.batch_job_definition_id).order_by("id").first()
    with connection.execute_wrapper(capture):
        assert job_execute(job.id, owner="test") == "succeeded"
    locks_batch = [n for n, sql in enumerate(sent) if 'FROM "batches_batch"' in sql and "FOR UPDATE" in sql]
    writes_history = [n for n, sql in enumerate(sent) if sql.startswith('UPDATE "batches_historicbatch"')]
    first_work = next(n for n, sql in enumerate(sent) if '"engine_processinstance"' in sql)
    assert locks_batch and writes_history and locks_batch[0] < writes_history[0]
    assert first_work < locks_batch[0]  # the chunk itself runs without holding the batch row


def test_deleting_a_failed_batch_with_its_history_leaves_none_of_its_rows(create, batch_sizes):
    """Its items, job log (the deletion rows its removed jobs just wrote too) and its jobs' incidents go."""
    from batches.services import historic_batch_delete
    from engine.models import HistoricIncident

    batch_sizes(per_seed=1, invocations=1)
    definition = deploy()
    stuck = start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    failed = create("modification/executeAsync", {
        "processDefinitionId": definition.id, "processInstanceIds": [stuck.id],
        "instructions": [{"type": "cancel", "activityId": "task"}],
    })
    run_jobs()
    definitions = [failed.seed_job_definition_id, failed.monitor_job_definition_id, failed.batch_job_definition_id]
    assert Incident.objects.filter(job_definition_id=failed.batch_job_definition_id).exists()
    batch_delete(batch=failed, cascade=True, user_id="alice")
    assert not HistoricBatch.objects.filter(id=failed.id).exists()
    assert not BatchItem.objects.filter(batch_id=failed.id).exists()
    assert not HistoricJobLog.objects.filter(job_definition_id__in=definitions).exists()
    assert not HistoricIncident.objects.filter(job_definition_id__in=definitions).exists()

    done = create("process-instance/delete", {"processInstanceIds": [start(definition).id]})
    run_jobs()
    historic_batch_delete(historic=HistoricBatch.objects.get(id=done.id), user_id="alice")
    assert not HistoricBatch.objects.filter(id=done.id).exists() and not BatchItem.objects.filter(batch_id=done.id).exists()
    assert not HistoricJobLog.objects.filter(job_definition_id=done.batch_job_definition_id).exists()
