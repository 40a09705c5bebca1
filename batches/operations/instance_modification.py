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
    running_among,
)
from batches.operations.suspension import instance_selection
from batches.operations.wizard import INSTRUCTIONS, Field, WizardSpec, flags
from engine.errors import BadUserRequest, NotFound
from engine.locking import instances_lock
from engine.models import ProcessDefinition, ProcessInstance
from engine.services.lifecycle import NOT_RUNNING, ChunkResult
from engine.services.modification import INSTRUCTION_TYPES, instance_modify, validate_instructions

OTHER_DEFINITION = "instance belongs to another process definition"
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
    invocations_per_job = 200  # walks each instance's tokens one at a time
    wizard = WizardSpec(
        key="modify",
        title="Modify process instances",
        verb="modify",
        scope="runtime",
        notice="Only running instances of the chosen process definition version are modified; choose the version first.",
        fields=(
            Field(
                "instructions", "Instructions", INSTRUCTIONS, choices=INSTRUCTION_TYPES,
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
        """One instance at a time: modification walks each instance's tokens.

        The chunk's instances are locked first, all at once in id order (engine.locking), so two
        chunks that share instances queue instead of deadlocking.
        """
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
                        many=True,
                    )
                result.changed.append(instance_id)
            except NotFound:
                result.skipped[instance_id] = NOT_RUNNING
            except BadUserRequest as exc:
                if "belongs to process definition" not in str(exc):
                    raise
                result.skipped[instance_id] = OTHER_DEFINITION
        return result
