"""instance-restart: restart finished instances (POST /process-definition/{id}/restart-async)."""
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import (
    BatchOperation,
    Selection,
    check_query,
    definition_refs,
    id_list,
    ineligible,
    HISTORIC_INSTANCE_QUERY,
    query_field,
    selection_of,
)
from batches.operations.wizard import CHECKBOX, INSTRUCTIONS, Field, WizardSpec, flags
from engine.errors import BadUserRequest
from engine.models import HistoricProcessInstance, ProcessDefinition
from engine.selectors import HISTORIC_PROCESS_INSTANCE, visible
from engine.services.restart import START_TYPES, instances_restart, restart_instructions

# Camunda's RestartProcessInstancesCmd / the REST resource (research: migration_restart.md §2).
NO_SELECTION = "processInstanceIds is empty"
NOT_FOUND_FAILS = ("has no history and will fail", "have no history and will fail")
OTHER_DEFINITION_FAILS = (
    "belongs to another process definition and will fail", "belong to another process definition and will fail",
)
RUNNING_FAILS = ("is not finished and will fail", "are not finished and will fail")


def definition_not_found(definition_id: str) -> str:
    # Camunda's deployment cache; a 400 (its OpenAPI says 404, its code answers 400).
    return f"no deployed process definition found with id '{definition_id}': processDefinition is null"


class RestartSerializer(serializers.Serializer):
    processDefinitionId = serializers.CharField(max_length=255)  # from the path
    processInstanceIds = id_list()
    historicProcessInstanceQuery = query_field()
    instructions = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)
    initialVariables = serializers.BooleanField(required=False, default=False)
    skipCustomListeners = serializers.BooleanField(required=False, default=False)
    skipIoMappings = serializers.BooleanField(required=False, default=False)
    withoutBusinessKey = serializers.BooleanField(required=False, default=False)

    def validate_historicProcessInstanceQuery(self, value):
        return check_query(HISTORIC_PROCESS_INSTANCE, "historicProcessInstanceQuery", value)


class InstanceRestart(BatchOperation):
    type = "instance-restart"
    path = "process-definition/<str:processDefinitionId>/restart-async"
    label = "Restart process instances"
    permission_codename = "create_instance_restart"
    permission_name = "Can create batches that restart finished process instances"
    serializer_class = RestartSerializer
    target_model = HistoricProcessInstance
    empty_message = NO_SELECTION
    invocations_per_job = 1000  # rows built in Python per instance, inserted in bulk (bench/: 1000-2000 per job)
    wizard = WizardSpec(
        key="restart",
        title="Restart finished process instances",
        verb="restart",
        scope="history",
        notice="Starts a new instance of the chosen version for every selected finished instance of that version, "
        "with its variables (their last values, or the initial ones) and, unless left out, its business key.",
        fields=(
            Field(
                "instructions", "Start instructions", INSTRUCTIONS, choices=START_TYPES,
                required="Add at least one start instruction: where the restarted instances begin.",
                hint="Where the new instances start, in order; at least one instruction.",
            ),
            Field("initialVariables", "Use the initial variables (instead of the last values)", CHECKBOX),
            Field("withoutBusinessKey", "Without business key", CHECKBOX),
            *flags("skipCustomListeners", "skipIoMappings"),
        ),
        destructive=True,  # new instances run their tasks; a restart cannot be taken back
        version="processDefinitionId",
        version_required="Choose the process definition version to restart.",
    )

    def validate(self, payload: object, user=None) -> dict:
        data = super().validate(payload, user)
        data["definition"] = restart_definition(data["processDefinitionId"], user)
        data["instructions"] = restart_instructions(data["definition"], data.get("instructions"))
        if not data.get("processInstanceIds") and data.get("historicProcessInstanceQuery") is None:
            raise BadUserRequest(NO_SELECTION)
        return data

    def selection(self, data: dict, user) -> Selection:
        return selection_of(data, user, "processInstanceIds", HISTORIC_INSTANCE_QUERY)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        history = visible(HistoricProcessInstance, user).filter(pk__in=targets)
        other = history.exclude(process_definition_id=data["definition"].id).count()
        running = history.filter(process_definition_id=data["definition"].id, end_time__isnull=True).count()
        return [
            *ineligible(targets.count() - history.count(), NOT_FOUND_FAILS),
            *ineligible(other, OTHER_DEFINITION_FAILS),
            *ineligible(running, RUNNING_FAILS),
        ]

    def configuration(self, data: dict) -> dict:
        return {
            "processDefinitionId": data["definition"].id,
            "instructions": data["instructions"],
            "initialVariables": data["initialVariables"],
            "skipCustomListeners": data["skipCustomListeners"],
            "skipIoMappings": data["skipIoMappings"],
            "withoutBusinessKey": data["withoutBusinessKey"],
        }

    def tenant_id(self, data: dict):
        return data["definition"].tenant_id

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        return "RestartProcessInstance", "ProcessInstance", restart_log_properties(total, asynchronous=True)

    def operation_log_refs(self, data: dict) -> dict:
        return definition_refs(data["definition"])

    def apply(self, ids, configuration):
        definition = ProcessDefinition.objects.filter(id=configuration["processDefinitionId"]).first()
        if definition is None:
            raise BadUserRequest(definition_not_found(configuration["processDefinitionId"]))
        return instances_restart(
            definition=definition,
            historic_ids=ids,
            instructions=configuration["instructions"],
            initial_variables=configuration["initialVariables"],
            without_business_key=configuration["withoutBusinessKey"],
            user_id=configuration.get("userId"),  # the caller of the synchronous form; none in a batch
        )


def restart_definition(definition_id: str, user) -> ProcessDefinition:
    definition = visible(ProcessDefinition, user).filter(id=definition_id).first() if user else None
    if definition is None:
        raise BadUserRequest(definition_not_found(definition_id))
    return definition


def restart_log_properties(total: int, *, asynchronous: bool) -> dict:
    # Camunda's AbstractRestartProcessInstanceCmd: these two, for the batch and for the synchronous call.
    return {"nrOfInstances": (None, total), "async": (None, asynchronous)}
