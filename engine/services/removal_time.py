"""Removal time of history rows: when the history cleanup may delete them (Camunda 7.10+).

Camunda's ``historyRemovalTimeStrategy`` (settings.HISTORY["REMOVAL_TIME_STRATEGY"]):

- ``end`` (the default): when a process instance ends, its historic instance and every history row
  that belongs to it get ``end time + historyTimeToLive days`` of its definition (none when the
  definition has no time to live). Camunda's DefaultHistoryEventProducer does this in the
  instance's end event; here ``instances_ended`` runs in the same transaction that ends them.
- ``start``: the historic instance gets ``start time + time to live`` when it is created (a
  pre_save hook on HistoricProcessInstance, and ``removal_time_for_new_rows`` for bulk starts); the
  rows written while it runs take it over when it ends (one UPDATE per table, not one per row).
- ``none``: no removal time is ever set; only the set-removal-time batches set one.

The history rows of an instance (Camunda's by-root-process-instance update) are DEPENDENTS: each
has ``process_instance_id`` and ``removal_time``. Every removal time is set with a few set-based
UPDATEs per chunk of instances, never a statement per row.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.signals import pre_save
from django.dispatch import receiver

from engine.models import (
    HistoricActivityInstance,
    HistoricIncident,
    HistoricJobLog,
    HistoricProcessInstance,
    HistoricVariableInstance,
    HistoricVariableUpdate,
    ProcessDefinition,
    UserOperationLogEntry,
)

STRATEGY_END = "end"
STRATEGY_START = "start"
STRATEGY_NONE = "none"

# The history rows of a process instance, each with process_instance_id and removal_time.
DEPENDENTS = (
    HistoricActivityInstance,
    HistoricJobLog,
    HistoricIncident,
    HistoricVariableInstance,
    HistoricVariableUpdate,
    UserOperationLogEntry,
)

# Camunda adds a time to live with java.util.Calendar, which reaches year 5,800,000; Python and
# both databases stop at year 9999 (PostgreSQL 294276). A longer time to live than this (about
# 5,475 years) is counted as this many days: the rows are kept as good as forever either way, and
# a huge value such as 2147483647 can never overflow a date into a 500.
MAX_TTL_DAYS = 2_000_000

TTL_ISO = re.compile(r"^P(\d+)D$")  # Camunda's ParseUtil.REGEX_TTL_ISO
JAVA_INT = re.compile(r"^[+-]?[0-9]+$")
INT_MAX = 2**31 - 1


def strategy() -> str:
    return settings.HISTORY["REMOVAL_TIME_STRATEGY"]


def parse_history_time_to_live(text: str | None) -> int | None:
    """Days from camunda:historyTimeToLive: "5" or "P5D"; raises ValueError with Camunda's message.

    Camunda's ParseUtil.parseHistoryTimeToLive: an ISO period of whole days, else Integer.parseInt
    ("Cannot parse historyTimeToLive: For input string: \"…\""), and no negative value.
    """
    if text is None or text == "":
        return None
    match = TTL_ISO.match(text)
    if match:
        text = match.group(1)
    if not JAVA_INT.match(text) or not -(INT_MAX + 1) <= int(text) <= INT_MAX:
        raise ValueError(f'Cannot parse historyTimeToLive: For input string: "{text}"')
    value = int(text)
    if value < 0:
        raise ValueError("Cannot parse historyTimeToLive: negative value is not allowed")
    return value


def add_days(base: datetime, days: int) -> datetime:
    return base + timedelta(days=min(days, MAX_TTL_DAYS))


def plus_days(expression, days: int) -> ExpressionWrapper:
    """An SQL date expression plus a number of days (SQLite and PostgreSQL, through Django's arithmetic)."""
    return ExpressionWrapper(expression + Value(timedelta(days=min(days, MAX_TTL_DAYS))), output_field=DateTimeField())


def definition_ttls(definition_ids: Iterable[str]) -> dict[str, int | None]:
    ids = set(definition_ids)
    if not ids:
        return {}
    return dict(ProcessDefinition.objects.filter(id__in=ids).values_list("id", "history_time_to_live"))


def instances_removal_time_set(instance_ids: Collection[str], removal_time, *, chunk_size: int | None = None) -> None:
    """Set one removal time (a value, None, or an expression over the historic instance) on instances and their rows.

    An expression (e.g. end time + days) is evaluated on the historic instance; the rows then copy
    the instance's value with a correlated subquery. chunk_size: update at most that many rows of a
    table per statement (Camunda's updateInChunks), else one statement per table.
    """
    if not instance_ids:
        return
    HistoricProcessInstance.objects.filter(id__in_ids=set(instance_ids)).update(removal_time=removal_time)
    if hasattr(removal_time, "resolve_expression"):
        removal_time = Subquery(
            HistoricProcessInstance.objects.filter(id=OuterRef("process_instance_id")).values("removal_time")[:1],
            output_field=DateTimeField(),
        )
    dependents_removal_time_set(instance_ids, removal_time, chunk_size=chunk_size)


def dependents_removal_time_set(instance_ids: Collection[str], value, *, chunk_size: int | None = None) -> None:
    ids = set(instance_ids)
    for model in DEPENDENTS:
        rows = model.objects.filter(process_instance_id__in_ids=ids)
        if chunk_size is None:
            rows.update(removal_time=value)
            continue
        last = None
        while True:  # keyset pages of the primary key: each statement touches at most chunk_size rows
            page = rows if last is None else rows.filter(pk__gt=last)
            keys = list(page.order_by("pk").values_list("pk", flat=True)[:chunk_size])
            if not keys:
                break
            model.objects.filter(pk__in_ids=set(keys)).update(removal_time=value)
            last = keys[-1]


def instances_ended(instance_ids: Collection[str], end_time: datetime, *, definition_id: str | None = None) -> None:
    """The instances just ended at end_time: give their history its removal time (by the strategy).

    Called in the transaction that ends them, holding their locks (engine.locking). definition_id:
    the definition of all of them, when the caller knows it (one instance ending).
    """
    ids = set(instance_ids)
    if not ids:
        return
    mode = strategy()
    if mode == STRATEGY_END:
        if definition_id is not None:
            by_definition = {definition_id: ids}
        else:
            by_definition = defaultdict(set)
            rows = HistoricProcessInstance.objects.filter(id__in_ids=ids).values_list("id", "process_definition_id")
            for instance_id, definition in rows:
                by_definition[definition].add(instance_id)
        ttls = definition_ttls(by_definition)
        for definition, group in by_definition.items():
            if ttls.get(definition) is not None:
                instances_removal_time_set(group, add_days(end_time, ttls[definition]))
    elif mode == STRATEGY_START:
        # The instances got theirs when they started; the rows written since take it over.
        with_time = set(HistoricProcessInstance.objects.filter(id__in_ids=ids, removal_time__isnull=False).values_list("id", flat=True))
        if with_time:
            dependents_removal_time_set(
                with_time,
                Subquery(
                    HistoricProcessInstance.objects.filter(id=OuterRef("process_instance_id")).values("removal_time")[:1],
                    output_field=DateTimeField(),
                ),
            )


def removal_time_for_new_rows(definition: ProcessDefinition, history: list[HistoricProcessInstance], *rows: list) -> None:
    """Removal times of instances started in bulk (engine.services.instantiation), set before the INSERTs.

    start: every new instance; end: those that ended as they started. rows: their other history
    rows (activities, variables, variable updates), which take over their instance's removal time.
    """
    mode = strategy()
    if mode == STRATEGY_NONE or definition.history_time_to_live is None:
        return
    times = {}
    for row in history:
        if mode == STRATEGY_START:
            row.removal_time = add_days(row.start_time, definition.history_time_to_live)
        elif row.end_time is not None:
            row.removal_time = add_days(row.end_time, definition.history_time_to_live)
        if row.removal_time is not None:
            times[row.id] = row.removal_time
    for group in rows:
        for row in group:
            if row.process_instance_id in times:
                row.removal_time = times[row.process_instance_id]


@receiver(pre_save, sender=HistoricProcessInstance, dispatch_uid="engine.removal_time.at_start")
def _removal_time_at_start(sender, instance: HistoricProcessInstance, raw: bool = False, **kwargs) -> None:
    """start strategy: a new historic instance gets start time + time to live (one indexed lookup)."""
    if raw or not instance._state.adding or instance.removal_time is not None or strategy() != STRATEGY_START:
        return
    ttl = ProcessDefinition.objects.filter(id=instance.process_definition_id).values_list("history_time_to_live", flat=True).first()
    if ttl is not None:
        instance.removal_time = add_days(instance.start_time, ttl)


# --- calculated removal time (the set-removal-time batches) ------------------------------------


def calculated_instance_removal_times(instance_ids: Collection[str]) -> list[tuple[set[str], object]]:
    """(instance ids, removal time expression or None) groups: Camunda's calculated removal time.

    ProcessSetRemovalTimeJobHandler: with strategy start, or end and the instance ended, the
    DefaultHistoryRemovalTimeProvider's value: end time (start time while running) + the
    definition's time to live, none without one; otherwise no removal time.
    """
    mode = strategy()
    by_definition: dict[str, set[str]] = defaultdict(set)
    running: set[str] = set()
    rows = HistoricProcessInstance.objects.filter(id__in_ids=set(instance_ids)).values_list("id", "process_definition_id", "end_time")
    for instance_id, definition, end_time in rows:
        if mode == STRATEGY_START or (mode == STRATEGY_END and end_time is not None):
            by_definition[definition].add(instance_id)
        else:
            running.add(instance_id)
    ttls = definition_ttls(by_definition)
    groups: list[tuple[set[str], object]] = [(running, None)] if running else []
    for definition, ids in by_definition.items():
        ttl = ttls.get(definition)
        groups.append((ids, None if ttl is None else plus_days(Coalesce(F("end_time"), F("start_time")), ttl)))
    return groups


# --- historic batches ----------------------------------------------------------------------------


def batch_time_to_live(batch_type: str) -> int | None:
    """Days a historic batch of this type is kept: BATCH_OPERATIONS_FOR_HISTORY_CLEANUP[type], else
    BATCH_OPERATION_HISTORY_TIME_TO_LIVE (Camunda's parsedBatchOperationsForHistoryCleanup)."""
    history = settings.HISTORY
    value = history["BATCH_OPERATIONS_FOR_HISTORY_CLEANUP"].get(batch_type, history["BATCH_OPERATION_HISTORY_TIME_TO_LIVE"])
    return parse_history_time_to_live(value or None)


def batch_removal_time(batch_type: str, base: datetime | None) -> datetime | None:
    ttl = batch_time_to_live(batch_type)
    return None if ttl is None or base is None else add_days(base, ttl)
