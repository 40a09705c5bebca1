"""set-external-task-retries: POST /external-task/retries-async (and the same body for PUT /external-task/retries).

Targets are external task ids: those named, those of an externalTaskQuery, and those of the
process instances named or found by processInstanceQuery / historicProcessInstanceQuery (Camunda's
AbstractSetExternalTaskRetriesCmd). A chunk sets the retries of all its tasks with a few statements
(engine.services.external_tasks.external_tasks_set_retries); a task that is gone is SKIPPED.
"""
from django.db.models import Q, QuerySet
from rest_framework import serializers

from batches.operations.base import (
    BatchOperation, InstanceQueries, Selection, check_query, id_list, ineligible, query_field, run_query,
)
from batches.operations.wizard import INTEGER, Field, WizardSpec
from engine.models import ExternalTask, HistoricProcessInstance, ProcessInstance
from engine.selectors import EXTERNAL_TASK, HISTORIC_PROCESS_INSTANCE, PROCESS_INSTANCE, visible
from engine.services.external_tasks import external_tasks_set_retries
from engine.services.lifecycle import ChunkResult

TASK_GONE = "external task does not exist any more"
NO_TASK = ("no longer exists and will be skipped", "no longer exist and will be skipped")
RETRIES_NULL = "The number of retries cannot be null."  # ExternalTaskRestServiceImpl
RETRIES_NEGATIVE = "The number of retries cannot be negative: retries is not greater than or equal to 0"


class ExternalTaskRetriesField(serializers.Field):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError(f"Cannot set retries to '{data}': an Integer is expected")
        if data < 0:
            raise serializers.ValidationError(RETRIES_NEGATIVE)
        if data > 2**31 - 1:
            raise serializers.ValidationError(f"Cannot set retries to '{data}': beyond Java's Integer")
        return data

    def to_representation(self, value):
        return value


class ExternalTaskRetriesSerializer(InstanceQueries):
    """Camunda's SetRetriesForExternalTasksDto."""

    externalTaskIds = id_list()
    processInstanceIds = id_list()
    externalTaskQuery = query_field()
    retries = ExternalTaskRetriesField(required=False, allow_null=True)

    def validate_externalTaskQuery(self, value):
        return check_query(EXTERNAL_TASK, "externalTaskQuery", value)

    def validate(self, attrs):
        if attrs.get("retries") is None:
            raise serializers.ValidationError({"retries": RETRIES_NULL})
        return attrs


def external_task_selection(data: dict, user) -> Selection:
    """The external tasks a SetRetriesForExternalTasksDto selects (explicit ids kept even if unknown)."""
    sources = []
    if data.get("externalTaskQuery") is not None:
        sources.append(run_query(EXTERNAL_TASK, ExternalTask, user, data["externalTaskQuery"]))
    instances = Q(pk__in=[])
    selects_instances = False
    if data.get("processInstanceIds"):
        instances |= Q(process_instance_id__in=data["processInstanceIds"])
        selects_instances = True
    if data.get("processInstanceQuery") is not None:
        found = run_query(PROCESS_INSTANCE, ProcessInstance, user, data["processInstanceQuery"])
        instances |= Q(process_instance_id__in=found.values("pk"))
        selects_instances = True
    if data.get("historicProcessInstanceQuery") is not None:
        found = run_query(HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance, user, data["historicProcessInstanceQuery"])
        instances |= Q(process_instance_id__in=found.values("pk"))
        selects_instances = True
    if selects_instances:
        sources.append(visible(ExternalTask, user).filter(instances).order_by())
    return Selection(ids=data.get("externalTaskIds") or [], sources=sources)


class SetExternalTaskRetries(BatchOperation):
    type = "set-external-task-retries"
    path = "external-task/retries-async"
    label = "Set retries of external tasks"
    permission_codename = "create_set_external_task_retries"
    permission_name = "Can create batches that set external task retries"
    serializer_class = ExternalTaskRetriesSerializer
    target_model = ExternalTask
    empty_message = "externalTaskIds is empty"  # SetExternalTasksRetriesBatchCmd's ensureNotEmpty
    wizard = WizardSpec(
        key="external-task-retries",
        title="Set retries of external tasks",
        verb="set the retries of",
        scope="runtime",
        notice="Sets the retries of every external task of the selected running instances: with retries, failed "
        "tasks are fetched by workers again and their incidents are resolved; 0 raises an incident for each.",
        fields=(Field("retries", "Retries", INTEGER, min_value=0, required="Enter the number of retries."),),
        unit="external task",
        ids_name="processInstanceIds",
    )

    def selection(self, data: dict, user) -> Selection:
        return external_task_selection(data, user)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        # external_tasks_set_retries skips tasks that are gone; suspended tasks get their retries too.
        return ineligible(targets.count() - visible(ExternalTask, user).filter(pk__in=targets).count(), NO_TASK)

    def configuration(self, data: dict) -> dict:
        return {"retries": data["retries"]}

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        # SetExternalTasksRetriesBatchCmd → writeUserOperationLogAsync: one entry, no task of its own.
        return "SetExternalTaskRetries", "ExternalTask", {
            "nrOfInstances": (None, total),
            "async": (None, True),
            "retries": (None, data["retries"]),
        }

    def apply(self, ids, configuration):
        found = external_tasks_set_retries(task_ids=ids, retries=configuration["retries"])
        return ChunkResult(changed=[i for i in ids if i in found], skipped={i: TASK_GONE for i in ids if i not in found})
