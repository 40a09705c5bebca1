"""historic-instance-deletion: delete finished historic instances (POST /history/process-instance/delete)."""
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import BatchOperation, Selection, check_query, id_list, ineligible, query_field, run_query
from batches.operations.wizard import Field, WizardSpec
from engine.errors import BadUserRequest
from engine.models import HistoricProcessInstance
from engine.selectors import HISTORIC_PROCESS_INSTANCE, visible
from engine.services.lifecycle import historic_instances_delete

STILL_RUNNING = ("is still running and will be skipped", "are still running and will be skipped")
NO_HISTORY = ("has no history to delete and will be skipped", "have no history to delete and will be skipped")


class HistoricInstanceDeletionSerializer(serializers.Serializer):
    historicProcessInstanceIds = id_list()
    historicProcessInstanceQuery = query_field()
    deleteReason = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=4000)
    failIfNotExists = serializers.BooleanField(required=False, default=True)

    def validate_historicProcessInstanceQuery(self, value):
        return check_query(HISTORIC_PROCESS_INSTANCE, "historicProcessInstanceQuery", value)


class HistoricInstanceDeletion(BatchOperation):
    type = "historic-instance-deletion"
    path = "history/process-instance/delete"
    label = "Delete historic process instances"
    permission_codename = "create_historic_instance_deletion"
    permission_name = "Can create batches that delete historic process instances"
    serializer_class = HistoricInstanceDeletionSerializer
    target_model = HistoricProcessInstance
    empty_message = "historicProcessInstanceIds is empty"
    wizard = WizardSpec(
        key="delete-history",
        title="Delete historic process instances",
        verb="delete the history of",
        scope="history",
        notice="Only finished process instances can be deleted from history; running instances are not listed.",
        fields=(Field("deleteReason", "Delete reason", max_length=4000),),
        destructive=True,
        ids_name="historicProcessInstanceIds",
        constants={"failIfNotExists": False},
    )

    def selection(self, data: dict, user) -> Selection:
        ids = list(dict.fromkeys(data.get("historicProcessInstanceIds") or []))
        if ids and data["failIfNotExists"]:
            self._fail_if_missing(ids, user)
        sources = []
        if data.get("historicProcessInstanceQuery") is not None:
            found = run_query(HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance, user, data["historicProcessInstanceQuery"])
            sources.append(found.filter(end_time__isnull=False))  # only finished instances have history to delete
        return Selection(ids=ids, sources=sources)

    def _fail_if_missing(self, ids: list[str], user) -> None:
        found: set[str] = set()
        for start in range(0, len(ids), 10_000):
            chunk = ids[start : start + 10_000]
            found |= set(visible(HistoricProcessInstance, user).filter(id__in_ids=set(chunk)).values_list("id", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise BadUserRequest(f"historicProcessInstanceIds: no historic process instance found with id: {shown}")

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        # historic_instances_delete skips ids without history and instances that have not ended.
        history = visible(HistoricProcessInstance, user).filter(pk__in=targets)
        return [
            *ineligible(history.filter(end_time__isnull=True).count(), STILL_RUNNING),
            *ineligible(targets.count() - history.count(), NO_HISTORY),
        ]

    def configuration(self, data: dict) -> dict:
        return {"deleteReason": data.get("deleteReason"), "failIfNotExists": data["failIfNotExists"]}

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        return "DeleteHistory", "ProcessInstance", {
            "nrOfInstances": (None, total),
            "async": (None, True),
            "deleteReason": (None, data.get("deleteReason")),
        }

    def apply(self, ids, configuration):
        return historic_instances_delete(instance_ids=ids)
