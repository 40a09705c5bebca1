"""History cleanup: a job that deletes history whose removal time has passed, in a daily window, in chunks.

Camunda's removal-time-based history cleanup (HistoryCleanupCmd, HistoryCleanupJobHandler,
HistoryCleanupRemovalTime, HistoryCleanupSchedulerCmd, DefaultBatchWindowManager), on this
engine's job executor:

- ``POST /history/cleanup`` (``history_cleanup_schedule``) creates the one ``history-cleanup`` job,
  or reconfigures it: due now when ``immediatelyDue``, else at the start of the current or next
  batch window. Without a window and not immediately due, the job is suspended (none is created).
- A run deletes, when the job was triggered ``immediatelyDue`` or the time is inside the window, at
  most ``historyCleanupBatchSize`` (≤ 500) finished historic instances whose removal time has
  passed, each with all its history rows; then up to that many expired rows of every history table
  on their own removal time; then the registered steps (historic batches with their items and job
  log, from batches.operations.removal_time).
- Afterwards it reschedules itself as Camunda does: at once when a step deleted a full chunk; inside
  the window after a delay that doubles with every empty run (10 s … 1 h) while that stays inside
  the window; otherwise at the start of the next window (suspended when there is no window).

One difference, deliberate: Camunda's job keeps ``immediatelyDue`` in its configuration, so after a
manual run it keeps cleaning outside the window whenever it is rescheduled at once. Here the flag
is cleared when a manual run has nothing more to delete: from then on only the window applies.
The history of a running instance is never deleted (with the ``start`` strategy Camunda would
delete it and leave the running instance without history); it goes once the instance has ended.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from engine import filters as f
from engine.bulk import rows_delete
from engine.errors import BadUserRequestException
from engine.locking import historic_instances_lock
from engine.models import HistoricProcessInstance, Incident, Job, ProcessDefinition, ProcessInstance
from engine.query import Param, QuerySpec
from engine.services.incidents import incidents_remove
from engine.services.jobs import Reschedule, job_create, jobs_enqueue_on_commit, register_job_handler
from engine.services.oplog import operation_log_write
from engine.services.removal_time import DEPENDENTS

HISTORY_CLEANUP = "history-cleanup"  # Camunda's HistoryCleanupJobHandler.TYPE
# The one cleanup job has a fixed id: two concurrent POST /history/cleanup cannot create two
# (Camunda takes an exclusive lock on a property row for the same purpose).
HISTORY_CLEANUP_JOB_ID = "history-cleanup"
START_DELAY = 10  # seconds, HistoryCleanupJobHandlerConfiguration.START_DELAY
MAX_DELAY = 60 * 60  # seconds, its MAX_DELAY
DISABLED = "History cleanup is disabled for this engine"  # HistoryCleanupCmd
NOT_SCHEDULED = (
    "History cleanup is not scheduled: no batch window is configured (HISTORY_CLEANUP_BATCH_WINDOW_START_TIME and "
    "HISTORY_CLEANUP_BATCH_WINDOW_END_TIME) and immediatelyDue is false"
)


# --- the batch window ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchWindow:
    start: datetime
    end: datetime

    def is_within(self, moment: datetime) -> bool:
        return self.start <= moment < self.end  # the start inclusively (HistoryCleanupHelper)


def _window_time(text: str) -> tuple[time, object]:
    """ "22:00" (in TIME_ZONE) or "22:00+0200" → (time, tzinfo); validated by cockpit.settings."""
    hours, minutes = int(text[0:2]), int(text[3:5])
    if len(text) > 5:
        sign = 1 if text[5] == "+" else -1
        offset = timedelta(hours=int(text[6:8]), minutes=int(text[8:10]))
        return time(hours, minutes), dt_timezone(sign * offset)
    return time(hours, minutes), ZoneInfo(settings.TIME_ZONE)


def window_configured() -> bool:
    return bool(settings.HISTORY["CLEANUP_BATCH_WINDOW_START_TIME"])


def _window_on(day: date) -> BatchWindow | None:
    if not window_configured():
        return None
    (start_time, start_zone) = _window_time(settings.HISTORY["CLEANUP_BATCH_WINDOW_START_TIME"])
    (end_time, end_zone) = _window_time(settings.HISTORY["CLEANUP_BATCH_WINDOW_END_TIME"])
    start = datetime.combine(day, start_time, start_zone)
    end = datetime.combine(day, end_time, end_zone)
    if end <= start:  # over midnight, or the same time: the whole day (DefaultBatchWindowManager)
        end = datetime.combine(day + timedelta(days=1), end_time, end_zone)
    return BatchWindow(start, end)


def _local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def current_or_next_window(moment: datetime) -> BatchWindow | None:
    day = _local_day(moment)
    previous = _window_on(day - timedelta(days=1))
    if previous is not None and previous.is_within(moment):
        return previous
    today = _window_on(day)
    if today is not None and (today.is_within(moment) or moment < today.start):
        return today
    return _window_on(day + timedelta(days=1))


def next_window(moment: datetime) -> BatchWindow | None:
    today = _window_on(_local_day(moment))
    if today is not None and moment < today.start:
        return today
    return _window_on(_local_day(moment) + timedelta(days=1))


def is_within_window(moment: datetime) -> bool:
    window = current_or_next_window(moment)
    return window is not None and window.is_within(moment)


def batch_size() -> int:
    return settings.HISTORY["CLEANUP_BATCH_SIZE"]


# --- scheduling: POST /history/cleanup ------------------------------------------------------------


def cleanup_jobs() -> QuerySet:
    return Job.objects.filter(job_type=HISTORY_CLEANUP).order_by("create_time", "id")


def _configuration(immediately_due: bool) -> dict:
    # HistoryCleanupJobHandlerConfiguration's JSON; one job covers every minute (degree of parallelism 1).
    return {"countEmptyRuns": 0, "immediatelyDue": immediately_due, "minuteFrom": 0, "minuteTo": 59}


def history_cleanup_schedule(*, immediately_due: bool, user_id: str | None) -> Job | None:
    """Create or reconfigure the cleanup job (Camunda's HistoryCleanupCmd); None when nothing is scheduled."""
    if not settings.HISTORY["CLEANUP_ENABLED"]:
        raise BadUserRequestException(DISABLED)
    now = timezone.now()
    scheduled = immediately_due or window_configured()
    window = current_or_next_window(now)
    due = now if immediately_due else (window.start if window is not None else None)
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_type=HISTORY_CLEANUP).order_by("id").first()
        if job is None and scheduled:
            job = _create_job(due, immediately_due)
        elif job is not None and scheduled:
            _reconfigure(job, due, immediately_due)
        elif job is not None:
            Job.objects.filter(id=job.id).update(suspended=True, due_date=None)
        else:  # Camunda creates nothing and its REST layer fails on the missing job (a 500); a 400 here
            raise BadUserRequestException(NOT_SCHEDULED)
        operation_log_write(
            user_id=user_id,
            operation_type="CreateHistoryCleanupJobs",  # UserOperationLogEntry.OPERATION_TYPE_CREATE_HISTORY_CLEANUP_JOB
            entity_type="Job",
            properties={"immediatelyDue": (None, immediately_due)},
        )
    return Job.objects.filter(id=job.id).first() if job is not None else None


def _create_job(due: datetime, immediately_due: bool) -> Job:
    try:
        with transaction.atomic():
            return job_create(
                job_type=HISTORY_CLEANUP, id=HISTORY_CLEANUP_JOB_ID, handler_configuration=_configuration(immediately_due),
                due_date=due,
            )
    except IntegrityError:  # created by a concurrent request meanwhile: reconfigure that one
        job = Job.objects.select_for_update().get(id=HISTORY_CLEANUP_JOB_ID)
        _reconfigure(job, due, immediately_due)
        return job


def _reconfigure(job: Job, due: datetime, immediately_due: bool) -> None:
    """JobManager.reschedule: active again, retries reset, exception and lock cleared, the new due date."""
    Job.objects.filter(id=job.id).update(
        handler_configuration=_configuration(immediately_due), due_date=due, suspended=False,
        retries=settings.ENGINE["DEFAULT_JOB_RETRIES"], exception_message=None, exception_stacktrace=None,
        lock_owner=None, lock_expiration_time=None, enqueued_at=None,
    )
    incidents_remove(Incident.objects.filter(configuration=job.id, incident_type=Incident.FAILED_JOB), resolved=True)
    if due <= timezone.now():
        jobs_enqueue_on_commit([job.id])


# --- one run --------------------------------------------------------------------------------------

# Further cleanup steps (historic batches: batches.operations.removal_time): (now, batch size) → {what: rows deleted}.
CleanupStep = Callable[[datetime, int], dict[str, int]]
CLEANUP_STEPS: list[CleanupStep] = []


def register_cleanup_step(step: CleanupStep) -> None:
    if step not in CLEANUP_STEPS:
        CLEANUP_STEPS.append(step)


def history_cleanup_perform(now: datetime, size: int) -> dict[str, int]:
    """Delete one chunk of expired history; return the rows deleted per kind (a full chunk means more to do)."""
    counts = {"processInstances": _expired_instances_delete(now, size)}
    for model in DEPENDENTS:
        counts[model.__name__] = _expired_rows_delete(model, now, size)
    for step in CLEANUP_STEPS:
        counts.update(step(now, size))
    return counts


def _expired_instances_delete(now: datetime, size: int) -> int:
    """Finished historic instances whose removal time passed, each with every history row it has."""
    candidates = list(
        HistoricProcessInstance.objects.filter(removal_time__lte=now, end_time__isnull=False)
        .order_by("removal_time", "id").values_list("id", flat=True)[:size]
    )
    ends = historic_instances_lock(candidates)  # a history-only writer (engine.locking)
    ids = {i for i, end in ends.items() if end is not None}
    if not ids:
        return 0
    rows_delete(*(model.objects.filter(process_instance_id__in_ids=ids) for model in DEPENDENTS))
    return rows_delete(HistoricProcessInstance.objects.filter(id__in_ids=ids, removal_time__lte=now))


def _expired_rows_delete(model, now: datetime, size: int) -> int:
    """Rows of one history table whose own removal time passed, unless their instance still runs."""
    running = ProcessInstance.objects.filter(id=OuterRef("process_instance_id"))
    keys = list(
        model.objects.filter(removal_time__lte=now).filter(~Exists(running))
        .order_by("removal_time", "pk").values_list("pk", flat=True)[:size]
    )
    if not keys:
        return 0
    return rows_delete(model.objects.filter(pk__in_ids=set(keys)))


def run_history_cleanup(job: Job) -> Reschedule:
    """The job handler: clean if due (manual or inside the window), then reschedule (HistoryCleanupSchedulerCmd)."""
    config = {**_configuration(False), **(job.handler_configuration or {})}
    size = batch_size()
    now = timezone.now()
    counts = history_cleanup_perform(now, size) if config["immediatelyDue"] or is_within_window(now) else {}
    if any(n >= size for n in counts.values()):  # a full chunk: there is more, run again at once
        return _rescheduled(job, config, due=now, empty_runs=0)
    if is_within_window(now):
        delay = min(int(2 ** config["countEmptyRuns"] * START_DELAY), MAX_DELAY)
        later = now + timedelta(seconds=delay)
        if is_within_window(later):
            return _rescheduled(job, config, due=later, empty_runs=config["countEmptyRuns"] + 1)
    config["immediatelyDue"] = False  # a manual run is done: the window rules from now on (see module doc)
    window = next_window(now) if window_configured() else None
    if window is None:  # nothing to wait for: the job stays, suspended, until the next POST /history/cleanup
        job.suspended = True
        Job.objects.filter(id=job.id).update(suspended=True)
        return _rescheduled(job, config, due=job.due_date or now, empty_runs=0)
    return _rescheduled(job, config, due=window.start, empty_runs=0)


def _rescheduled(job: Job, config: dict, *, due: datetime, empty_runs: int) -> Reschedule:
    Job.objects.filter(id=job.id).update(handler_configuration={**config, "countEmptyRuns": empty_runs})
    return Reschedule(due_date=due)


register_job_handler(HISTORY_CLEANUP, run_history_cleanup)


# --- GET /history/cleanup/configuration and the cleanable report ----------------------------------


def cleanup_configuration() -> dict:
    window = current_or_next_window(timezone.now())
    return {
        "batchWindowStartTime": window.start if window else None,
        "batchWindowEndTime": window.end if window else None,
        "enabled": settings.HISTORY["CLEANUP_ENABLED"],
    }


def _instance_count(**conditions) -> Coalesce:
    rows = (
        HistoricProcessInstance.objects.filter(process_definition_id=OuterRef("id"), **conditions)
        .order_by().values("process_definition_id").annotate(n=Count("id")).values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def _compact(value: bool) -> Q:
    # Camunda (removal-time based): only definitions with cleanable or finished instances.
    return Q(cleanable__gt=0) | Q(finished__gt=0) if value else Q()


# GET /history/process-definition/cleanable-process-instance-report (CleanableHistoricProcessInstanceReportDto).
CLEANABLE_PROCESS_INSTANCE_REPORT = QuerySpec(
    params={
        "processDefinitionIdIn": Param("list", "id__in"),
        "processDefinitionKeyIn": Param("list", "key__in"),
        "tenantIdIn": Param("list", "tenant_id__in"),
        "withoutTenantId": Param("bool", f.without_tenant),
        "compact": Param("bool", _compact),
    },
    sort_fields={"finished": "finished"},
    default_order=("id",),
)


def cleanable_process_instance_report(definitions: QuerySet, now: datetime) -> QuerySet:
    """Each definition with its finished instances and those whose removal time has passed (Camunda's
    removal-time-based report: cleanable = removal time ≤ now, whatever the instance's state)."""
    return definitions.annotate(
        finished=_instance_count(end_time__isnull=False), cleanable=_instance_count(removal_time__lte=now)
    )


def cleanable_process_instance_dto(d: ProcessDefinition) -> dict:
    return {
        "processDefinitionId": d.id,
        "processDefinitionKey": d.key,
        "processDefinitionName": d.name or None,
        "processDefinitionVersion": d.version,
        "historyTimeToLive": d.history_time_to_live,
        "finishedProcessInstanceCount": d.finished,
        "cleanableProcessInstanceCount": d.cleanable,
        "tenantId": d.tenant_id,
    }


# --- PUT /process-definition/{id}/history-time-to-live ----------------------------------------------


def definition_set_history_time_to_live(*, definition: ProcessDefinition, history_time_to_live: int | None,
                                        user_id: str | None) -> None:
    """UpdateProcessDefinitionHistoryTimeToLiveCmd: the new value and its op-log entry, in one transaction.

    Like Camunda, existing removal times stay as they are (a set-removal-time batch recalculates them).
    """
    if history_time_to_live is not None and history_time_to_live < 0:
        raise BadUserRequestException("historyTimeToLive is not greater than or equal to 0")
    with transaction.atomic():
        locked = ProcessDefinition.objects.select_for_update().get(id=definition.id)
        operation_log_write(
            user_id=user_id,
            operation_type="UpdateHistoryTimeToLive",  # UserOperationLogEntry.OPERATION_TYPE_UPDATE_HISTORY_TIME_TO_LIVE
            entity_type="ProcessDefinition",
            properties={"historyTimeToLive": (locked.history_time_to_live, history_time_to_live)},
            process_definition_id=locked.id,
            process_definition_key=locked.key,
            deployment_id=locked.deployment_id,
            tenant_id=locked.tenant_id,
        )
        ProcessDefinition.objects.filter(id=locked.id).update(history_time_to_live=history_time_to_live)
