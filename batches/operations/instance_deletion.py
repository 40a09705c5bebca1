"""instance-deletion: cancel running process instances (POST /process-instance/delete)."""
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import (
    NOT_RUNNING_SKIPPED,
    BatchOperation,
    HistoricQueryOnly,
    Selection,
    check_query,
    id_list,
    ineligible,
    instance_selection,
    query_field,
    running_among,
)
from batches.operations.wizard import Field, WizardSpec, flags
from engine.models import ProcessInstance
from engine.selectors import PROCESS_INSTANCE
from engine.services.lifecycle import instances_delete


class InstanceDeletionSerializer(serializers.Serializer):
    processInstanceIds = id_list()
    processInstanceQuery = query_field()
    deleteReason = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=4000)
    skipCustomListeners = serializers.BooleanField(required=False, default=False)
    skipSubprocesses = serializers.BooleanField(required=False, default=False)
    skipIoMappings = serializers.BooleanField(required=False, default=False)

    def validate_processInstanceQuery(self, value):
        return check_query(PROCESS_INSTANCE, "processInstanceQuery", value)


class InstanceDeletion(BatchOperation):
    type = "instance-deletion"
    path = "process-instance/delete"
    label = "Cancel running process instances"
    permission_codename = "create_instance_deletion"
    permission_name = "Can create batches that cancel running process instances"
    serializer_class = InstanceDeletionSerializer
    target_model = ProcessInstance
    empty_message = "processInstanceIds is empty"
    wizard = WizardSpec(
        key="cancel",
        title="Cancel running process instances",
        verb="cancel",
        scope="runtime",
        notice="Only running process instances can be cancelled. Their history is kept and marked EXTERNALLY_TERMINATED.",
        fields=(
            Field("deleteReason", "Delete reason", max_length=4000),
            *flags("skipCustomListeners", "skipSubprocesses", "skipIoMappings"),
        ),
        destructive=True,
    )

    def selection(self, data: dict, user) -> Selection:
        return instance_selection(data, user)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        # instances_delete skips what does not run; it cancels suspended instances too.
        return ineligible(targets.count() - running_among(targets, user).count(), NOT_RUNNING_SKIPPED)

    def configuration(self, data: dict) -> dict:
        return {
            "deleteReason": data.get("deleteReason"),
            "skipCustomListeners": data["skipCustomListeners"],
            "skipSubprocesses": data["skipSubprocesses"],
            "skipIoMappings": data["skipIoMappings"],
        }

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        return "Delete", "ProcessInstance", {
            "nrOfInstances": (None, total),
            "async": (None, True),
            "deleteReason": (None, data.get("deleteReason")),
        }

    def apply(self, ids, configuration):
        return instances_delete(instance_ids=ids, delete_reason=configuration.get("deleteReason"))


# --- POST /process-instance/delete-historic-query-based ------------------------------------------
# Camunda's ProcessInstanceRestServiceImpl.deleteAsyncHistoricQueryBased reads the same
# DeleteProcessInstancesDto but selects with processInstanceIds and historicProcessInstanceQuery only
# (the historic query's ids, finished ones included: those are skipped as not running when the batch
# runs, as Camunda's DeleteProcessInstancesCmd with failIfNotExists=false ignores them). It silently
# drops a processInstanceQuery; that is refused here rather than ignored (HistoricQueryOnly). The
# DTO has no failIfNotExists: the batch never fails on a missing instance.
class InstanceDeletionHistoricQuerySerializer(HistoricQueryOnly):
    runtime_path = "process-instance/delete"
    processInstanceIds = id_list()
    deleteReason = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=4000)
    skipCustomListeners = serializers.BooleanField(required=False, default=False)
    skipSubprocesses = serializers.BooleanField(required=False, default=False)
    skipIoMappings = serializers.BooleanField(required=False, default=False)


class InstanceDeletionByHistoricQuery(InstanceDeletion):
    """The same batch type (instance-deletion), selecting running instances through their history."""

    path = "process-instance/delete-historic-query-based"
    label = "Cancel running process instances selected by a historic query"
    serializer_class = InstanceDeletionHistoricQuerySerializer
    wizard = None  # the wizard offers the runtime form

