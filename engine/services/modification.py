"""Process instance modification: cancel, startBeforeActivity, startAfterActivity, startTransition."""
from __future__ import annotations

from django.db import transaction

from engine.errors import BadUserRequest, NotFound
from engine.locking import instance_lock
from engine.models import ActivityInstance, ProcessDefinition
from engine.services.oplog import operation_log_write
from engine.services.runtime import Operation

INSTRUCTION_TYPES = ("cancel", "startBeforeActivity", "startAfterActivity", "startTransition")
MODIFICATION_DELETE_REASON = "Cancellation due to process instance modification"


def validate_instructions(definition: ProcessDefinition, instructions: object) -> list[dict]:
    """Check instructions against the definition; raise BadUserRequest naming the bad one."""
    if not isinstance(instructions, list) or not instructions:
        raise BadUserRequest("instructions must be a non-empty list")
    cleaned = []
    for index, instruction in enumerate(instructions):
        where = f"instructions[{index}]"
        if not isinstance(instruction, dict):
            raise BadUserRequest(f"{where} must be an object")
        kind = instruction.get("type")
        if kind not in INSTRUCTION_TYPES:
            raise BadUserRequest(f"{where}.type must be one of {', '.join(INSTRUCTION_TYPES)}")
        if kind == "startTransition":
            transition_id = instruction.get("transitionId")
            if not transition_id or not isinstance(transition_id, str):
                raise BadUserRequest(f"{where}: 'transitionId' must be set for startTransition")
            if definition.flow(transition_id) is None:
                raise BadUserRequest(
                    f"{where}: transition '{transition_id}' does not exist in process definition '{definition.id}'"
                )
            cleaned.append({"type": kind, "transitionId": transition_id})
            continue
        activity_id = instruction.get("activityId")
        if not activity_id or not isinstance(activity_id, str):
            raise BadUserRequest(f"{where}: 'activityId' must be set for {kind}")
        node = definition.activity(activity_id)
        if node is None:
            raise BadUserRequest(
                f"{where}: activity '{activity_id}' does not exist in process definition '{definition.id}'"
            )
        if kind == "startAfterActivity" and len(node["outgoing"]) != 1:
            raise BadUserRequest(
                f"{where}: activity '{activity_id}' must have exactly one outgoing sequence flow "
                f"for startAfterActivity, it has {len(node['outgoing'])}"
            )
        cleaned.append({"type": kind, "activityId": activity_id})
    return cleaned


def instance_modify(
    *,
    instance_id: str,
    instructions: list[dict],
    skip_custom_listeners: bool = False,
    skip_io_mappings: bool = False,
    annotation: str | None = None,
    user_id: str | None = None,
    expected_definition_id: str | None = None,
    log_operation: bool = True,
) -> bool:
    """Apply instructions in order to one instance; return whether the instance ended."""
    # Listeners and IO mappings do not exist in this engine, so both skip flags change nothing.
    del skip_custom_listeners, skip_io_mappings
    with transaction.atomic():
        instance = instance_lock(instance_id, related=("process_definition",))
        if instance is None:
            raise NotFound(f"Process instance with id '{instance_id}' does not exist")
        definition = instance.process_definition
        if expected_definition_id and definition.id != expected_definition_id:
            raise BadUserRequest(
                f"Process instance '{instance_id}' belongs to process definition '{definition.id}', "
                f"not '{expected_definition_id}'"
            )
        if instance.suspended:
            raise BadUserRequest(f"Process instance '{instance_id}' is suspended and cannot be modified")
        cleaned = validate_instructions(definition, instructions)
        operation = Operation(instance=instance, definition=definition)
        for instruction in cleaned:
            _apply(operation, instruction)
        ended = operation.finish(delete_reason=MODIFICATION_DELETE_REASON)
        if not log_operation:
            return ended
        operation_log_write(
            user_id=user_id,
            operation_type="ModifyProcessInstance",
            entity_type="ProcessInstance",
            properties={"nrOfInstructions": (None, len(cleaned)), "async": (None, False)},
            process_instance_id=instance_id,
            process_definition_id=definition.id,
            process_definition_key=definition.key,
            annotation=annotation,
            tenant_id=instance.tenant_id,
        )
    return ended


def _apply(operation: Operation, instruction: dict) -> None:
    kind = instruction["type"]
    if kind == "cancel":
        token_ids = list(
            ActivityInstance.objects.filter(
                process_instance=operation.instance, activity_id=instruction["activityId"]
            ).values_list("id", flat=True)
        )
        operation.remove_tokens(token_ids, canceled=True)
    elif kind == "startBeforeActivity":
        operation.enter(instruction["activityId"])
    elif kind == "startAfterActivity":
        node = operation.definition.activity(instruction["activityId"])
        operation.take(node["outgoing"][0])
    else:
        operation.take(instruction["transitionId"])
