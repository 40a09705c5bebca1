"""Writing and reading the typed variable rows of a process instance, with their history.

Every write leaves three traces: the runtime row (VariableInstance), the variable's last value in
history (HistoricVariableInstance) and the write itself (HistoricVariableUpdate, initial when the
instance starts with it), which is what restarting with `initialVariables` reads.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from engine.errors import EngineRefusal
from engine.locking import instance_lock, instances_lock
from engine.models import HistoricVariableInstance, HistoricVariableUpdate, ProcessInstance, VariableInstance
from engine.services.oplog import operation_log_write
from engine.variables import columns_of, typed_value

VALUE_COLUMNS = ("name", "type", "text_value", "long_value", "double_value")


def variable_rows(
    instance: ProcessInstance, variables: dict, now: datetime
) -> tuple[list[VariableInstance], list[HistoricVariableInstance]]:
    """New runtime and history rows for variables of a new instance (bulk inserts use these too)."""
    runtime, history = [], []
    for name, entry in variables.items():
        columns = columns_of(entry)
        runtime.append(VariableInstance(process_instance_id=instance.id, name=name, tenant_id=instance.tenant_id, **columns))
        history.append(
            HistoricVariableInstance(
                process_instance_id=instance.id,
                process_definition_id=instance.process_definition_id,
                process_definition_key=instance.process_definition.key,
                name=name,
                create_time=now,
                tenant_id=instance.tenant_id,
                **columns,
            )
        )
    return runtime, history


def variable_updates(
    history: list[HistoricVariableInstance], *, initial: bool, revisions: dict[str, int] | None = None,
    time: datetime | None = None,
) -> list[HistoricVariableUpdate]:
    """The write records of historic variable rows as they are now (revision 0 unless given by row id)."""
    return [
        HistoricVariableUpdate(
            variable_instance_id=row.id,
            process_instance_id=row.process_instance_id,
            process_definition_id=row.process_definition_id,
            process_definition_key=row.process_definition_key,
            revision=(revisions or {}).get(row.id, 0),
            time=time or row.create_time,
            initial=initial,
            tenant_id=row.tenant_id,
            **{column: getattr(row, column) for column in VALUE_COLUMNS},
        )
        for row in history
    ]


def variables_create(*, instance: ProcessInstance, variables: dict, now: datetime, initial: bool = False) -> None:
    """New variables of an instance; initial: the instance starts now with them."""
    runtime, history = variable_rows(instance, variables, now)
    VariableInstance.objects.bulk_create(runtime)
    HistoricVariableInstance.objects.bulk_create(history)
    HistoricVariableUpdate.objects.bulk_create(variable_updates(history, initial=initial))


def variables_set(*, instance: ProcessInstance, variables: dict, now: datetime) -> None:
    """Create or overwrite variables of a running instance; history keeps each variable's last value.

    The caller holds the instance's row lock (the engine's concurrency rule), so no other writer
    changes these rows meanwhile.
    """
    if variables:
        variables_set_many(instance_ids={instance.id}, variables=variables, now=now)


def variables_of(instance_id: str) -> dict:
    """The instance's variables in Camunda's typed form: {"name": {"value": ..., "type": ...}}."""
    return {row.name: typed_value(row) for row in VariableInstance.objects.filter(process_instance_id=instance_id)}


def variables_of_many(instance_ids: set[str]) -> dict[str, dict]:
    """{instance id: typed variables} of running instances, in one query."""
    found: dict[str, dict] = {}
    for row in VariableInstance.objects.filter(process_instance_id__in_ids=set(instance_ids)).order_by():
        found.setdefault(row.process_instance_id, {})[row.name] = typed_value(row)
    return found


def historic_variables_of_many(instance_ids: list[str], *, initial: bool) -> dict[str, dict]:
    """{instance id: typed variables} of finished instances: each variable's last value, or the
    values the instance started with (initial), in one query."""
    ids = set(instance_ids)
    if initial:
        rows = HistoricVariableUpdate.objects.filter(process_instance_id__in_ids=ids, initial=True)
    else:
        rows = HistoricVariableInstance.objects.filter(process_instance_id__in_ids=ids, state=HistoricVariableInstance.CREATED)
    found: dict[str, dict] = {}
    for row in rows.order_by():
        found.setdefault(row.process_instance_id, {})[row.name] = typed_value(row)
    return found


def variables_set_many(*, instance_ids: set[str], variables: dict, now: datetime, definition=None) -> None:
    """Set the same variables on many running instances, a few statements per variable name.

    The caller holds the instances' row locks. Instances that have the variable get it overwritten
    (runtime and history rows updated in one statement each); the others get new rows. A variable
    deleted earlier (its history row DELETED) comes back on the same history row, CREATED again
    from now (one history row per instance and name). Every write is a HistoricVariableUpdate with
    the next revision. definition: the instances' one definition (migration's target), else each
    instance's own.
    """
    ids = set(instance_ids)
    if not ids or not variables:
        return
    owners = {
        row[0]: row[1:]
        for row in ProcessInstance.objects.filter(id__in_ids=ids).values_list(
            "id", "tenant_id", "process_definition_id", "process_definition__key"
        )
    }
    if definition is not None:
        owners = {i: (tenant, definition.id, definition.key) for i, (tenant, _, _) in owners.items()}
    ids &= set(owners)
    for name, entry in variables.items():
        columns = columns_of(entry)
        having = set(
            VariableInstance.objects.filter(process_instance_id__in_ids=ids, name=name).values_list("process_instance_id", flat=True)
        )
        VariableInstance.objects.filter(process_instance_id__in_ids=having, name=name).update(**columns)
        VariableInstance.objects.bulk_create(
            [VariableInstance(process_instance_id=i, name=name, tenant_id=owners[i][0], **columns) for i in sorted(ids - having)]
        )
        history = HistoricVariableInstance.objects.filter(process_instance_id__in_ids=ids, name=name)
        history.filter(state=HistoricVariableInstance.DELETED).update(create_time=now)
        kept = set(history.values_list("process_instance_id", flat=True))
        history.update(state=HistoricVariableInstance.CREATED, **columns)
        HistoricVariableInstance.objects.bulk_create(
            [
                HistoricVariableInstance(
                    process_instance_id=i, process_definition_id=owners[i][1], process_definition_key=owners[i][2],
                    name=name, create_time=now, tenant_id=owners[i][0], **columns,
                )
                for i in sorted(ids - kept)
            ]
        )
        rows = list(history)
        revisions = dict(
            HistoricVariableUpdate.objects.filter(process_instance_id__in_ids=ids, name=name)
            .order_by()
            .values_list("variable_instance_id")
            .annotate(top=Max("revision"))
        )
        following = {row.id: revisions.get(row.id, -1) + 1 for row in rows}
        HistoricVariableUpdate.objects.bulk_create(variable_updates(rows, initial=False, revisions=following, time=now))


def variables_remove_many(*, instance_ids: set[str], names: list[str]) -> None:
    """Remove variables of running instances (the caller holds their locks); unknown names change nothing.

    Their history rows stay, DELETED (Camunda's HistoricVariableInstance state); no update is
    recorded for a removal (Camunda writes no ACT_HI_DETAIL row for it).
    """
    ids, wanted = set(instance_ids), set(names)
    if not ids or not wanted:
        return
    VariableInstance.objects.filter(process_instance_id__in_ids=ids, name__in_ids=wanted).delete()
    HistoricVariableInstance.objects.filter(
        process_instance_id__in_ids=ids, name__in_ids=wanted, state=HistoricVariableInstance.CREATED
    ).update(state=HistoricVariableInstance.DELETED)


# --- the operator's writes (REST, Cockpit, batches) ---------------------------------------------

# Camunda's operation types for variable writes (UserOperationLogEntry; AbstractSetVariableCmd,
# AbstractRemoveVariableCmd, AbstractPatchVariablesCmd), logged on the entity type Variable.
SET_VARIABLE = "SetVariable"
REMOVE_VARIABLE = "RemoveVariable"
MODIFY_VARIABLE = "ModifyVariable"
ENTITY_VARIABLE = "Variable"


class ExecutionNotFound(EngineRefusal):
    """The instance does not run (any more). Camunda's NullValueException, which it answers with a 500."""

    type_name = "NullValueException"


def execution_not_found(instance_id: str) -> str:
    return f"execution {instance_id} doesn't exist: execution is null"  # Camunda's ensureNotNull message


def instance_variables_update(
    *,
    instance_id: str,
    modifications: dict | None = None,
    deletions: list[str] | None = None,
    operation_type: str = MODIFY_VARIABLE,
    user_id: str | None,
) -> None:
    """Set, then remove, variables of one running instance, with its op-log entry, in one transaction.

    Suspended instances take variable writes as Camunda's do (ProcessInstanceSuspensionTest:
    testChangeVariablesAfterProcessInstanceSuspend). Camunda's SetExecutionVariablesCmd logs one
    entry without a property, in the context of the instance.
    """
    with transaction.atomic():
        instance = instance_lock(instance_id, related=("process_definition",))
        if instance is None:
            raise ExecutionNotFound(execution_not_found(instance_id))
        now = timezone.now()
        variables_set_many(instance_ids={instance.id}, variables=modifications or {}, now=now)
        variables_remove_many(instance_ids={instance.id}, names=deletions or [])
        operation_log_write(
            user_id=user_id,
            operation_type=operation_type,
            entity_type=ENTITY_VARIABLE,
            timestamp=now,
            process_instance_id=instance.id,
            execution_id=instance.id,
            process_definition_id=instance.process_definition_id,
            process_definition_key=instance.process_definition.key,
            tenant_id=instance.tenant_id,
        )


def variables_set_on_running(*, instance_ids: list[str], variables: dict) -> set[str]:
    """A set-variables batch chunk: lock the running instances among ids (id order), set the variables
    on all of them set-based; return the ids that were running. Camunda's batch logs no entry per
    instance (BatchSetVariablesHandler runs its commands with the op log prevented)."""
    with transaction.atomic():
        running = instances_lock(instance_ids)
        variables_set_many(instance_ids=running, variables=variables, now=timezone.now())
    return running
