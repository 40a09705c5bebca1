"""instance-modification: move tokens of many instances (POST /modification/executeAsync)."""
from django.db import transaction
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import (
    NOT_RUNNING_SKIPPED,
    BatchOperation,
    InstanceQueries,
    Selection,
    definition_refs,
    id_list,
    ineligible,
    instance_selection,
    running_among,
)
from batches.operations.wizard import INSTRUCTIONS, Field, WizardSpec, flags
from engine.errors import BadUserRequest, EngineRefusal, NotFound
from engine.locking import instances_lock
from engine.models import ProcessDefinition, ProcessInstance
from engine.selectors import visible
from engine.services.lifecycle import NOT_RUNNING, ChunkResult
from engine.services.modification import (
    INSTRUCTION_TYPES,
    OTHER_DEFINITION,
    instance_modify,
    instances_modify,
    validate_instructions,
)

SUSPENDED_WILL_FAIL = ("is suspended and will fail", "are suspended and will fail")
OTHER_VERSION = ("belongs to another version and will be skipped", "belong to another version and will be skipped")


class ModificationSerializer(InstanceQueries):
    processDefinitionId = serializers.CharField(required=True, allow_blank=False, max_length=255)
    instructions = serializers.ListField(child=serializers.DictField(), required=True, allow_empty=False)
    processInstanceIds = id_list()
    skipCustomListeners = serializers.BooleanField(required=False, default=False)
    skipIoMappings = serializers.BooleanField(required=False, default=False)
    annotation = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=4000)

    def validate(self, attrs):
        selectors = ("processInstanceIds", "processInstanceQuery", "historicProcessInstanceQuery")
        if all(attrs.get(name) is None for name in selectors):
            raise serializers.ValidationError(
                "Either processInstanceIds, processInstanceQuery or historicProcessInstanceQuery has to be set"
            )
        definition = ProcessDefinition.objects.filter(id=attrs["processDefinitionId"]).first()
        if definition is None:
            raise serializers.ValidationError(
                {"processDefinitionId": f"Process definition '{attrs['processDefinitionId']}' does not exist"}
            )
        try:
            attrs["instructions"] = validate_instructions(definition, attrs["instructions"], many=True)
        except BadUserRequest as exc:
            raise serializers.ValidationError({"instructions": str(exc)}) from exc
        attrs["definition"] = definition
        return attrs


class InstanceModification(BatchOperation):
    type = "instance-modification"
    path = "modification/executeAsync"
    label = "Modify process instances"
    permission_codename = "create_instance_modification"
    permission_name = "Can create batches that modify process instances"
    serializer_class = ModificationSerializer
    target_model = ProcessInstance
    empty_message = "Process instance ids is empty"
    # Rows built in memory per chunk; 1000 spreads a 5k-item batch over both workers (bench/RESULTS.md).
    invocations_per_job = 1000
    wizard = WizardSpec(
        key="modify",
        title="Modify process instances",
        verb="modify",
        scope="runtime",
        notice="Only running instances of the chosen process definition version are modified; choose the version first.",
        fields=(
            Field(
                "instructions", "Instructions", INSTRUCTIONS, choices=INSTRUCTION_TYPES,
                required="Add at least one instruction: its type and the activity it acts on.",
                hint="Instructions run in order, for every selected instance of the chosen version.",
            ),
            *flags("skipCustomListeners", "skipIoMappings"),
            Field("annotation", "Annotation", max_length=4000),
        ),
        destructive=True,
        version="processDefinitionId",
        version_required="Choose the process definition version to modify.",
    )

    def selection(self, data: dict, user) -> Selection:
        return instance_selection(data, user)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        # apply() skips what does not run, then (instance_modify) skips another definition's instance
        # before it refuses a suspended one, which fails the item: so only this version's suspended fail.
        running = running_among(targets, user)
        this_version = running.filter(process_definition_id=data["processDefinitionId"])
        return [
            *ineligible(this_version.filter(suspended=True).count(), SUSPENDED_WILL_FAIL),
            *ineligible(running.count() - this_version.count(), OTHER_VERSION),
            *ineligible(targets.count() - running.count(), NOT_RUNNING_SKIPPED),
        ]

    def configuration(self, data: dict) -> dict:
        return {
            "processDefinitionId": data["processDefinitionId"],
            "instructions": data["instructions"],
            "skipCustomListeners": data["skipCustomListeners"],
            "skipIoMappings": data["skipIoMappings"],
            "annotation": data.get("annotation"),
        }

    def tenant_id(self, data: dict):
        return data["definition"].tenant_id

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        return "ModifyProcessInstance", "ProcessInstance", {"nrOfInstances": (None, total), "async": (None, True)}

    def operation_log_refs(self, data: dict) -> dict:
        # Camunda's ProcessInstanceModificationBatchCmd fills the definition's id and key columns.
        return definition_refs(data["definition"])

    def apply(self, ids, configuration):
        """Set-based (engine.services.modification.instances_modify): the chunk's instances are
        locked at once in id order (engine.locking), walk the instructions in memory, and their
        rows change with a few statements per table.

        The single-instance form (modification-async) takes the full instruction set (variables,
        activity instance ids), which instance_modify applies to its one instance.
        """
        if configuration.get("many", True):
            return instances_modify(
                definition_id=configuration["processDefinitionId"],
                instance_ids=list(ids),
                instructions=configuration["instructions"],
            )
        result = ChunkResult()
        running = instances_lock(ids)
        for instance_id in ids:
            if instance_id not in running:
                result.skipped[instance_id] = NOT_RUNNING
                continue
            try:
                with transaction.atomic():
                    instance_modify(
                        instance_id=instance_id,
                        instructions=configuration["instructions"],
                        skip_custom_listeners=configuration["skipCustomListeners"],
                        skip_io_mappings=configuration["skipIoMappings"],
                        annotation=configuration.get("annotation"),
                        expected_definition_id=configuration["processDefinitionId"],
                        log_operation=False,  # the batch's creation wrote the one entry, with the user
                    )
                result.changed.append(instance_id)
            except NotFound:
                result.skipped[instance_id] = NOT_RUNNING
            except BadUserRequest as exc:
                if "belongs to process definition" not in str(exc):
                    raise
                result.skipped[instance_id] = OTHER_DEFINITION
        return result


# --- POST /process-instance/{id}/modification-async ----------------------------------------------
# Camunda's ProcessInstanceResourceImpl.modifyProcessInstanceAsync: a ProcessInstanceModificationDto
# (instructions, skipCustomListeners, skipIoMappings, annotation) for the instance in the path, as an
# instance-modification batch of that one instance (ModifyProcessInstanceAsyncCmd: the instance's
# definition and tenant, one op-log entry ModifyProcessInstance naming the instance).
NO_INSTRUCTIONS = "The provided instuctions are invalid."  # sic, Camunda's message


def instance_cannot_be_modified(instance_id: str) -> str:
    # CommandLogger.processInstanceDoesNotExist: a ProcessEngineException (500 there, 400 here).
    return f"ENGINE-13036 Process instance '{instance_id}' cannot be modified. The process instance does not exist"


class SingleInstanceModificationSerializer(serializers.Serializer):
    processInstanceId = serializers.CharField(max_length=64)  # from the path
    instructions = serializers.JSONField(required=False, allow_null=True)
    skipCustomListeners = serializers.BooleanField(required=False, default=False)
    skipIoMappings = serializers.BooleanField(required=False, default=False)
    annotation = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=4000)

    def validate(self, attrs):
        instructions = attrs.get("instructions")
        if not isinstance(instructions, list) or not instructions:
            raise serializers.ValidationError(NO_INSTRUCTIONS)
        return attrs


class InstanceModificationAsync(InstanceModification):
    """The same batch type, for the one instance named in the path."""

    path = "process-instance/<str:processInstanceId>/modification-async"
    label = "Modify one process instance asynchronously"
    serializer_class = SingleInstanceModificationSerializer
    empty_message = "Process instance ids is empty"
    wizard = None  # the wizard modifies many instances

    def validate(self, payload: object, user=None) -> dict:
        data = super(InstanceModification, self).validate(payload, user)
        instance_id = data["processInstanceId"]
        instance = (
            visible(ProcessInstance, user).select_related("process_definition").filter(id=instance_id).first()
            if user is not None else None
        )
        if instance is None:
            raise EngineRefusal(instance_cannot_be_modified(instance_id))
        definition = instance.process_definition
        # Checked now as the synchronous call checks them (the batch checks again when it runs).
        validate_instructions(definition, data["instructions"], many=False)
        data["definition"] = definition
        data["processDefinitionId"] = definition.id
        return data

    def selection(self, data: dict, user) -> Selection:
        return Selection(ids=[data["processInstanceId"]])

    def configuration(self, data: dict) -> dict:
        # The instructions as sent: typed variables are parsed again when the batch applies them.
        return {**super().configuration(data), "many": False}

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        return "ModifyProcessInstance", "ProcessInstance", {}  # PropertyChange.EMPTY_CHANGE, as Camunda

    def operation_log_refs(self, data: dict) -> dict:
        return {"process_instance_id": data["processInstanceId"], **definition_refs(data["definition"])}
