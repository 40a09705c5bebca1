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
from engine.models import HistoricProcessInstance, ProcessDefinition
from engine.services.lifecycle import ChunkResult
from engine.services.modification import validate_instructions
from engine.services.instantiation import BulkStart
from engine.services.variables import historic_variables_of_many

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

    Set-based: the historic rows are locked (engine.locking, so a concurrent history deletion
    waits for the copy) and read with their variables in two queries, the new instances walk their
    instructions in memory, and every table's rows are inserted at once (engine.services.instantiation).
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
            else:
                result.changed.append(historic_id)
        variables = historic_variables_of_many(result.changed, initial=initial_variables)
        starts = BulkStart(definition, timezone.now())
        for historic_id in result.changed:
            starts.add(
                business_key=None if without_business_key else rows[historic_id].business_key,
                variables=variables.get(historic_id, {}),
                instructions=instructions,
                user_id=user_id,
                restarted_from=historic_id,
            )
        starts.save()
    return result


def restart_refusal(historic_id: str, historic: HistoricProcessInstance | None, definition: ProcessDefinition) -> str | None:
    if historic is None:
        return NOT_FOUND
    if historic.process_definition_id != definition.id:
        return OTHER_DEFINITION.format(id=historic_id, actual=historic.process_definition_id, expected=definition.id)
    if historic.end_time is None:
        return NOT_FINISHED.format(id=historic_id)
    return None
