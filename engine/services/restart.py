"""Restarting finished process instances: a new instance per historic one, with its variables.

Each restart starts a new instance of the given definition with the historic instance's business
key (unless withoutBusinessKey) and its variables (their last values, or the values it started
with: initialVariables), places tokens as the instructions say (startBeforeActivity,
startAfterActivity, startTransition) and records which instance it restarted.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from engine.errors import BadUserRequest
from engine.locking import historic_instances_lock
from engine.models import HistoricProcessInstance, ProcessDefinition, ProcessInstance
from engine.services.lifecycle import ChunkResult
from engine.services.modification import validate_instructions
from engine.services.runtime import Operation
from engine.services.variables import historic_variables_of, variables_create

START_TYPES = ("startBeforeActivity", "startAfterActivity", "startTransition")
# Camunda's messages (RestartProcessInstancesCmd and its builder; /work/research/migration_restart.md).
NO_INSTRUCTIONS = "Restart instructions cannot be empty: instructions is {state}"
NOT_FOUND = "Historic process instance cannot be found: historicProcessInstanceId is null"
NOT_FINISHED = "ENGINE-13040 Historic process instance '{id}' cannot be restarted. It is not completed or terminated."
OTHER_DEFINITION = (
    "ENGINE-13039 Historic process instance '{id}' cannot be restarted. Its process definition '{actual}' "
    "does not match given process definition '{expected}'"
)
DEFINITION_SUSPENDED = "Process definition with id '{id}' is suspended"


def restart_instructions(definition: ProcessDefinition, raw: object) -> list[dict]:
    """Validate restart instructions: start instructions only, each naming something in the definition."""
    if raw is None or raw == []:  # null: Camunda dereferences it (a 500); its message for empty, as a 400
        raise BadUserRequest(NO_INSTRUCTIONS.format(state="null" if raw is None else "empty"))
    cleaned = validate_instructions(definition, raw, many=True)
    for index, instruction in enumerate(cleaned):
        if instruction["type"] not in START_TYPES:
            raise BadUserRequest(f"instructions[{index}].type must be one of {', '.join(START_TYPES)}")
    return cleaned


def instances_restart(
    *,
    definition: ProcessDefinition,
    historic_ids: list[str],
    instructions: list[dict],
    initial_variables: bool = False,
    without_business_key: bool = False,
    user_id: str | None = None,
) -> ChunkResult:
    """Restart each finished historic instance; the others are failed items with Camunda's reason.

    Returns the historic ids restarted (changed) and failed ones. The historic rows are locked
    (engine.locking) so that a concurrent history deletion waits for the copy.
    """
    result = ChunkResult()
    if definition.suspended:
        raise BadUserRequest(DEFINITION_SUSPENDED.format(id=definition.id))
    with transaction.atomic():
        ends = historic_instances_lock(historic_ids)
        rows = {
            h.id: h
            for h in HistoricProcessInstance.objects.filter(id__in_ids=set(ends)).only(
                "id", "business_key", "process_definition_id", "end_time"
            )
        }
        for historic_id in historic_ids:
            reason = restart_refusal(historic_id, rows.get(historic_id), definition)
            if reason:
                result.failed[historic_id] = reason
                continue
            instance_restart(
                definition=definition,
                historic=rows[historic_id],
                instructions=instructions,
                initial_variables=initial_variables,
                without_business_key=without_business_key,
                user_id=user_id,
            )
            result.changed.append(historic_id)
    return result


def restart_refusal(historic_id: str, historic: HistoricProcessInstance | None, definition: ProcessDefinition) -> str | None:
    if historic is None:
        return NOT_FOUND
    if historic.process_definition_id != definition.id:
        return OTHER_DEFINITION.format(id=historic_id, actual=historic.process_definition_id, expected=definition.id)
    if historic.end_time is None:
        return NOT_FINISHED.format(id=historic_id)
    return None


def instance_restart(
    *,
    definition: ProcessDefinition,
    historic: HistoricProcessInstance,
    instructions: list[dict],
    initial_variables: bool,
    without_business_key: bool,
    user_id: str | None,
) -> ProcessInstance:
    """A new instance from one finished historic instance (the caller checked it may restart)."""
    now = timezone.now()
    business_key = None if without_business_key else historic.business_key
    instance = ProcessInstance.objects.create(
        process_definition=definition,
        business_key=business_key,
        tenant_id=definition.tenant_id,
        start_time=now,
        start_user_id=user_id,
    )
    first = instructions[0]
    HistoricProcessInstance.objects.create(
        id=instance.id,
        business_key=business_key,
        process_definition_id=definition.id,
        process_definition_key=definition.key,
        process_definition_name=definition.name,
        process_definition_version=definition.version,
        start_time=now,
        start_user_id=user_id,
        start_activity_id=first.get("activityId") or definition.flow(first["transitionId"])["target"],
        tenant_id=definition.tenant_id,
        state=HistoricProcessInstance.ACTIVE,
        restarted_process_instance_id=historic.id,
    )
    variables = historic_variables_of(historic.id, initial=initial_variables)
    variables_create(instance=instance, variables=variables, now=now, initial=True)
    operation = Operation(instance=instance, definition=definition, now=now)
    for instruction in instructions:
        if instruction["type"] == "startBeforeActivity":
            operation.enter(instruction["activityId"])
        elif instruction["type"] == "startAfterActivity":
            operation.take(definition.activity(instruction["activityId"])["outgoing"][0])
        else:
            operation.take(instruction["transitionId"])
    operation.finish()
    return instance
