"""The job executor: durable job rows, q2 wake-ups, compare-and-set locks, retries, incidents."""
from __future__ import annotations

import logging
import socket
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone

from engine.locking import instance_lock, jobs_lock
from engine.models import HistoricJobLog, Incident, Job, JobDefinition
from engine.services.incidents import incident_record, incidents_remove

logger = logging.getLogger(__name__)

EXECUTE_TASK = "engine.tasks.execute_job"
SWEEP_TASK = "engine.tasks.sweep_jobs"
SWEEP_SCHEDULE_NAME = "engine: sweep due and orphaned jobs"


@dataclass(frozen=True)
class Reschedule:
    """Returned by a handler to keep its job and run it again at due_date (seed and monitor jobs)."""

    due_date: datetime


@dataclass(frozen=True)
class Failed:
    """Returned by a handler whose work must be kept (committed) while the job still counts as failed.

    A batch execution job uses it: the items that succeeded stay done, the job loses a retry and
    keeps the error, and only the unfinished items run again on retry.
    """

    message: str
    stacktrace: str


@dataclass(frozen=True)
class JobShare:
    """Bulk work (the execution jobs of batches) that must not crowd out the engine's own jobs.

    max_running: how many jobs of the share may run at once across all nodes (0: no cap), read at
    each acquisition so a settings change applies at once. The jobs of one job definition (one
    batch) are one tenant of the share; tenants get the share's workers in turn.
    leaders: job types outside the share that go before its jobs like process jobs do, because
    they create them (a batch's seed): a batch created later must not wait behind every wake-up
    of the first batch's chunks. Only finite work belongs here; a job that polls for ever (a
    batch's monitor) would take every wake-up of the share in turn and starve it.
    """

    name: str
    max_running: Callable[[], int]
    leaders: tuple[str, ...] = ()


JobHandler = Callable[[Job], "Reschedule | Failed | None"]
JOB_HANDLERS: dict[str, JobHandler] = {}
# The priority a new job of a type gets unless its job definition overrides it (default 0).
JOB_PRIORITIES: dict[str, Callable[[], int]] = {}
# The job types that belong to a share (register_job_handler(share=...)).
JOB_SHARES: dict[str, JobShare] = {}


def register_job_handler(
    job_type: str, handler: JobHandler, *, priority: Callable[[], int] | None = None, share: JobShare | None = None
) -> None:
    """priority: the default priority of new jobs of this type, read when each job is created
    (batch jobs: Camunda's batchJobPriority setting). share: the jobs of this type are bulk work
    that yields to the engine's own jobs and shares workers fairly (see "Fair shares" below)."""
    if share is not None:
        JOB_SHARES[job_type] = share
        handler = _handing_off(handler, share)
    JOB_HANDLERS[job_type] = handler
    if priority is not None:
        JOB_PRIORITIES[job_type] = priority


def initial_priority(job_type: str, definition: JobDefinition | None, given: int | None) -> int:
    """Camunda's DefaultJobPriorityProvider: the job definition's overriding priority wins, then the
    priority the creator gives, then the default of the job type, then 0."""
    if definition is not None and definition.overriding_job_priority is not None:
        return definition.overriding_job_priority
    if given is not None:
        return given
    default = JOB_PRIORITIES.get(job_type)
    return default() if default is not None else 0


def _config(name: str) -> int | bool:
    return settings.ENGINE[name]


def due_q(now: datetime) -> Q:
    return Q(due_date__isnull=True) | Q(due_date__lte=now)


def unlocked_q(now: datetime) -> Q:
    return Q(lock_expiration_time__isnull=True) | Q(lock_expiration_time__lt=now)


def executable_jobs(now: datetime):
    return Job.objects.filter(suspended=False, retries__gt=0).filter(due_q(now)).filter(unlocked_q(now))


def worker_id() -> str:
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


# --- creation and wake-ups ------------------------------------------------------------


def job_log_write(job: Job, *, kind: str, timestamp: datetime | None = None) -> None:
    HistoricJobLog.objects.create(**_job_log_fields(job, kind, timestamp or timezone.now()))


def _job_log_fields(job: Job, kind: str, when: datetime) -> dict:
    definition = job.job_definition
    return {
        "timestamp": when,
        "job_id": job.id,
        "job_due_date": job.due_date,
        "job_retries": job.retries,
        "job_priority": job.priority,
        "job_exception_message": job.exception_message if kind == "failure" else None,
        "exception_stacktrace": job.exception_stacktrace if kind == "failure" else None,
        "job_definition_id": job.job_definition_id,
        "job_definition_type": definition.job_type if definition else job.job_type,
        "job_definition_configuration": definition.job_configuration if definition else None,
        "activity_id": job.activity_id,
        "process_instance_id": job.process_instance_id,
        "process_definition_id": job.process_definition_id,
        "process_definition_key": job.process_definition_key,
        "tenant_id": job.tenant_id,
        "hostname": socket.gethostname(),
        f"{kind}_log": True,
    }


def jobs_log_bulk(jobs: Iterable[Job], *, kind: str) -> None:
    now = timezone.now()
    rows = [HistoricJobLog(**_job_log_fields(j, kind, now)) for j in jobs]
    if rows:
        HistoricJobLog.objects.bulk_create(rows)


def jobs_log_deletions(jobs: QuerySet) -> None:
    """A deletion log row for every job of the queryset, in one INSERT ... SELECT (no rows in Python)."""
    try:
        sub_sql, sub_params = jobs.order_by().values("id").query.sql_with_params()
    except EmptyResultSet:
        return
    q = connection.ops.quote_name
    log, job, definition = (q(m._meta.db_table) for m in (HistoricJobLog, Job, JobDefinition))
    columns = (
        "id, timestamp, job_id, job_due_date, job_retries, job_priority, job_definition_id, job_definition_type, "
        "job_definition_configuration, activity_id, process_instance_id, process_definition_id, "
        "process_definition_key, tenant_id, hostname, creation_log, failure_log, success_log, deletion_log"
    )
    statement = (
        f"INSERT INTO {log} ({columns}) "
        f"SELECT j.id || ':deleted', %s, j.id, j.due_date, j.retries, j.priority, j.job_definition_id, "
        f"COALESCE(d.job_type, j.job_type), d.job_configuration, j.activity_id, j.process_instance_id, "
        f"j.process_definition_id, j.process_definition_key, j.tenant_id, %s, %s, %s, %s, %s "
        f"FROM {job} j LEFT JOIN {definition} d ON d.id = j.job_definition_id WHERE j.id IN ({sub_sql})"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(statement, [now, socket.gethostname(), False, False, False, True, *sub_params])


def job_create(*, job_type: str, job_definition: JobDefinition | None = None, **fields) -> Job:
    """Insert a job; a due, active job gets its q2 wake-up when the transaction commits."""
    now = timezone.now()
    fields.setdefault("retries", _config("DEFAULT_JOB_RETRIES"))
    if job_definition is not None and job_definition.suspended:
        fields["suspended"] = True  # born suspended, like its definition
    fields["priority"] = initial_priority(job_type, job_definition, fields.get("priority"))
    job = Job(job_type=job_type, job_definition=job_definition, create_time=now, **fields)
    job.save(force_insert=True)
    job_log_write(job, kind="creation", timestamp=now)
    if not job.suspended and (job.due_date is None or job.due_date <= now):
        jobs_enqueue_on_commit([job.id])
    return job


def jobs_create_bulk(jobs: list[Job]) -> None:
    """Insert many jobs with their creation log; due, active ones are woken up on commit."""
    now = timezone.now()
    for job in jobs:
        job.create_time = now
        if job.job_definition is not None and job.job_definition.suspended:
            job.suspended = True
        # A job built without a priority has the model's 0: the definition's or the type's default applies.
        job.priority = initial_priority(job.job_type, job.job_definition, job.priority or None)
    Job.objects.bulk_create(jobs)
    jobs_log_bulk(jobs, kind="creation")
    jobs_enqueue_on_commit([j.id for j in jobs if not j.suspended and (j.due_date is None or j.due_date <= now)])


def jobs_enqueue_on_commit(job_ids: list[str]) -> None:
    if job_ids:
        transaction.on_commit(lambda: jobs_enqueue(job_ids))


def jobs_enqueue(job_ids: list[str]) -> None:
    """Send one q2 task per job. Delivery is at least once; the lock makes duplicates harmless."""
    if not job_ids or not _config("ENQUEUE_JOBS"):
        return
    from django_q.tasks import async_task

    _mark_enqueued(job_ids)
    for job_id in job_ids:
        async_task(EXECUTE_TASK, job_id, task_name=f"job {job_id}")


def _mark_enqueued(job_ids: list[str]) -> None:
    """Note the wake-up time on the jobs, skipping rows another transaction holds.

    A held row is being changed (run, suspended, deleted) by a writer that may hold its instance
    too; waiting for it here, with other job rows already updated, could close a lock cycle. A
    skipped row just keeps an older enqueued_at, and the sweep's second wake-up is harmless.
    """
    with transaction.atomic():
        free = Job.objects.select_for_update(skip_locked=True).filter(id__in_ids=set(job_ids)).order_by("id")
        Job.objects.filter(id__in_ids=set(free.values_list("id", flat=True))).update(enqueued_at=timezone.now())


# --- execution -----------------------------------------------------------------------------


def job_execute(job_id: str, *, owner: str) -> str:
    """Acquire a job for this wake-up (job_acquire), run its handler, then delete, reschedule or fail it.

    A transaction that the database aborts to break a lock cycle or a serialisation conflict is
    not the job's fault: it runs again at once (up to CONFLICT_ATTEMPTS times) and costs no retry.
    """
    acquired = job_acquire(job_id, owner=owner)
    if acquired is None:
        return "not-acquired"
    try:
        return _run_acquired(acquired, owner)
    finally:
        if acquired != job_id:
            _wake_again(job_id)  # this wake-up ran a job of higher priority: the woken job waits its turn


# Acquisition by priority (Camunda's jobExecutorAcquireByPriority: ORDER BY PRIORITY_ DESC among the
# acquirable jobs; equal priorities keep the executor's default order, here the order of the wake-ups,
# which follow creation). Each due job gets one wake-up; a wake-up runs the job it names unless an
# executable job of higher priority waits, which it runs instead, sending the named job a new wake-up
# behind the queue. The lowest and highest priority among executable jobs are read at most once per
# PRIORITY_BOUNDS_TTL seconds per worker, so while all jobs share one priority (the usual case: 0) a
# wake-up costs no extra query; only when they differ is the job's own priority compared.
PRIORITY_BOUNDS_TTL = 1.0
ACQUIRE_CANDIDATES = 5
_bounds_cache: dict[str, object] = {"at": None, "value": None}


def job_acquire(job_id: str, *, owner: str, now: datetime | None = None) -> str | None:
    """Lock (compare-and-set) the job this wake-up runs: job_id, or an executable one of higher priority.

    A job of a share (a batch execution job) is only taken by _share_acquire, after the engine's
    own jobs and within the share's cap: excluding share types from the first UPDATE costs no
    query, so the wake-up of a process job takes exactly the statements it took before shares.
    """
    now = now or timezone.now()
    lock = {"lock_owner": owner, "lock_expiration_time": now + timedelta(seconds=_config("JOB_LOCK_SECONDS"))}
    shared = _shared_types()
    if _config("ACQUIRE_BY_PRIORITY"):
        for candidate in higher_priority_jobs(job_id, now):
            if executable_jobs(now).filter(id=candidate).update(**lock) == 1:
                return candidate
    own = executable_jobs(now).filter(id=job_id)
    if shared:
        own = own.exclude(job_type__in=shared)
    if own.update(**lock) == 1:
        return job_id
    return _share_acquire(job_id, now, lock) if shared else None


def higher_priority_jobs(job_id: str, now: datetime) -> list[str]:
    """Executable jobs of higher priority than job_id, highest first (then oldest), a few at most.

    Jobs of a share are left out: they are woken on their own and must pass the share's cap.
    """
    bounds = _priority_bounds(now)
    if bounds is None or bounds[0] == bounds[1]:
        return []
    own = Job.objects.filter(id=job_id).values_list("priority", flat=True).first()
    if own is None or own >= bounds[1]:
        return []
    higher = executable_jobs(now).filter(priority__gt=own).order_by("-priority", "create_time", "id")
    shared = _shared_types()
    if shared:
        higher = higher.exclude(job_type__in=shared)
    return list(higher.values_list("id", flat=True)[:ACQUIRE_CANDIDATES])


def _priority_bounds(now: datetime) -> tuple[int, int] | None:
    at = _bounds_cache["at"]
    if at is None or time.monotonic() - at >= PRIORITY_BOUNDS_TTL:
        found = executable_jobs(now).aggregate(low=Min("priority"), high=Max("priority"))
        _bounds_cache["value"] = None if found["high"] is None else (found["low"], found["high"])
        _bounds_cache["at"] = time.monotonic()
    return _bounds_cache["value"]


def acquisition_order() -> tuple[str, ...]:
    """The order wake-ups are (re-)sent in: highest priority first when acquiring by priority."""
    return ("-priority", "create_time") if _config("ACQUIRE_BY_PRIORITY") else ("create_time",)



# --- fair shares: bulk jobs yield to the engine's own jobs, within a cap, in turn ------------------
# Batch execution jobs register with share= (batches.execution); the engine knows nothing of batches.
# A wake-up of a share job, in order:
# 1. runs an executable process job (a service task's continuation) or a job of the share's leaders
#    (a batch's seed) of equal or higher priority instead, if one waits: the engine's own work goes
#    first, as with priorities, and the share job gets a new wake-up behind the queue (job_execute);
# 2. parks the job if the share already runs max_running jobs (locked, unexpired rows, counted under
#    a share lock so two nodes cannot both take the last slot): its enqueued_at is cleared and the
#    wake-up ends at once. When a share job ends, its slot is handed to the next parked job
#    (job_share_hand_off, after the handler's commit), under the same lock, so no slot is lost; the
#    sweep re-sends any parked job a hand-off missed. A parked job keeps its due date (a batch job
#    shows no dueDate), and nothing polls: parked jobs cost nothing until a slot frees;
# 3. runs a job of the tenant (job definition, i.e. batch) whose turn it is, which need not be the
#    woken job's: the one with the fewest running jobs, then the one this worker served longest ago.
#    A batch started later is not queued behind every chunk of the first (their wake-ups are).
# With max_running 0 there is no cap, and 1. and 3. still apply. JOB_FAIR_SHARES=false turns all of
# it off (share jobs are taken like any other: first come, first served).
SHARE_LOCK_NAMESPACE = "job-share:"
HAND_OFF_MAX = 8


def _shared_types() -> tuple[str, ...]:
    return tuple(JOB_SHARES) if JOB_SHARES and settings.ENGINE.get("FAIR_SHARES", True) else ()


def job_shares_enabled() -> bool:
    """Whether the fair-share rules apply (JOB_FAIR_SHARES, on by default)."""
    return bool(_shared_types())


def _share_types(share: JobShare) -> tuple[str, ...]:
    return tuple(job_type for job_type, s in JOB_SHARES.items() if s.name == share.name)


def _share_acquire(job_id: str, now: datetime, lock: dict) -> str | None:
    """The wake-up of a share job: a process job first, else park at the cap, else the fairest share job."""
    woken = executable_jobs(now).filter(id=job_id).values("job_type", "job_definition_id", "priority").first()
    share = JOB_SHARES.get(woken["job_type"]) if woken else None
    if share is None:
        return None  # gone, locked by another worker, suspended or not due: nothing to run
    for candidate in _waiting_engine_jobs(share, woken["priority"], now):
        if executable_jobs(now).filter(id=candidate).update(**lock) == 1:
            return candidate
    cap = share.max_running()
    with transaction.atomic():
        if cap:
            _share_lock(share)
        running = _running_by_tenant(share, now)
        if cap and sum(running.values()) >= cap:
            Job.objects.filter(id=job_id).update(enqueued_at=None)  # parked until a slot is handed over
            logger.debug("job %s parked: share %s runs %s", job_id, share.name, running)
            return None
        tenant = _next_tenant(share, woken["job_definition_id"], running, now)
        for candidate in _oldest_jobs(share, tenant, now) if tenant != woken["job_definition_id"] else []:
            if executable_jobs(now).filter(id=candidate).update(**lock) == 1:
                _SERVED[(share.name, tenant)] = time.monotonic()
                return candidate
        if executable_jobs(now).filter(id=job_id).update(**lock) == 1:
            _SERVED[(share.name, woken["job_definition_id"])] = time.monotonic()
            return job_id
    return None


def _waiting_engine_jobs(share: JobShare, priority: int, now: datetime) -> list[str]:
    """Executable jobs of process instances (service-task continuations) and of the share's leaders
    (a batch's seed) with at least this priority, in acquisition order. Other jobs of no instance
    (a batch's monitor, timers of no instance) do not jump ahead."""
    waiting = _engine_jobs_ahead(share, priority, now)
    return list(waiting.order_by("-priority", "create_time", "id").values_list("id", flat=True)[:ACQUIRE_CANDIDATES])


def _engine_jobs_ahead(share: JobShare, priority: int, now: datetime) -> QuerySet:
    ahead = Q(process_instance__isnull=False)
    if share.leaders:
        ahead |= Q(job_type__in=share.leaders)
    return executable_jobs(now).filter(ahead, priority__gte=priority)


def job_share_should_yield(job: Job) -> bool:
    """Whether a running job of a share should stop at its next slice: a job that goes before the
    share's (_waiting_engine_jobs) waits. Its handler then ends the transaction and reschedules
    itself (due now), so the worker runs the waiting job; the job goes on from its cursor later."""
    share = JOB_SHARES.get(job.job_type)
    if share is None or not job_shares_enabled():
        return False
    return _engine_jobs_ahead(share, job.priority, timezone.now()).exists()


def _running_by_tenant(share: JobShare, now: datetime, *, excluding: str | None = None) -> dict[str | None, int]:
    """{job definition: running jobs} of the share: locked rows with an unexpired lock (job_lock_idx).

    Counted here, not with GROUP BY job_definition_id: with the GROUP BY, SQLite (no statistics)
    walked the whole job table in job-definition order to avoid a sort, 19 ms at 13,000 jobs and
    growing with the table, on every acquisition; without it, it reads the few locked rows by the
    lock index (0.5 ms).
    """
    running = Job.objects.filter(job_type__in=_share_types(share), lock_expiration_time__gte=now)
    if excluding:
        running = running.exclude(id=excluding)
    return dict(Counter(running.order_by().values_list("job_definition_id", flat=True)))


# When this worker last started a job of each tenant: between tenants with as many running jobs,
# the one this worker served longest ago goes next (round robin). Per worker, so without a write;
# the running counts, read from the database, keep the workers together.
_SERVED: dict[tuple[str, str | None], float] = {}


def _next_tenant(share: JobShare, woken: str | None, running: dict, now: datetime) -> str | None:
    """The tenant (job definition) whose job this wake-up runs: fewest running, then served longest ago."""
    waiting = _waiting_tenants(executable_jobs(now).filter(job_type__in=_share_types(share)))
    if len(waiting) < 2:
        return woken
    waiting.setdefault(woken, now)
    return min(waiting, key=lambda t: (running.get(t, 0), _SERVED.get((share.name, t), 0.0), t != woken, waiting[t]))


def _oldest_jobs(share: JobShare, tenant: str | None, now: datetime) -> list[str]:
    waiting = executable_jobs(now).filter(job_type__in=_share_types(share), job_definition_id=tenant)
    return list(waiting.order_by("-priority", "create_time", "id").values_list("id", flat=True)[:ACQUIRE_CANDIDATES])


def _share_lock(share: JobShare) -> None:
    """Serialise the cap's count-then-lock across nodes: a transaction-scoped advisory lock on
    PostgreSQL; SQLite's IMMEDIATE transactions already admit one writer at a time."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"{SHARE_LOCK_NAMESPACE}{share.name}".encode()) - 2**31  # a signed bigint
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _handing_off(handler: JobHandler, share: JobShare) -> JobHandler:
    """Run handler, then (after its transaction commits) hand the job's slot to the next parked job."""

    def run(job: Job) -> Reschedule | Failed | None:
        outcome = handler(job)
        if _shared_types() and share.max_running():
            finished = (job.id, job.job_definition_id)
            transaction.on_commit(lambda: job_share_hand_off(share, finished=finished), robust=True)
        return outcome

    run.__wrapped__ = handler  # type: ignore[attr-defined]
    return run


def job_share_hand_off(share: JobShare, *, finished: tuple[str, str | None]) -> list[str]:
    """Wake parked jobs of the share into the free slots, the tenant with the fewest running jobs
    first and, on a tie, another tenant than the one that just finished (turns, with a cap of 1).

    finished: (job id, job definition id) of the job that ended; its row may still be locked
    (a Failed outcome records the failure after this), so it does not count as running.
    """
    cap = share.max_running()
    if not cap:
        return []
    now = timezone.now()
    woken: list[str] = []
    with transaction.atomic():
        _share_lock(share)
        running = _running_by_tenant(share, now, excluding=finished[0])
        parked = executable_jobs(now).filter(job_type__in=_share_types(share), enqueued_at__isnull=True)
        if finished[0]:
            parked = parked.exclude(id=finished[0])
        free = min(cap - sum(running.values()), HAND_OFF_MAX)
        tenants = _waiting_tenants(parked) if free > 0 else {}
        while len(woken) < free and tenants:
            tenant = min(tenants, key=lambda d: (running.get(d, 0), d == finished[1], tenants[d]))
            ids = parked.filter(job_definition_id=tenant).exclude(id__in=woken).order_by("-priority", "create_time", "id")
            chosen = ids.values_list("id", flat=True).first()
            if chosen is None:
                del tenants[tenant]
                continue
            woken.append(chosen)
            running[tenant] = running.get(tenant, 0) + 1
        if woken:
            Job.objects.filter(id__in=woken).update(enqueued_at=now)
    logger.debug("job %s ended: woke %s (running %s)", finished[0], woken, running)
    jobs_enqueue(woken)
    return woken


def _waiting_tenants(jobs: QuerySet) -> dict[str | None, datetime]:
    """{job definition: its oldest job's creation} among jobs (one GROUP BY)."""
    grouped = jobs.order_by().values_list("job_definition_id").annotate(first=Min("create_time"))
    return dict(grouped.values_list("job_definition_id", "first"))

def _wake_again(job_id: str) -> None:
    try:
        if executable_jobs(timezone.now()).filter(id=job_id).exists():
            jobs_enqueue([job_id])
    except (OperationalError, InterfaceError):  # the sweep re-sends it if this fails
        logger.exception("could not re-send the wake-up of job %s", job_id)


def _run_acquired(job_id: str, owner: str) -> str:
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return _run_locked_job(job_id, owner)
        except OperationalError as exc:
            if not is_conflict(exc) or attempt == CONFLICT_ATTEMPTS:
                return _failed(job_id, owner, exc)
            logger.info("job %s: conflict (%s), attempt %d", job_id, exc, attempt)
        except Exception as exc:  # every failure is recorded on the job, whatever raised it
            return _failed(job_id, owner, exc)
    return "failed"  # not reached


CONFLICT_ATTEMPTS = 5


def is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialisation failure (PostgreSQL) or a busy database (SQLite): try again."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate in {"40P01", "40001", "55P03"} or "database is locked" in str(exc)


def _own_job_lock(job_id: str, owner: str) -> Job | None:
    """The job this worker holds, row-locked, its instance locked first (engine.locking); None if lost."""
    instance_id = Job.objects.filter(id=job_id).values_list("process_instance_id", flat=True).first()
    if instance_id:
        instance_lock(instance_id)
    return Job.objects.select_for_update(of=("self",)).select_related("job_definition").filter(id=job_id, lock_owner=owner).first()


def _run_locked_job(job_id: str, owner: str) -> str:
    with transaction.atomic():
        job = _own_job_lock(job_id, owner)
        if job is None:
            return "lock-lost"
        if job.suspended:  # suspended while it waited for the lock: leave it for activation
            Job.objects.filter(id=job_id).update(lock_owner=None, lock_expiration_time=None)
            return "suspended"
        handler = JOB_HANDLERS.get(job.job_type)
        if handler is None:
            raise LookupError(f"No job handler registered for job type '{job.job_type}'")
        outcome = handler(job)
        if not isinstance(outcome, Failed):
            _finish_job(job, outcome)
            return "succeeded"
    job_record_failure(job_id, owner=owner, message=outcome.message, stacktrace=outcome.stacktrace)
    return "failed"


def _failed(job_id: str, owner: str, exc: Exception) -> str:
    logger.info("job %s failed: %s", job_id, exc)
    message = str(exc) or type(exc).__name__
    stacktrace = "".join(traceback.format_exception(exc))
    try:
        job_record_failure(job_id, owner=owner, message=message, stacktrace=stacktrace)
    except (OperationalError, InterfaceError):
        # The failure was the connection itself (a terminated backend): record it on a new one.
        # Should that fail too, the job's lock expires and the sweep runs it again; nothing is lost.
        if not connection.in_atomic_block:  # a q2 worker runs jobs outside any transaction
            connection.close()
        job_record_failure(job_id, owner=owner, message=message, stacktrace=stacktrace)
    return "failed"


def _finish_job(job: Job, outcome: Reschedule | None) -> None:
    if isinstance(outcome, Reschedule):
        now = timezone.now()
        due_now = outcome.due_date <= now
        Job.objects.filter(id=job.id).update(
            due_date=outcome.due_date,
            lock_owner=None,
            lock_expiration_time=None,
            enqueued_at=None,
        )
        if due_now and not job.suspended:
            jobs_enqueue_on_commit([job.id])
        return
    job_log_write(job, kind="success")
    Job.objects.filter(id=job.id).delete()


def job_record_failure(job_id: str, *, owner: str, message: str, stacktrace: str) -> None:
    message = message[:4000]
    with transaction.atomic():
        job = _own_job_lock(job_id, owner)  # an incident may follow: it belongs to the instance
        if job is None:
            return
        job.retries = max(job.retries - 1, 0)
        job.exception_message = message
        job.exception_stacktrace = stacktrace
        job.failed_activity_id = job.activity_id
        job.lock_owner = None
        job.lock_expiration_time = None
        job.save()
        job_log_write(job, kind="failure")
        if job.retries == 0:
            incident_create_for_job(job)
        elif not job.suspended:
            jobs_enqueue_on_commit([job.id])


def incident_create_for_job(job: Job) -> Incident:
    existing = Incident.objects.filter(configuration=job.id, incident_type=Incident.FAILED_JOB).first()
    if existing:
        return existing
    return incident_record(Incident(
        incident_type=Incident.FAILED_JOB,
        incident_timestamp=timezone.now(),
        incident_message=job.exception_message or "",
        process_instance_id=job.process_instance_id,
        process_definition_id=job.process_definition_id,
        execution_id=job.execution_id,
        activity_id=job.activity_id,
        configuration=job.id,
        job_definition_id=job.job_definition_id,
        tenant_id=job.tenant_id,
    ))


# --- retries, deletion, suspension ---------------------------------------------------------


def jobs_set_retries(*, job_ids: list[str], retries: int, due_date: datetime | None = None) -> set[str]:
    """Set retries (and optionally the due date) of the given jobs; resolve failedJob incidents."""
    with transaction.atomic():
        found = jobs_lock(job_ids)
        changes: dict = {"retries": retries}
        if due_date is not None:
            changes["due_date"] = due_date
        Job.objects.filter(id__in_ids=found).update(**changes)
        if retries > 0:
            incidents_remove(Incident.objects.filter(configuration__in_ids=found, incident_type=Incident.FAILED_JOB), resolved=True)
            now = timezone.now()
            due = list(Job.objects.filter(id__in_ids=found, suspended=False).filter(due_q(now)).values_list("id", flat=True))
            jobs_enqueue_on_commit(due)
    return found


def jobs_delete(*, job_ids: Iterable[str]) -> int:
    with transaction.atomic():
        ids = jobs_lock(job_ids)
        jobs_log_deletions(Job.objects.filter(id__in_ids=ids))
        incidents_remove(Incident.objects.filter(configuration__in_ids=ids, incident_type=Incident.FAILED_JOB), resolved=False)
        Job.objects.filter(id__in_ids=ids).delete()
    return len(ids)


def jobs_set_suspended(queryset, *, suspended: bool) -> None:
    """Suspend or activate the jobs of a queryset; activated due jobs are woken up on commit."""
    ids = set(queryset.filter(suspended=not suspended).values_list("id", flat=True))
    Job.objects.filter(id__in_ids=ids).update(suspended=suspended)
    if not suspended:
        now = timezone.now()
        jobs_enqueue_on_commit(list(executable_jobs(now).filter(id__in_ids=ids).values_list("id", flat=True)))


# --- the sweep: lost wake-ups and expired locks ----------------------------------------------


def jobs_sweep(*, broker_idle: bool | None = None) -> int:
    """Re-send wake-ups for executable jobs that no live task will reach; return how many."""
    now = timezone.now()
    if broker_idle is None:
        broker_idle = _broker_queue_size() == 0
    # While the broker still holds a backlog, a waiting job is not lost; only very old ones are.
    threshold = _config("JOB_REENQUEUE_SECONDS") * (1 if broker_idle else 10)
    stale = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=threshold))
    ids = executable_jobs(now).filter(stale).values_list("id", flat=True).order_by(*acquisition_order())
    total = 0
    chunk: list[str] = []
    for job_id in ids.iterator(chunk_size=1000):
        chunk.append(job_id)
        if len(chunk) == 1000:
            jobs_enqueue(chunk)
            total += len(chunk)
            chunk = []
    jobs_enqueue(chunk)
    return total + len(chunk)


def _broker_queue_size() -> int:
    try:
        from django_q.brokers import get_broker

        return get_broker().queue_size() or 0
    except Exception:  # an unreachable broker must not stop the sweep from doing its part
        logger.exception("could not read the broker queue size")
        return 0


def ensure_sweep_schedule(using: str = "default", **kwargs) -> None:
    """Install (or update) the django-q2 schedule that runs the sweep."""
    from django_q.models import Schedule

    Schedule.objects.using(using).update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={
            "func": SWEEP_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": _config("JOB_SWEEP_MINUTES"),
            "repeats": -1,
        },
    )


# --- timer jobs of delayed job-definition suspension -----------------------------------------------
# PUT /job-definition/{id}/suspended (or /job-definition/suspended) with an executionDate schedules
# the change as a job due then (Camunda's TimerSuspendJobDefinitionHandler / TimerActivate...: job
# types "suspend-job-definition" and "activate-job-definition").
SUSPEND_JOB_DEFINITION = "suspend-job-definition"
ACTIVATE_JOB_DEFINITION = "activate-job-definition"


def _run_job_definition_suspension(job: Job) -> None:
    from engine.services.job_actions import job_definition_suspension_run

    job_definition_suspension_run(job)


register_job_handler(SUSPEND_JOB_DEFINITION, _run_job_definition_suspension)
register_job_handler(ACTIVATE_JOB_DEFINITION, _run_job_definition_suspension)


# --- precise wake-ups of jobs that became due later --------------------------------------------
# A job rescheduled into the future (a paced batch job, a monitor, a timer) gets no q2 task when it
# becomes due; without this it waited for the minute sweep. The supervisor (`manage.py workers`)
# calls jobs_wake_due every poll; the sweep stays the fallback for plain qcluster nodes.
WAKE_DUE_LIMIT = 1000
# Only jobs that became due this recently: older ones are the sweep's. A share job parked at its cap
# (fair shares, above) also has enqueued_at cleared; the horizon keeps this from polling it for long.
WAKE_DUE_HORIZON_SECONDS = 10


def jobs_wake_due(*, limit: int = WAKE_DUE_LIMIT, now: datetime | None = None) -> int:
    """Send a wake-up to executable jobs whose due date has passed since their last wake-up; return how many.

    A job woken before it was due (enqueued_at < due_date) or never (enqueued_at null) qualifies if it
    became due within WAKE_DUE_HORIZON_SECONDS; jobs without a due date were woken when created. At
    most `limit` per call, in acquisition order.
    """
    from django.db.models import F

    now = now or timezone.now()
    not_woken = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("due_date"))
    recent = Q(due_date__lte=now, due_date__gt=now - timedelta(seconds=WAKE_DUE_HORIZON_SECONDS))
    due = Job.objects.filter(recent, suspended=False, retries__gt=0).filter(unlocked_q(now)).filter(not_woken)
    ids = list(due.order_by(*acquisition_order()).values_list("id", flat=True)[:limit])
    jobs_enqueue(ids)
    return len(ids)
