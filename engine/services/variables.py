"""Writing and reading the typed variable rows of a process instance, with their history.

Every write leaves three traces: the runtime row (VariableInstance), the variable's last value in
history (HistoricVariableInstance) and the write itself (HistoricVariableUpdate, initial when the
instance starts with it), which is what restarting with `initialVariables` reads.
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Max

from engine.models import HistoricVariableInstance, HistoricVariableUpdate, ProcessInstance, VariableInstance
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
    if existing:
        history = list(HistoricVariableInstance.objects.filter(process_instance_id=instance.id, name__in=existing))
        revisions = dict(
            HistoricVariableUpdate.objects.filter(variable_instance_id__in=[h.id for h in history])
            .order_by()
            .values_list("variable_instance_id")
            .annotate(top=Max("revision"))
        )
        following = {row.id: revisions.get(row.id, -1) + 1 for row in history}
        HistoricVariableUpdate.objects.bulk_create(variable_updates(history, initial=False, revisions=following, time=now))
    if fresh:
        variables_create(instance=instance, variables=fresh, now=now)


def variables_of(instance_id: str) -> dict:
    """The instance's variables in Camunda's typed form: {"name": {"value": ..., "type": ...}}."""
    return {row.name: typed_value(row) for row in VariableInstance.objects.filter(process_instance_id=instance_id)}


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



def variables_set_many(*, instance_ids: set[str], definition, variables: dict, now: datetime) -> None:
    """Set the same variables on many running instances, a few statements per variable name.

    The caller holds the instances' row locks. Instances that have the variable get it overwritten
    (runtime and history rows updated in one statement each); the others get new rows.
    """
    ids = set(instance_ids)
    tenants = dict(ProcessInstance.objects.filter(id__in_ids=ids).values_list("id", "tenant_id"))
    for name, entry in variables.items():
        columns = columns_of(entry)
        having = set(VariableInstance.objects.filter(process_instance_id__in_ids=ids, name=name).values_list("process_instance_id", flat=True))
        VariableInstance.objects.filter(process_instance_id__in_ids=having, name=name).update(**columns)
        history = HistoricVariableInstance.objects.filter(process_instance_id__in_ids=having, name=name)
        history.update(**columns)
        revisions = dict(
            HistoricVariableUpdate.objects.filter(process_instance_id__in_ids=having, name=name)
            .order_by()
            .values_list("variable_instance_id")
            .annotate(top=Max("revision"))
        )
        updated = list(history)
        following = {row.id: revisions.get(row.id, -1) + 1 for row in updated}
        fresh = [i for i in ids if i not in having]
        VariableInstance.objects.bulk_create(
            [VariableInstance(process_instance_id=i, name=name, tenant_id=tenants.get(i), **columns) for i in fresh]
        )
        created = [
            HistoricVariableInstance(
                process_instance_id=i, process_definition_id=definition.id, process_definition_key=definition.key,
                name=name, create_time=now, tenant_id=tenants.get(i), **columns,
            )
            for i in fresh
        ]
        HistoricVariableInstance.objects.bulk_create(created)
        HistoricVariableUpdate.objects.bulk_create(
            variable_updates(updated, initial=False, revisions=following, time=now) + variable_updates(created, initial=False, time=now)
        )
