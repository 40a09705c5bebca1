"""Single-instance operator actions (REST, Cockpit, admin): each change and its op-log entry in one transaction."""
from __future__ import annotations

from django.db import transaction

from engine.errors import BadUserRequest, NotFound
from engine.models import HistoricProcessInstance, ProcessInstance
from engine.services import lifecycle
from engine.services.oplog import operation_log_write


def instance_not_found(instance_id: str) -> str:
    return f"No process instance found for id '{instance_id}': processInstance is null"  # Camunda's DeleteProcessInstanceCmd


def instance_delete(*, instance: ProcessInstance, delete_reason: str | None, user_id: str | None) -> None:
    """Cancel one running instance (DELETE /process-instance/{id})."""
    with transaction.atomic():
        result = lifecycle.instances_delete(instance_ids=[instance.id], delete_reason=delete_reason)
        if instance.id not in result.changed:  # ended or cancelled by another writer meanwhile
            raise NotFound(instance_not_found(instance.id))
        operation_log_write(
            user_id=user_id,
            operation_type="Delete",
            entity_type="ProcessInstance",
            properties={"deleteReason": (None, delete_reason)} if delete_reason else None,
            process_instance_id=instance.id,
            process_definition_id=instance.process_definition_id,
            tenant_id=instance.tenant_id,
        )


def instance_set_suspended(*, instance: ProcessInstance, suspended: bool, user_id: str | None) -> None:
    """Suspend or activate one running instance (PUT /process-instance/{id}/suspended)."""
    with transaction.atomic():
        result = lifecycle.instances_set_suspended(instance_ids=[instance.id], suspended=suspended)
        if instance.id not in result.changed:
            raise NotFound(instance_not_found(instance.id))
        operation_log_write(
            user_id=user_id,
            operation_type="Suspend" if suspended else "Activate",
            entity_type="ProcessInstance",
            properties={"suspensionState": (None, "suspended" if suspended else "active")},
            process_instance_id=instance.id,
            process_definition_id=instance.process_definition_id,
            tenant_id=instance.tenant_id,
        )


def historic_instance_delete(*, row: HistoricProcessInstance, user_id: str | None) -> None:
    """Delete one finished instance's history (DELETE /history/process-instance/{id})."""
    with transaction.atomic():
        result = lifecycle.historic_instances_delete(instance_ids=[row.id])
        if row.id in result.skipped:
            reason = result.skipped[row.id]
            if reason == lifecycle.NOT_FOUND:
                raise NotFound(f"Historic process instance with id {row.id} does not exist")
            raise BadUserRequest(f"Process instance {row.id}: {reason}")
        # Camunda's DeleteHistoricProcessInstancesCmd: DeleteHistory, one instance, not async.
        operation_log_write(
            user_id=user_id,
            operation_type="DeleteHistory",
            entity_type="ProcessInstance",
            properties={"nrOfInstances": (None, 1), "async": (None, False)},
            process_instance_id=row.id,
            process_definition_id=row.process_definition_id,
            process_definition_key=row.process_definition_key,
            tenant_id=row.tenant_id,
        )
