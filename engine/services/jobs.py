"""The job executor: durable job rows, q2 wake-ups, compare-and-set locks, retries, incidents."""
from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q, QuerySet
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


JobHandler = Callable[[Job], "Reschedule | Failed | None"]
JOB_HANDLERS: dict[str, JobHandler] = {}


def register_job_handler(job_type: str, handler: JobHandler) -> None:
    JOB_HANDLERS[job_type] = handler


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
    """Lock the job (compare-and-set), run its handler, then delete, reschedule or fail it.

    A transaction that the database aborts to break a lock cycle or a serialisation conflict is
    not the job's fault: it runs again at once (up to CONFLICT_ATTEMPTS times) and costs no retry.
    """
    now = timezone.now()
    locked = (
        executable_jobs(now)
        .filter(id=job_id)
        .update(lock_owner=owner, lock_expiration_time=now + timedelta(seconds=_config("JOB_LOCK_SECONDS")))
    )
    if locked != 1:
        return "not-acquired"
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
    ids = executable_jobs(now).filter(stale).values_list("id", flat=True).order_by("create_time")
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
