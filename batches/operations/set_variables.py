"""set-variables: set the same variables on many running instances (POST /process-instance/variables-async)."""
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import (
    NOT_RUNNING_SKIPPED, BatchOperation, InstanceQueries, Selection, id_list, ineligible, run_query, running_among,
)
from batches.operations.wizard import VARIABLES, Field, WizardSpec
from engine.errors import BadUserRequest, BadUserRequestException
from engine.models import HistoricProcessInstance, ProcessInstance
from engine.selectors import HISTORIC_PROCESS_INSTANCE, PROCESS_INSTANCE, visible
from engine.services.lifecycle import NOT_RUNNING, ChunkResult
from engine.services.variables import variables_set_on_running
from engine.variables import parse_variables_map

# Camunda's messages (ProcessInstanceRestServiceImpl.setVariablesAsync, SetVariablesToProcessInstancesBatchCmd).
CANNOT_SET = "Cannot set variables: "
VARIABLES_NULL = "variables is null"
VARIABLES_EMPTY = "variables is empty"
NO_SELECTOR = "No process instances found."
EMPTY_SELECTION = "processInstanceIds is empty"


class SetVariablesSerializer(InstanceQueries):
    processInstanceIds = id_list()
    # Camunda's map of VariableValueDto: {"name": {"value": …, "type": …, "valueInfo": …}}, checked
    # by the operation with Camunda's messages.
    variables = serializers.DictField(required=False, allow_null=True, child=serializers.JSONField())


class SetVariables(BatchOperation):
    type = "set-variables"
    path = "process-instance/variables-async"
    label = "Set variables of process instances"
    permission_codename = "create_set_variables"
    permission_name = "Can create batches that set variables of process instances"
    serializer_class = SetVariablesSerializer
    target_model = ProcessInstance
    empty_message = EMPTY_SELECTION
    wizard = WizardSpec(
        key="set-variables",
        title="Set variables",
        verb="set variables on",
        scope="runtime",
        notice="Sets the same variables on every selected running instance: a variable the instance has is "
        "overwritten (its history keeps each write), a new one is created. Suspended instances get them too, as "
        "in Camunda; instances that end before their turn are skipped.",
        fields=(Field("variables", "Variables", VARIABLES, required="Add at least one variable."),),
    )

    def validate(self, payload: object, user=None) -> dict:
        data = super().validate(payload, user)
        # Camunda's order: the REST layer converts the values, then the command checks the map and the selectors.
        variables = parse_variables_map(data.get("variables"), CANNOT_SET)
        if variables is None:
            raise BadUserRequest(VARIABLES_NULL)
        if not variables:
            raise BadUserRequestException(VARIABLES_EMPTY)
        selectors = ("processInstanceIds", "processInstanceQuery", "historicProcessInstanceQuery")
        if all(data.get(name) is None for name in selectors):
            raise BadUserRequest(NO_SELECTOR)
        data["typed"] = variables
        return data

    def selection(self, data: dict, user) -> Selection:
        """Running instances only, as Camunda collects them: the ids through a runtime query (unknown and
        finished ones are dropped), the historic query with `unfinished` added."""
        sources: list[QuerySet] = []
        if data.get("processInstanceIds"):
            sources.append(visible(ProcessInstance, user).filter(pk__in_ids=set(data["processInstanceIds"])).order_by())
        if data.get("processInstanceQuery") is not None:
            sources.append(run_query(PROCESS_INSTANCE, ProcessInstance, user, data["processInstanceQuery"]))
        if data.get("historicProcessInstanceQuery") is not None:
            historic = run_query(HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance, user, data["historicProcessInstanceQuery"])
            sources.append(historic.filter(end_time__isnull=True))
        return Selection(sources=sources)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        # Suspended instances take the variables too (Camunda allows variable writes on them).
        return ineligible(targets.count() - running_among(targets, user).count(), NOT_RUNNING_SKIPPED)

    def configuration(self, data: dict) -> dict:
        return {"variables": data["typed"]}

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        # SetVariablesToProcessInstancesBatchCmd.writeUserOperationLog: SetVariables on ProcessInstance.
        return "SetVariables", "ProcessInstance", {
            "nrOfInstances": (None, total),
            "nrOfVariables": (None, len(data["typed"])),
            "async": (None, True),
        }

    def apply(self, ids, configuration):
        running = variables_set_on_running(instance_ids=ids, variables=configuration["variables"])
        return ChunkResult(
            changed=[i for i in ids if i in running], skipped={i: NOT_RUNNING for i in ids if i not in running}
        )
