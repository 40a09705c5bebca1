"""process-set-removal-time and batch-set-removal-time, and the removal time of historic batches.

POST /history/process-instance/set-removal-time and POST /history/batch/set-removal-time, as
Camunda's SetRemovalTimeToHistoricProcessInstancesCmd / SetRemovalTimeToHistoricBatchesCmd and
their job handlers (ProcessSetRemovalTimeJobHandler, BatchSetRemovalTimeJobHandler):

- exactly one mode: ``absoluteRemovalTime`` (a date), ``calculatedRemovalTime`` (the end time, or
  the start time while running, plus the time to live; only with the ``start`` strategy or for
  ended targets with ``end``, otherwise none) or ``clearedRemovalTime``;
- a chunk sets the removal time on the historic instances and on all their history rows (or on
  the historic batches with their job log and incidents) with a few UPDATEs, never one per target.

Also here, because they need the batch rows: the removal time a historic batch gets when the batch
starts (``start`` strategy) or ends (``end``), from BATCH_OPERATION_HISTORY_TIME_TO_LIVE /
BATCH_OPERATIONS_FOR_HISTORY_CLEANUP, and the history cleanup's step for expired historic batches
(their items, job log and incidents go with them). Importing this module (the operation registry
does, in every process) registers that step and, through engine.services.history_cleanup, the
``history-cleanup`` job handler.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import DateTimeField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from rest_framework import serializers

from batches.models import Batch, BatchItem, BatchProgressSample, HistoricBatch, WebhookDelivery
from batches.operations.base import (
    HISTORIC_INSTANCE_QUERY, BatchOperation, Selection, check_query, id_list, ineligible, query_field, run_query,
    selection_of,
)
from batches.selectors import HISTORIC_BATCH
from batches.operations.wizard import CHECKBOX, DATETIME, Field, WizardSpec
from engine.bulk import rows_delete
from engine.errors import BadUserRequestException
from engine.locking import historic_instances_lock, instances_lock
from engine.models import HistoricIncident, HistoricJobLog, HistoricProcessInstance
from engine.query import format_date, parse_date
from engine.selectors import HISTORIC_PROCESS_INSTANCE, visible
from engine.services import history_cleanup
from engine.services.lifecycle import ChunkResult
from engine.services.oplog import epoch_millis
from engine.services.removal_time import (
    STRATEGY_END, STRATEGY_START, batch_removal_time, batch_time_to_live, calculated_instance_removal_times,
    instances_removal_time_set, plus_days, strategy,
)

ABSOLUTE = "ABSOLUTE_REMOVAL_TIME"  # SetRemovalTimeToHistoricProcessInstancesBuilderImpl.Mode
CALCULATED = "CALCULATED_REMOVAL_TIME"
CLEARED = "CLEARED_REMOVAL_TIME"
MAX_CHUNK_SIZE = 500  # ProcessSetRemovalTimeJobHandler.MAX_CHUNK_SIZE

# Camunda's messages (the builders, the commands and EnsureUtil's wording).
MODES_EXCLUSIVE = "The removal time modes are mutually exclusive: mode is not null"
NO_MODE = "removalTime is null"
NEITHER = "Neither query nor ids provided."
CHUNK_SIZE = f"The value for chunk size should be between 1 and {MAX_CHUNK_SIZE}"
INSTANCE_NOT_FOUND = "historic process instance does not exist"
BATCH_NOT_FOUND = "historic batch does not exist"
NO_HISTORY = ("has no history and will be skipped", "have no history and will be skipped")


class CamundaDate(serializers.Field):
    def to_internal_value(self, data):
        try:
            return parse_date(data)
        except ValueError:
            raise serializers.ValidationError(f"Cannot parse date '{data}'; use yyyy-MM-dd'T'HH:mm:ss.SSSZ") from None

    def to_representation(self, value):
        return format_date(value)


def flag() -> serializers.BooleanField:
    # A Java boolean: absent or null is false.
    return serializers.BooleanField(required=False, allow_null=True, default=False)


class RemovalTimeModes(serializers.Serializer):
    absoluteRemovalTime = CamundaDate(required=False, allow_null=True)
    calculatedRemovalTime = flag()
    clearedRemovalTime = flag()


def removal_time_mode(data: dict) -> tuple[str, datetime | None]:
    """The one mode, checked as Camunda's REST resource calls the builder: calculated, absolute, cleared."""
    mode = None
    for chosen, name in ((CALCULATED, "calculatedRemovalTime"), (ABSOLUTE, "absoluteRemovalTime"), (CLEARED, "clearedRemovalTime")):
        if data.get(name):
            if mode is not None:
                raise BadUserRequestException(MODES_EXCLUSIVE)
            mode = chosen
    return mode, data.get("absoluteRemovalTime") if mode == ABSOLUTE else None


def check_selection_and_mode(data: dict, ids_name: str, query_name: str) -> None:
    if data.get(ids_name) is None and data.get(query_name) is None:
        raise BadUserRequestException(NEITHER)
    if data["mode"] is None:
        raise BadUserRequestException(NO_MODE)


MODE_FIELDS = (
    Field(
        "calculatedRemovalTime", "Calculate it: end time + the definition's history time to live", CHECKBOX,
        hint="Choose exactly one of the three: calculated, an absolute date, or cleared.",
    ),
    Field("absoluteRemovalTime", "Or an absolute removal time (UTC)", DATETIME),
    Field("clearedRemovalTime", "Or clear the removal time (kept until set again)", CHECKBOX),
)
# Camunda's two mode errors, as the wizard's three mode fields say them.
MODE_MESSAGES = (
    (NO_MODE, "calculatedRemovalTime", "Choose one: calculate it, an absolute removal time, or clear it."),
    (MODES_EXCLUSIVE, "calculatedRemovalTime", "Choose only one: calculate it, an absolute removal time, or clear it."),
)


# --- process-set-removal-time ----------------------------------------------------------------------


class ProcessSetRemovalTimeSerializer(RemovalTimeModes):
    historicProcessInstanceIds = id_list()
    historicProcessInstanceQuery = query_field()
    hierarchical = flag()
    updateInChunks = flag()
    updateChunkSize = serializers.IntegerField(required=False, allow_null=True)

    def validate_historicProcessInstanceQuery(self, value):
        return check_query(HISTORIC_PROCESS_INSTANCE, "historicProcessInstanceQuery", value)


class ProcessSetRemovalTime(BatchOperation):
    type = "process-set-removal-time"
    path = "history/process-instance/set-removal-time"
    label = "Set the removal time of historic process instances"
    permission_codename = "create_process_set_removal_time"
    permission_name = "Can create batches that set the removal time of historic process instances"
    serializer_class = ProcessSetRemovalTimeSerializer
    target_model = HistoricProcessInstance
    empty_message = "historicProcessInstances is empty"
    wizard = WizardSpec(
        key="removal-time",
        title="Set the removal time of historic process instances",
        verb="set the removal time of",
        scope="history",
        notice="The history cleanup deletes an instance's history once its removal time has passed. The removal "
        "time is set on each instance and on all its history (activities, variables, incidents, job log, "
        "operation log).",
        fields=MODE_FIELDS,
        ids_name="historicProcessInstanceIds",
        messages=MODE_MESSAGES,
    )

    def validate(self, payload: object, user=None) -> dict:
        data = super().validate(payload, user)
        data["mode"], data["removalTime"] = removal_time_mode(data)
        size = data.get("updateChunkSize")
        if size is not None and not 1 <= size <= MAX_CHUNK_SIZE:
            raise BadUserRequestException(CHUNK_SIZE)
        check_selection_and_mode(data, "historicProcessInstanceIds", "historicProcessInstanceQuery")
        return data

    def selection(self, data: dict, user) -> Selection:
        return selection_of(data, user, "historicProcessInstanceIds", HISTORIC_INSTANCE_QUERY)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        return ineligible(targets.count() - visible(HistoricProcessInstance, user).filter(pk__in=targets).count(), NO_HISTORY)

    def configuration(self, data: dict) -> dict:
        return {
            "mode": data["mode"],
            "removalTime": format_date(data["removalTime"]),
            "hierarchical": bool(data.get("hierarchical")),
            "updateInChunks": bool(data.get("updateInChunks")),
            "chunkSize": data.get("updateChunkSize"),
        }

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        # SetRemovalTimeToHistoricProcessInstancesCmd.writeUserOperationLog, in its order.
        return "SetRemovalTime", "ProcessInstance", {
            "mode": (None, data["mode"]),
            "removalTime": (None, epoch_millis(data["removalTime"])),
            "hierarchical": (None, bool(data.get("hierarchical"))),
            "nrOfInstances": (None, total),
            "async": (None, True),
            "updateInChunks": (None, bool(data.get("updateInChunks"))),
            "chunkSize": (None, data.get("updateChunkSize")),
        }

    def apply(self, ids, configuration):
        from django.conf import settings

        chunk = None
        if configuration.get("updateInChunks"):
            chunk = configuration.get("chunkSize") or settings.HISTORY["REMOVAL_TIME_UPDATE_CHUNK_SIZE"]
        removal = parse_date(configuration["removalTime"]) if configuration.get("removalTime") else None
        return historic_instances_set_removal_time(
            instance_ids=ids, mode=configuration["mode"], removal_time=removal, chunk_size=chunk,
        )


def historic_instances_set_removal_time(
    *, instance_ids: list[str], mode: str, removal_time: datetime | None, chunk_size: int | None = None
) -> ChunkResult:
    """Set (or clear, or calculate) the removal time of historic instances and all their history rows.

    Every instance is a root here (no call activities), so ``hierarchical`` changes nothing. Locks
    by the engine's rule: the running instances among them, then the historic rows (id order).
    """
    result = ChunkResult()
    with transaction.atomic():
        instances_lock(instance_ids)
        found = set(historic_instances_lock(instance_ids))
        result.changed = [i for i in instance_ids if i in found]
        result.skipped = {i: INSTANCE_NOT_FOUND for i in instance_ids if i not in found}
        if mode == CALCULATED:
            for group, value in calculated_instance_removal_times(found):
                instances_removal_time_set(group, value, chunk_size=chunk_size)
        else:
            instances_removal_time_set(found, removal_time if mode == ABSOLUTE else None, chunk_size=chunk_size)
    return result


# --- batch-set-removal-time ------------------------------------------------------------------------


class BatchSetRemovalTimeSerializer(RemovalTimeModes):
    historicBatchIds = id_list()
    historicBatchQuery = query_field()
    hierarchical = flag()  # in Camunda's DTO, without effect on batches

    def validate_historicBatchQuery(self, value):
        return check_query(HISTORIC_BATCH, "historicBatchQuery", value)


class BatchSetRemovalTime(BatchOperation):
    type = "batch-set-removal-time"
    path = "history/batch/set-removal-time"
    label = "Set the removal time of historic batches"
    permission_codename = "create_batch_set_removal_time"
    permission_name = "Can create batches that set the removal time of historic batches"
    serializer_class = BatchSetRemovalTimeSerializer
    target_model = HistoricBatch
    empty_message = "historicBatches is empty"

    def validate(self, payload: object, user=None) -> dict:
        data = super().validate(payload, user)
        data["mode"], data["removalTime"] = removal_time_mode(data)
        check_selection_and_mode(data, "historicBatchIds", "historicBatchQuery")
        return data

    def selection(self, data: dict, user) -> Selection:
        # Camunda keeps only the ids of existing historic batches (SetRemovalTimeToHistoricBatchesCmd).
        ids = data.get("historicBatchIds") or []
        sources = [visible(HistoricBatch, user).filter(id__in_ids=set(ids)).order_by()] if ids else []
        if data.get("historicBatchQuery") is not None:
            sources.append(run_query(HISTORIC_BATCH, HistoricBatch, user, data["historicBatchQuery"]))
        return Selection(sources=sources)

    def configuration(self, data: dict) -> dict:
        return {"mode": data["mode"], "removalTime": format_date(data["removalTime"])}

    def tenant_id(self, data: dict):
        return None  # Camunda's batch command logs and creates it without a tenant

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        # SetRemovalTimeToHistoricBatchesCmd.writeUserOperationLog (logBatchOperation: entity type Batch).
        return "SetRemovalTime", "Batch", {
            "mode": (None, data["mode"]),
            "removalTime": (None, epoch_millis(data["removalTime"])),
            "nrOfInstances": (None, total),
            "async": (None, True),
        }

    def apply(self, ids, configuration):
        removal = parse_date(configuration["removalTime"]) if configuration.get("removalTime") else None
        return historic_batches_set_removal_time(batch_ids=ids, mode=configuration["mode"], removal_time=removal)


def historic_batches_set_removal_time(*, batch_ids: list[str], mode: str, removal_time: datetime | None) -> ChunkResult:
    """The removal time of historic batches with their job log and incidents (HistoricBatchManager.addRemovalTimeById).

    Locks by the batch rule: Batch rows (of the running ones), then HistoricBatch rows, each in id
    order; so a batch that sets its own removal time queues with its own chunks instead of deadlocking.
    """
    result = ChunkResult()
    with transaction.atomic():
        list(Batch.objects.select_for_update().filter(id__in_ids=set(batch_ids)).order_by("id").values_list("id", flat=True))
        rows = list(
            HistoricBatch.objects.select_for_update().filter(id__in_ids=set(batch_ids)).order_by("id").values_list("id", "type")
        )
        found = {batch_id for batch_id, _ in rows}
        result.changed = [i for i in batch_ids if i in found]
        result.skipped = {i: BATCH_NOT_FOUND for i in batch_ids if i not in found}
        if mode != CALCULATED:
            historic_batches_removal_time_set(found, removal_time if mode == ABSOLUTE else None)
            return result
        by_type: dict[str, set[str]] = {}
        for batch_id, batch_type in rows:
            by_type.setdefault(batch_type, set()).add(batch_id)
        for batch_type, group in by_type.items():
            ttl = batch_time_to_live(batch_type)
            rows_of = HistoricBatch.objects.filter(id__in_ids=group)
            if ttl is None or strategy() not in (STRATEGY_END, STRATEGY_START):
                rows_of.update(removal_time=None)
            elif strategy() == STRATEGY_START:
                rows_of.update(removal_time=plus_days(Coalesce(F("end_time"), F("start_time")), ttl))
            else:  # end: only ended batches have a base time
                rows_of.filter(end_time__isnull=False).update(removal_time=plus_days(F("end_time"), ttl))
                rows_of.filter(end_time__isnull=True).update(removal_time=None)
            _batch_rows_follow(group)
    return result


def _definitions_of(batch_ids) -> QuerySet:
    return HistoricBatch.objects.filter(id__in_ids=set(batch_ids))


def _job_definition_ids(batch_ids) -> set[str]:
    ids: set[str] = set()
    for row in _definitions_of(batch_ids).values_list("seed_job_definition_id", "monitor_job_definition_id", "batch_job_definition_id"):
        ids.update(i for i in row if i)
    return ids


def historic_batches_removal_time_set(batch_ids, removal_time: datetime | None) -> None:
    if not batch_ids:
        return
    HistoricBatch.objects.filter(id__in_ids=set(batch_ids)).update(removal_time=removal_time)
    definitions = _job_definition_ids(batch_ids)
    HistoricJobLog.objects.filter(job_definition_id__in_ids=definitions).update(removal_time=removal_time)
    HistoricIncident.objects.filter(job_definition_id__in_ids=definitions).update(removal_time=removal_time)


def _batch_rows_follow(batch_ids) -> None:
    """The job log and incidents of batches take over their batch's removal time (one UPDATE each)."""
    definitions = _job_definition_ids(batch_ids)
    if not definitions:
        return
    owner = HistoricBatch.objects.filter(
        Q(seed_job_definition_id=OuterRef("job_definition_id"))
        | Q(monitor_job_definition_id=OuterRef("job_definition_id"))
        | Q(batch_job_definition_id=OuterRef("job_definition_id"))
    ).values("removal_time")[:1]
    value = Subquery(owner, output_field=DateTimeField())
    HistoricJobLog.objects.filter(job_definition_id__in_ids=definitions).update(removal_time=value)
    HistoricIncident.objects.filter(job_definition_id__in_ids=definitions).update(removal_time=value)


# --- the removal time of historic batches as batches start and end -------------------------------------


def batch_removal_time_at_start(batch_type: str, start_time: datetime) -> datetime | None:
    """start strategy: a new historic batch's removal time (DefaultHistoryEventProducer.createBatchStartEvent)."""
    return batch_removal_time(batch_type, start_time) if strategy() == STRATEGY_START else None


def batch_removal_time_on_end(batch_id: str) -> None:
    """A batch just ended (batches.execution.batch_end): end strategy, end time + its type's time to live on
    the historic batch, its job log and incidents (createBatchEndEvent); start: those rows take the batch's."""
    mode = strategy()
    if mode == STRATEGY_END:
        row = HistoricBatch.objects.filter(id=batch_id).values_list("type", "end_time").first()
        removal = batch_removal_time(*row) if row else None
        if removal is not None:
            historic_batches_removal_time_set([batch_id], removal)
    elif mode == STRATEGY_START:
        _batch_rows_follow([batch_id])


# --- the history cleanup's step for historic batches -----------------------------------------------


def expired_batches_delete(now: datetime, size: int) -> dict[str, int]:
    """Ended historic batches whose removal time has passed, with their items, job log and incidents."""
    candidates = list(
        HistoricBatch.objects.filter(removal_time__lte=now, end_time__isnull=False)
        .order_by("removal_time", "id").values_list("id", flat=True)[:size]
    )
    if not candidates:
        return {"historicBatches": 0}
    ids = set(
        HistoricBatch.objects.select_for_update().filter(id__in_ids=set(candidates), removal_time__lte=now)
        .order_by("id").values_list("id", flat=True)
    )
    return {"historicBatches": historic_batches_rows_delete(ids)}


def historic_batches_rows_delete(ids: set[str]) -> int:
    """Historic batches with every row that belongs to them: items, progress samples, webhook log,
    and their jobs' log and incidents. Plain DELETEs, no cascade collection in Python (a batch may
    have a million items). The history cleanup and the deletion of a batch or its history call it."""
    definitions = _job_definition_ids(ids)
    rows_delete(
        BatchItem.objects.filter(batch_id__in_ids=ids),
        BatchProgressSample.objects.filter(batch_id__in_ids=ids),
        WebhookDelivery.objects.filter(batch_id__in_ids=ids),
        HistoricJobLog.objects.filter(job_definition_id__in_ids=definitions),
        HistoricIncident.objects.filter(job_definition_id__in_ids=definitions),
    )
    return rows_delete(HistoricBatch.objects.filter(id__in_ids=ids))


history_cleanup.register_cleanup_step(expired_batches_delete)
