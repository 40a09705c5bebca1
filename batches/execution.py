"""Batch job handlers: the seed job, the execution jobs (chunks of items), the monitor, and completion."""
from __future__ import annotations

import traceback
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations import operation_for
from batches.operations.base import BatchOperation
from batches.operations.removal_time import batch_removal_time_on_end
from batches.pacing import batch_opening, is_paced, throttle_reserve
from batches.progress import progress_sample_record
from batches.signals import batch_event_on_commit
from engine.models import Incident, Job, JobDefinition, new_id
from engine.services.incidents import incidents_remove
from engine.services.jobs import (
    Failed, Reschedule, job_create, job_share_should_yield, job_shares_enabled, jobs_create_bulk, register_job_handler,
)
from engine.query import format_date, parse_date
from engine.services.lifecycle import ChunkResult

SEED_JOB = "batch-seed-job"
MONITOR_JOB = "batch-monitor-job"


def job_definition_ids(batch: Batch | HistoricBatch) -> list[str]:
    return [batch.seed_job_definition_id, batch.monitor_job_definition_id, batch.batch_job_definition_id]


# --- the three job handlers ----------------------------------------------------------------------


def run_seed_job(job: Job) -> Reschedule | None:
    """Create the next batchJobsPerSeed execution jobs; reschedule until all exist, then start the monitor."""
    batch = Batch.objects.select_for_update().filter(id=job.handler_configuration["batchId"]).first()
    if batch is None:
        return None
    count = min(batch.batch_jobs_per_seed, batch.total_jobs - batch.jobs_created)
    definition = JobDefinition.objects.get(id=batch.batch_job_definition_id)
    size = batch.invocations_per_batch_job
    jobs_create_bulk(
        [
            Job(
                id=new_id(),
                job_definition=definition,
                job_type=batch.type,
                handler_configuration={"batchId": batch.id, "first": k * size, "last": (k + 1) * size},
                retries=settings.ENGINE["DEFAULT_JOB_RETRIES"],
                tenant_id=batch.tenant_id,
            )
            for k in range(batch.jobs_created, batch.jobs_created + count)
        ]
    )
    batch.jobs_created += count
    batch.save(update_fields=["jobs_created"])
    now = timezone.now()
    if batch.jobs_created < batch.total_jobs:
        return Reschedule(due_date=now)
    job_create(
        job_type=MONITOR_JOB,
        job_definition=JobDefinition.objects.get(id=batch.monitor_job_definition_id),
        handler_configuration={"batchId": batch.id},
        due_date=now + timedelta(seconds=settings.BATCH["POLL_SECONDS"]),
        tenant_id=batch.tenant_id,
    )
    return None


def run_execution_job(job: Job) -> Failed | Reschedule | None:
    """Apply the operation to this job's unfinished items; keep what succeeded, fail on item errors.

    A throttled or scheduled batch (batches.pacing) works its range in slices instead (run_paced_slice).
    """
    batch = Batch.objects.filter(id=job.handler_configuration["batchId"]).first()
    if batch is None:
        return None
    if is_paced(batch):
        return run_paced_slice(job, batch)
    config = job.handler_configuration
    slice_items = _yield_slice_items()
    if slice_items and (CURSOR in config or config["last"] - config["first"] > slice_items):
        return run_yielding_slices(job, batch, slice_items)
    if CURSOR in config:  # stopped part-way while it was paced or yielding
        return run_paced_slice(job, batch)
    started = timezone.now()
    previous = dict(
        BatchItem.objects.filter(batch_id=batch.id, seq__gte=config["first"], seq__lt=config["last"])
        .exclude(state__in=[BatchItem.SUCCEEDED, BatchItem.SKIPPED])
        .order_by("seq")
        .values_list("target_id", "state")
    )
    # In id order: a failing chunk is halved, and PostgreSQL releases the locks of a rolled-back
    # savepoint, so each half locks again; sorted halves keep every lock in id order (engine.locking).
    items = sorted(previous)
    span = (config["first"], config["last"])
    failures = _run_items(operation_for(batch.type), batch.configuration, batch.id, items, previous, span)
    _mark_execution_started(batch.id, started)
    if failures:
        target, exc = failures[0]
        message = f"{len(failures)} of {len(items)} items failed; first {target}: {exc}"
        _note_first_failure(batch.id)
        return Failed(message=message, stacktrace="".join(traceback.format_exception(exc)))
    batch_complete_if_done(batch.id, finishing_job_id=job.id)
    return None


def _yield_slice_items() -> int:
    return int(settings.BATCH.get("YIELD_SLICE_ITEMS", 0) or 0) if job_shares_enabled() else 0


def run_yielding_slices(job: Job, batch: Batch, slice_items: int) -> Failed | Reschedule | None:
    """Work the job's range slice by slice in this transaction, stopping after any slice when a
    process job (or another batch's seed) waits: the job is rescheduled at once with its cursor, the
    transaction commits, and the worker runs the waiting job (engine.services.jobs, fair shares).
    Slices start at slice_items and double while nobody waits.

    The historic counters and the execution start are written once, at the end, as a whole job
    writes them: they lock the batch (_lock_batch), and held from the first slice on, that lock
    would make the other workers' jobs of the batch wait for this one's commit.
    """
    config = dict(job.handler_configuration)
    config.pop(RESERVED_AT, None)
    config.pop(RESERVED_ITEMS, None)
    cursor = config.get(CURSOR, config["first"])
    end = min(config["last"], batch.total_items)
    started, failures, more = timezone.now(), [], False
    moves: dict[str, int] = {}
    deferred = _DEFERRED_MOVES.set(moves)
    size = slice_items
    try:
        while True:
            chunk, more = _next_slice(batch.id, cursor, end, size)
            failures += _run_slice(batch, chunk)
            if not more:
                break
            cursor = chunk[-1][0] + 1
            if job_share_should_yield(job):
                break
            # Nobody waited: the next slice is twice as long. Each slice costs the operation's
            # statements once more, so with no process jobs about a job takes a few slices, not
            # range / slice_items of them; under process load it yields after the first.
            size *= 2
    finally:
        _DEFERRED_MOVES.reset(deferred)
    _apply_moves(batch.id, moves)
    _mark_execution_started(batch.id, started)
    if more:
        config[CURSOR] = cursor
        _save_config(job, config)
        return Reschedule(due_date=timezone.now())
    return _range_ended(job, batch, config, end, failures)


# --- paced execution jobs (batches.pacing) --------------------------------------------------------
CURSOR = "cursor"  # handler_configuration: the seq where the next slice of the range begins
RESERVED_AT = "reservedAt"  # a slice reserved on the batch's throttle, worked when it is due
RESERVED_ITEMS = "reservedItems"


def run_paced_slice(job: Job, batch: Batch) -> Failed | Reschedule | None:
    """Work the next slice of this job's range if the schedule and the throttle allow it now.

    Outside the schedule: reschedule to its next opening without working. Throttled: a slice is
    reserved on the batch's shared timeline before it is worked; a reservation in the future
    reschedules the job to it. After a slice the cursor is stored on the job; at the end of the
    range the job fails as today if items of the range failed, so a retry retries only those.
    """
    now = timezone.now()
    config = dict(job.handler_configuration)
    opening = batch_opening(batch, now)
    if opening is not None:
        config.pop(RESERVED_AT, None)
        config.pop(RESERVED_ITEMS, None)
        _save_config(job, config)
        return Reschedule(due_date=opening)
    cursor = config.get(CURSOR, config["first"])
    end = min(config["last"], batch.total_items)
    size = end - cursor  # unthrottled: the rest of the range
    reserved_at = config.pop(RESERVED_AT, None)
    reserved = config.pop(RESERVED_ITEMS, None)
    if reserved_at is not None and parse_date(reserved_at) <= now:
        size = reserved  # a reservation that is due (one made before a rate change was dropped above)
    elif batch.max_items_per_second is not None:
        reservation = throttle_reserve(batch_id=batch.id, now=now, at_most=max(size, 1))
        if reservation is not None:
            start, size = reservation
            if start > now:
                _save_config(job, {**config, RESERVED_AT: format_date(start), RESERVED_ITEMS: size})
                return Reschedule(due_date=start)
    return _work_slice(job, batch, config, cursor, end, max(size, 1), now)


def _next_slice(batch_id: str, cursor: int, end: int, size: int) -> tuple[list[tuple], bool]:
    """The next size unfinished items (seq, target, state) of [cursor, end), and whether more follow."""
    rows = list(
        BatchItem.objects.filter(batch_id=batch_id, seq__gte=cursor, seq__lt=end)
        .exclude(state__in=[BatchItem.SUCCEEDED, BatchItem.SKIPPED])
        .order_by("seq")
        .values_list("seq", "target_id", "state")[: size + 1]
    )
    return rows[:size], len(rows) > size


def _run_slice(batch: Batch, chunk: list[tuple]) -> list:
    """Run a slice's (seq, target, state) rows (_next_slice); its items lie in [first seq, last seq]."""
    if not chunk:
        return []
    previous = {target: state for _, target, state in chunk}
    span = (chunk[0][0], chunk[-1][0] + 1)
    return _run_items(operation_for(batch.type), batch.configuration, batch.id, sorted(previous), previous, span)


def _work_slice(job: Job, batch: Batch, config: dict, cursor: int, end: int, size: int, started) -> Failed | Reschedule | None:
    chunk, more = _next_slice(batch.id, cursor, end, size)
    failures = _run_slice(batch, chunk)
    _mark_execution_started(batch.id, started)
    if more:
        config[CURSOR] = chunk[-1][0] + 1
        due = timezone.now()
        reservation = throttle_reserve(batch_id=batch.id, now=due, at_most=end - config[CURSOR]) if batch.max_items_per_second else None
        if reservation is not None:  # reserve the next slice now: one wake-up per slice
            due, items = reservation
            config.update({RESERVED_AT: format_date(due), RESERVED_ITEMS: items})
        _save_config(job, config)
        return Reschedule(due_date=due)
    return _range_ended(job, batch, config, end, failures)


def _range_ended(job: Job, batch: Batch, config: dict, end: int, failures: list) -> Failed | None:
    """The job's range is worked: fail the job if items of it failed (a retry retries only those),
    else see whether the batch is done."""
    config.pop(CURSOR, None)
    _save_config(job, config)
    failed = BatchItem.objects.filter(batch_id=batch.id, seq__gte=config["first"], seq__lt=end, state=BatchItem.FAILED)
    first_failed = failed.order_by("seq").values_list("target_id", "detail").first()
    if first_failed is not None:
        message = f"{failed.count()} of {end - config['first']} items failed; first {first_failed[0]}: {first_failed[1]}"
        stacktrace = "".join(traceback.format_exception(failures[-1][1])) if failures else (first_failed[1] or "")
        _note_first_failure(batch.id)
        return Failed(message=message, stacktrace=stacktrace)
    batch_complete_if_done(batch.id, finishing_job_id=job.id)
    return None


def _save_config(job: Job, config: dict) -> None:
    """The job's cursor and reservation, written in the handler's transaction."""
    job.handler_configuration = config
    Job.objects.filter(id=job.id).update(handler_configuration=config)


def run_monitor_job(job: Job) -> Reschedule | None:
    """The safety net: complete the batch if nothing is left, else look again after batchPollTime."""
    if batch_complete_if_done(job.handler_configuration["batchId"], finishing_job_id=job.id):
        return None
    if not Batch.objects.filter(id=job.handler_configuration["batchId"]).exists():
        return None
    return Reschedule(due_date=timezone.now() + timedelta(seconds=settings.BATCH["POLL_SECONDS"]))


def _note_first_failure(batch_id: str) -> None:
    """The first failed execution job of a batch is an event (batches.signals), sent once."""
    batch = _lock_batch(batch_id)
    if batch is not None and batch.first_failure_at is None:
        Batch.objects.filter(id=batch_id).update(first_failure_at=timezone.now())
        batch_event_on_commit(batch_id, "first_failed_job")


def _lock_batch(batch_id: str) -> Batch | None:
    """Lock the runtime batch row. The lock order is: the job's own row, then Batch, then HistoricBatch.

    Completion, the monitor and deletion lock Batch before they write HistoricBatch, so a chunk
    locks Batch before it writes the historic counters. It does that at the end of its chunk, so
    chunks still run in parallel and only their last statements queue. (With the opposite order,
    two workers deadlocked on PostgreSQL in most multi-chunk batches, and one lost a second to
    deadlock detection: bench/RESULTS.md.)
    """
    return Batch.objects.select_for_update().filter(id=batch_id).first()


def _mark_execution_started(batch_id: str, started) -> None:
    """executionStartTime is when the first execution job started, written under the batch lock."""
    batch = _lock_batch(batch_id)
    if batch is not None and (batch.execution_start_time is None or batch.execution_start_time > started):
        Batch.objects.filter(id=batch_id).update(execution_start_time=started)
        HistoricBatch.objects.filter(id=batch_id).update(execution_start_time=started)


def _run_items(operation: BatchOperation, configuration: dict, batch_id: str, targets: list[str], previous: dict,
               span: tuple[int, int]):
    """The whole chunk set-based; if that raises, halve it (savepoints) until the failing items are isolated.

    span: the positions [first, last) the targets' items lie in. Their results are written by target
    within it, so the database reads the job's range (the unique position index), not the whole batch.

    A chunk with k failing items of n costs about k·log2(n) extra attempts instead of n. A database
    error (deadlock, lost connection, "database is locked") is not an item's fault: it fails the
    whole job, which is retried like any failed job, instead of marking items FAILED.
    """
    if not targets:
        return []
    try:
        with transaction.atomic():
            result = operation.run_chunk(targets, configuration)
            _record(batch_id, result, previous, span)
        return [(target, ItemFailed(reason)) for target, reason in result.failed.items()]
    except (OperationalError, InterfaceError):
        raise  # the database, not an item (deadlock, lost connection, locked): the job fails and is retried whole
    except Exception as exc:  # recorded on the item below, and on the job through Failed
        if len(targets) == 1:
            _items_in(batch_id, span).filter(target_id=targets[0]).update(
                state=BatchItem.FAILED, detail=(str(exc) or type(exc).__name__)[:4000], updated_at=timezone.now()
            )
            _count_moves(batch_id, previous, targets, BatchItem.FAILED)
            return [(targets[0], exc)]
    middle = len(targets) // 2
    return _run_items(operation, configuration, batch_id, targets[:middle], previous, span) + _run_items(
        operation, configuration, batch_id, targets[middle:], previous, span
    )


COUNTERS = {
    BatchItem.SUCCEEDED: "items_succeeded",
    BatchItem.SKIPPED: "items_skipped",
    BatchItem.FAILED: "items_failed",
    BatchItem.PENDING: "items_pending",
}


def _count_moves(batch_id: str, previous: dict, targets, new_state: str) -> None:
    """Keep the historic batch's item counters current, so statistics never count items."""
    moves: dict[str, int] = {}
    for target in targets:
        old = previous.get(target, BatchItem.PENDING)
        if old != new_state:
            moves[old] = moves.get(old, 0) - 1
            moves[new_state] = moves.get(new_state, 0) + 1
        previous[target] = new_state
    deferred = _DEFERRED_MOVES.get()
    if deferred is not None:  # a job working slices writes them once, at its end (run_yielding_slices)
        for state, n in moves.items():
            deferred[state] = deferred.get(state, 0) + n
        return
    _apply_moves(batch_id, moves)


def _apply_moves(batch_id: str, moves: dict[str, int]) -> None:
    changes = {COUNTERS[state]: F(COUNTERS[state]) + n for state, n in moves.items() if n}
    if changes:
        _lock_batch(batch_id)
        HistoricBatch.objects.filter(id=batch_id).update(**changes)
        progress_sample_record(batch_id)  # at most one per second and batch: the details page's chart


# While a job works its range in slices: the counter moves, written once at its end.
_DEFERRED_MOVES: ContextVar[dict[str, int] | None] = ContextVar("deferred_counter_moves", default=None)


class ItemFailed(Exception):
    """An item the operation reported as failed (ChunkResult.failed), with its reason."""


def _items_in(batch_id: str, span: tuple[int, int]) -> QuerySet:
    return BatchItem.objects.filter(batch_id=batch_id, seq__gte=span[0], seq__lt=span[1])


def _record(batch_id: str, result: ChunkResult, previous: dict, span: tuple[int, int]) -> None:
    _count_moves(batch_id, previous, result.changed, BatchItem.SUCCEEDED)
    _count_moves(batch_id, previous, result.skipped, BatchItem.SKIPPED)
    _count_moves(batch_id, previous, result.failed, BatchItem.FAILED)
    now = timezone.now()
    items = _items_in(batch_id, span)
    if result.changed:
        items.filter(target_id__in_ids=set(result.changed)).update(state=BatchItem.SUCCEEDED, detail=None, updated_at=now)
    for state, reasons in ((BatchItem.SKIPPED, result.skipped), (BatchItem.FAILED, result.failed)):
        by_reason: dict[str, list[str]] = {}
        for target, reason in reasons.items():
            by_reason.setdefault(reason[:4000], []).append(target)
        for reason, targets in by_reason.items():
            items.filter(target_id__in_ids=set(targets)).update(state=state, detail=reason, updated_at=now)


# --- completion ----------------------------------------------------------------------------------


def batch_complete_if_done(batch_id: str, *, finishing_job_id: str | None = None) -> bool:
    """End the batch when every execution job exists no more. The row lock orders concurrent last jobs."""
    batch = Batch.objects.select_for_update().filter(id=batch_id).first()
    if batch is None or batch.jobs_created < batch.total_jobs:
        return False
    remaining = Job.objects.filter(job_definition_id=batch.batch_job_definition_id)
    if finishing_job_id:
        remaining = remaining.exclude(id=finishing_job_id)
    if remaining.exists():
        return False
    batch_end(batch, canceled=False)
    return True


def item_counts(batch_id: str) -> dict[str, int]:
    counts = dict(
        BatchItem.objects.filter(batch_id=batch_id).values_list("state").annotate(n=Count("id")).values_list("state", "n")
    )
    return {state: counts.get(state, 0) for state in BatchItem.STATES}


def batch_end(batch: Batch, *, canceled: bool) -> None:
    counts = item_counts(batch.id)
    if canceled:
        final = HistoricBatch.CANCELED
    elif counts[BatchItem.FAILED] and counts[BatchItem.FAILED] == sum(counts.values()):
        final = HistoricBatch.FAILED
    elif counts[BatchItem.FAILED] or counts[BatchItem.PENDING]:
        final = HistoricBatch.COMPLETED_WITH_FAILURES
    else:
        final = HistoricBatch.COMPLETED
    HistoricBatch.objects.filter(id=batch.id).update(
        end_time=timezone.now(),
        final_state=final,
        items_succeeded=counts[BatchItem.SUCCEEDED],
        items_skipped=counts[BatchItem.SKIPPED],
        items_failed=counts[BatchItem.FAILED],
        items_pending=counts[BatchItem.PENDING],
    )
    progress_sample_record(batch.id, force=True)  # the chart's last point: the final counts
    batch_runtime_remove(batch)
    batch_removal_time_on_end(batch.id)  # the historic batch's removal time (end strategy)
    batch_event_on_commit(batch.id, final)


def batch_runtime_remove(batch: Batch) -> None:
    definitions = job_definition_ids(batch)
    incidents_remove(Incident.objects.filter(job_definition_id__in=definitions), resolved=False)
    JobDefinition.objects.filter(id__in=definitions).delete()  # its jobs go with it
    Batch.objects.filter(id=batch.id).delete()


def batch_job_priority() -> int:
    """Camunda's batchJobPriority (BATCH_JOB_PRIORITY): the priority of every new seed, monitor and
    execution job, unless its job definition has an overriding priority (PUT /job-definition/{id}/jobPriority)."""
    return settings.BATCH.get("JOB_PRIORITY", 0)


def register_handlers() -> None:
    """Execution jobs form the "batch" share (engine.services.jobs, fair shares): they yield to the
    engine's own jobs, run at most BATCH_MAX_RUNNING_JOBS at once, and batches take turns. Seed and
    monitor jobs are short and stay outside it."""
    register_job_handler(SEED_JOB, run_seed_job, priority=batch_job_priority)
    register_job_handler(MONITOR_JOB, run_monitor_job, priority=batch_job_priority)
    from batches.operations import REGISTRY
    from engine.services.jobs import JobShare

    share = JobShare("batch", max_running=lambda: settings.BATCH.get("MAX_RUNNING_JOBS", 0), leaders=(SEED_JOB,))
    for batch_type in REGISTRY:
        register_job_handler(batch_type, run_execution_job, priority=batch_job_priority, share=share)
