"""Writing and reading the typed variable rows of a process instance, with their history."""
from __future__ import annotations

from datetime import datetime

from engine.models import HistoricVariableInstance, ProcessInstance, VariableInstance
from engine.variables import columns_of, typed_value


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


def variables_create(*, instance: ProcessInstance, variables: dict, now: datetime) -> None:
    """The variables of an instance that starts now."""
    runtime, history = variable_rows(instance, variables, now)
    VariableInstance.objects.bulk_create(runtime)
    HistoricVariableInstance.objects.bulk_create(history)


def variables_set(*, instance: ProcessInstance, variables: dict, now: datetime) -> None:
    """Create or overwrite variables of a running instance; history keeps each variable's last value.

    The caller holds the instance's row lock (the engine's concurrency rule), so no other writer
    changes these rows meanwhile.
    """
    if not variables:
        return
    existing = set(
        VariableInstance.objects.filter(process_instance_id=instance.id, name__in=list(variables)).values_list("name", flat=True)
    )
    fresh = {name: entry for name, entry in variables.items() if name not in existing}
    for name in existing:
        columns = columns_of(variables[name])
        VariableInstance.objects.filter(process_instance_id=instance.id, name=name).update(**columns)
        HistoricVariableInstance.objects.filter(process_instance_id=instance.id, name=name).update(**columns)
    if fresh:
        variables_create(instance=instance, variables=fresh, now=now)


def variables_of(instance_id: str) -> dict:
    """The instance's variables in Camunda's typed form: {"name": {"value": ..., "type": ...}}."""
    return {row.name: typed_value(row) for row in VariableInstance.objects.filter(process_instance_id=instance_id)}
