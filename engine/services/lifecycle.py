"""Set-based lifecycle changes of many instances: suspend/activate, delete, delete history.

Each service takes a list of ids (a chunk), changes all of them with a few statements and
reports which ids it changed and which it had to skip, so a batch can record per-item results.
Each is idempotent: running it twice changes nothing the second time.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.utils import timezone

from engine.bulk import rows_delete
from engine.locking import historic_instances_lock, instances_lock
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricJobLog,
    HistoricProcessInstance,
    HistoricVariableInstance,
    HistoricVariableUpdate,
    Incident,
    Job,
    ProcessInstance,
    VariableInstance,
)
from engine.services.incidents import incidents_remove
from engine.services.jobs import jobs_log_deletions, jobs_set_suspended
from engine.services.removal_time import instances_ended
from engine.services.runtime import close_open_activities
from engine.sql import MillisBetween

NOT_RUNNING = "process instance is not running (finished, deleted or unknown)"
NOT_FOUND = "historic process instance does not exist"
STILL_RUNNING = "process instance is still running; only finished instances can be deleted from history"


@dataclass
class ChunkResult:
    changed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # id -> reason
    # Items this operation cannot do, with the reason: FAILED items (the chunk's job fails too, as
    # an item that raised would), while the rest of the chunk commits.
    failed: dict[str, str] = field(default_factory=dict)


def instances_set_suspended(*, instance_ids: list[str], suspended: bool) -> ChunkResult:
    """Suspend or activate running instances together with their jobs and history state."""
    result = ChunkResult()
    with transaction.atomic():
        existing = instances_lock(instance_ids)
        result.skipped = {i: NOT_RUNNING for i in instance_ids if i not in existing}
        result.changed = [i for i in instance_ids if i in existing]
        ProcessInstance.objects.filter(id__in_ids=existing).update(suspended=suspended)
        jobs_set_suspended(Job.objects.filter(process_instance_id__in_ids=existing), suspended=suspended)
        ExternalTask.objects.filter(process_instance_id__in_ids=existing).update(suspended=suspended)
        HistoricProcessInstance.objects.filter(id__in_ids=existing).update(
            state=HistoricProcessInstance.SUSPENDED if suspended else HistoricProcessInstance.ACTIVE
        )
    return result


def instances_delete(*, instance_ids: list[str], delete_reason: str | None) -> ChunkResult:
    """Cancel running instances: tokens, jobs and incidents go; history becomes EXTERNALLY_TERMINATED."""
    result = ChunkResult()
    now = timezone.now()
    with transaction.atomic():
        existing = instances_lock(instance_ids)
        result.skipped = {i: NOT_RUNNING for i in instance_ids if i not in existing}
        result.changed = [i for i in instance_ids if i in existing]
        if not existing:
            return result
        close_open_activities(HistoricActivityInstance.objects.filter(process_instance_id__in_ids=existing), now, canceled=True)
        instances_end(
            existing, now, state=HistoricProcessInstance.EXTERNALLY_TERMINATED, delete_reason=delete_reason
        )
    return result


def instances_end(ids: set[str], now, *, state: str, delete_reason: str | None, definition_id: str | None = None) -> None:
    """End locked running instances set-based: their runtime rows go, their history ends in state.

    Their open activity history is the caller's (a cancellation closes it as canceled; a
    modification has closed it token by token already).
    """
    jobs_log_deletions(Job.objects.filter(process_instance_id__in_ids=ids))
    incidents_remove(Incident.objects.filter(process_instance_id__in_ids=ids), resolved=False)
    rows_delete(  # children first, then the instances
        Job.objects.filter(process_instance_id__in_ids=ids),
        ExternalTask.objects.filter(process_instance_id__in_ids=ids),
        EventSubscription.objects.filter(process_instance_id__in_ids=ids),
        ActivityInstance.objects.filter(process_instance_id__in_ids=ids),
        VariableInstance.objects.filter(process_instance_id__in_ids=ids),
        ProcessInstance.objects.filter(id__in_ids=ids),
    )
    when = Value(now, output_field=DateTimeField())
    HistoricProcessInstance.objects.filter(id__in_ids=ids).update(
        state=state,
        end_time=when,
        duration_in_millis=MillisBetween(F("start_time"), when),
        delete_reason=delete_reason,
    )
    instances_ended(ids, now, definition_id=definition_id)  # their history's removal time, a few UPDATEs


def historic_instances_delete(*, instance_ids: list[str]) -> ChunkResult:
    """Delete finished historic instances with their activity history and job log."""
    result = ChunkResult()
    with transaction.atomic():
        ends = historic_instances_lock(instance_ids)
        for i in instance_ids:
            if i not in ends:
                result.skipped[i] = NOT_FOUND
            elif ends[i] is None:
                result.skipped[i] = STILL_RUNNING
            else:
                result.changed.append(i)
        historic_rows_delete(set(result.changed))
    return result


def historic_rows_delete(ids: set[str]) -> None:
    """The history of these instances, deleted. Nothing references history rows: plain DELETEs by id
    list (bench/limit.py measures the same statements)."""
    rows_delete(
        HistoricActivityInstance.objects.filter(process_instance_id__in_ids=ids),
        HistoricJobLog.objects.filter(process_instance_id__in_ids=ids),
        HistoricVariableInstance.objects.filter(process_instance_id__in_ids=ids),
        HistoricVariableUpdate.objects.filter(process_instance_id__in_ids=ids),
        HistoricIncident.objects.filter(process_instance_id__in_ids=ids),
        HistoricProcessInstance.objects.filter(id__in_ids=ids),
    )
