"""Process instance modification: cancel, startBeforeActivity, startAfterActivity, startTransition."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from engine.errors import BadUserRequest, NotFound
from engine.locking import instance_lock
from engine.models import ActivityInstance, ProcessDefinition
from engine.services.oplog import operation_log_write
from engine.services.runtime import Operation
from engine.services.variables import variables_set
from engine.variables import parse_typed_variables

INSTRUCTION_TYPES = ("cancel", "startBeforeActivity", "startAfterActivity", "startTransition")
INSTRUCTION_FIELDS = {
    "type", "activityId", "transitionId", "activityInstanceId", "transitionInstanceId",
    "ancestorActivityInstanceId", "variables", "cancelCurrentActiveActivityInstances",
}
MODIFICATION_DELETE_REASON = "Cancellation due to process instance modification"
# Camunda's messages (ModificationRestServiceImpl, ProcessInstanceResourceImpl; research §9).
CANCEL_NEEDS_ONE = "For instruction type 'cancel': exactly one, 'activityId', 'activityInstanceId', or 'transitionInstanceId', is required"
MUST_BE_SET = "For instruction type '{kind}': '{field}' must be set"
# What Camunda's many-instance modification silently ignores is refused here instead (never dropped).
NOT_FOR_MANY = "instructions[{index}].{field}: not supported when modifying many instances (Camunda ignores it there); it is refused rather than dropped"


def validate_instructions(definition: ProcessDefinition, instructions: object, *, many: bool = False) -> list[dict]:
    """Check instructions against the definition; raise BadUserRequest naming the bad one.

    many: the instructions of /modification/execute(Async) (a batch), where a cancellation names
    an activity only and instructions carry no variables (Camunda's InstantiationBuilder path).
    """
    if not isinstance(instructions, list) or not instructions:
        raise BadUserRequest("instructions must be a non-empty list")
    return [_instruction(definition, index, instruction, many) for index, instruction in enumerate(instructions)]


def _instruction(definition: ProcessDefinition, index: int, instruction: object, many: bool) -> dict:
    where = f"instructions[{index}]"
    if not isinstance(instruction, dict):
        raise BadUserRequest(f"{where} must be an object")
    unknown = sorted(k for k, v in instruction.items() if k not in INSTRUCTION_FIELDS and v is not None)
    if unknown:
        raise BadUserRequest(f"{where}: unknown property '{unknown[0]}'")
    kind = instruction.get("type")
    if kind not in INSTRUCTION_TYPES:
        raise BadUserRequest(f"{where}.type must be one of {', '.join(INSTRUCTION_TYPES)}")
    flag = instruction.get("cancelCurrentActiveActivityInstances")
    if flag is not None and not isinstance(flag, bool):
        raise BadUserRequest(f"{where}.cancelCurrentActiveActivityInstances must be a boolean")
    if kind == "cancel":
        return _cancel(definition, where, index, instruction, many)
    if flag:
        raise BadUserRequest(f"{where}: cancelCurrentActiveActivityInstances can only be used with instructions of type cancel")
    for field in ("activityInstanceId", "transitionInstanceId"):
        if instruction.get(field) is not None:
            raise BadUserRequest(f"{where}.{field}: only instructions of type cancel name an activity or transition instance")
    cleaned = {"type": kind}
    if kind == "startTransition":
        cleaned["transitionId"] = _transition(definition, where, instruction)
    else:
        cleaned["activityId"] = _activity(definition, where, kind, instruction)
    for field in ("variables", "ancestorActivityInstanceId"):
        if instruction.get(field) is not None and many:
            raise BadUserRequest(NOT_FOR_MANY.format(index=index, field=field))
    if instruction.get("variables") is not None:
        cleaned["variables"] = parse_typed_variables(instruction["variables"], f"{where}.variables")
    if instruction.get("ancestorActivityInstanceId") is not None:
        cleaned["ancestorActivityInstanceId"] = _text(where, "ancestorActivityInstanceId", instruction)
    return cleaned


def _cancel(definition: ProcessDefinition, where: str, index: int, instruction: dict, many: bool) -> dict:
    named = [f for f in ("activityId", "activityInstanceId", "transitionInstanceId") if instruction.get(f) is not None]
    if many:
        for field in ("activityInstanceId", "transitionInstanceId", "variables", "ancestorActivityInstanceId"):
            if instruction.get(field) is not None:
                raise BadUserRequest(NOT_FOR_MANY.format(index=index, field=field))
        if named != ["activityId"]:
            raise BadUserRequest(MUST_BE_SET.format(kind="cancel", field="activityId"))
    elif len(named) != 1:
        raise BadUserRequest(CANCEL_NEEDS_ONE)
    cleaned: dict = {"type": "cancel", "cancelCurrentActiveActivityInstances": bool(instruction.get("cancelCurrentActiveActivityInstances"))}
    if named[0] == "activityId":
        node_id = _text(where, "activityId", instruction)
        if definition.activity(node_id) is None:
            raise BadUserRequest(f"{where}: activity '{node_id}' does not exist in process definition '{definition.id}'")
        cleaned["activityId"] = node_id
    else:
        cleaned[named[0]] = _text(where, named[0], instruction)
    return cleaned


def _text(where: str, field: str, instruction: dict) -> str:
    value = instruction.get(field)
    if not isinstance(value, str) or not value:
        raise BadUserRequest(f"{where}.{field} must be a non-empty string")
    return value


def _transition(definition: ProcessDefinition, where: str, instruction: dict) -> str:
    if not instruction.get("transitionId"):
        raise BadUserRequest(MUST_BE_SET.format(kind="startTransition", field="transitionId"))
    transition_id = _text(where, "transitionId", instruction)
    if definition.flow(transition_id) is None:
        raise BadUserRequest(f"{where}: transition '{transition_id}' does not exist in process definition '{definition.id}'")
    return transition_id


def _activity(definition: ProcessDefinition, where: str, kind: str, instruction: dict) -> str:
    if not instruction.get("activityId"):
        raise BadUserRequest(MUST_BE_SET.format(kind=kind, field="activityId"))
    activity_id = _text(where, "activityId", instruction)
    node = definition.activity(activity_id)
    if node is None:
        raise BadUserRequest(f"{where}: activity '{activity_id}' does not exist in process definition '{definition.id}'")
    if kind == "startAfterActivity" and len(node["outgoing"]) != 1:
        raise BadUserRequest(
            f"{where}: activity '{activity_id}' must have exactly one outgoing sequence flow "
            f"for startAfterActivity, it has {len(node['outgoing'])}"
        )
    return activity_id


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
    many: bool = False,
) -> bool:
    """Apply instructions in order to one instance; return whether the instance ended.

    The caller's lock rule (engine.locking): the instance row is locked before its state is read.
    """
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
        cleaned = validate_instructions(definition, instructions, many=many)
        operation = Operation(instance=instance, definition=definition)
        # Tokens active before the first instruction: what cancelCurrentActiveActivityInstances cancels.
        before = set(ActivityInstance.objects.filter(process_instance=instance).values_list("id", flat=True))
        for instruction in cleaned:
            _apply(operation, instruction, before)
        ended = operation.finish(delete_reason=MODIFICATION_DELETE_REASON)
        if log_operation:
            # Camunda's ModifyProcessInstanceCmd: one entry, no property, with the annotation.
            operation_log_write(
                user_id=user_id,
                operation_type="ModifyProcessInstance",
                entity_type="ProcessInstance",
                process_instance_id=instance_id,
                process_definition_id=definition.id,
                process_definition_key=definition.key,
                annotation=annotation,
                tenant_id=instance.tenant_id,
            )
    return ended


def _apply(operation: Operation, instruction: dict, before: set[str]) -> None:
    kind = instruction["type"]
    if kind == "cancel":
        operation.remove_tokens(_tokens_to_cancel(operation, instruction, before), canceled=True)
        return
    _check_ancestor(operation, instruction)
    if instruction.get("variables"):
        variables_set(instance=operation.instance, variables=instruction["variables"], now=timezone.now())
        operation.forget_variables()
    operation.start(instruction)


def _tokens_to_cancel(operation: Operation, instruction: dict, before: set[str]) -> list[str]:
    tokens = ActivityInstance.objects.filter(process_instance=operation.instance)
    if "activityInstanceId" in instruction:
        token_ids = list(tokens.filter(id=instruction["activityInstanceId"]).values_list("id", flat=True))
        if not token_ids:
            raise BadUserRequest(
                f"Cannot perform instruction: Cancel activity instance '{instruction['activityInstanceId']}'; "
                f"Activity instance '{instruction['activityInstanceId']}' does not exist"
            )
        return token_ids
    if "transitionInstanceId" in instruction:  # this engine has no transition instances (async before/after)
        raise BadUserRequest(
            f"Cannot perform instruction: Cancel transition instance '{instruction['transitionInstanceId']}'; "
            f"Transition instance '{instruction['transitionInstanceId']}' does not exist"
        )
    token_ids = list(tokens.filter(activity_id=instruction["activityId"]).values_list("id", flat=True))
    if instruction["cancelCurrentActiveActivityInstances"]:
        token_ids = [t for t in token_ids if t in before]
    return token_ids


def _check_ancestor(operation: Operation, instruction: dict) -> None:
    # No sub-scopes in this engine: the only ancestor activity instance is the process instance itself.
    ancestor = instruction.get("ancestorActivityInstanceId")
    if ancestor is not None and ancestor != operation.instance.id:
        raise BadUserRequest(
            f"Cannot perform instruction: ancestor activity instance '{ancestor}' does not exist in process instance "
            f"'{operation.instance.id}' (its only ancestor scope is the instance itself)"
        )
