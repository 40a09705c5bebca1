"""Synchronous migration: the selected instances move now, in one transaction, all or none (Camunda's)."""
from __future__ import annotations

from django.db import transaction

from batches.operations.instance_migration import InstanceMigration, migration_log_properties
from engine.errors import EngineRefusal
from engine.services.migration import INSTANCE_INVALID, INSTANCE_MISSING, InstanceNotMigratable, instance_report
from engine.services.oplog import operation_log_write
from engine.tenancy import visible_tenant_ids

MIGRATION = InstanceMigration()


def migration_execute(*, data: dict, ids: list[str], user) -> int:
    """Migrate ids (validated data of a migration payload) now; raise on the first that cannot move.

    Used by POST /migration/execute and by Cockpit for small confirmed selections; returns the number moved.
    """
    plan = data["plan"]
    with transaction.atomic():
        result = MIGRATION.run_chunk(ids, {**MIGRATION.configuration(data), "tenantIds": visible_tenant_ids(user)})
        # Camunda stops at the first instance that cannot migrate and rolls everything back.
        first = next((i for i in ids if i in result.failed or i in result.skipped), None)
        if first in result.skipped:
            raise EngineRefusal(INSTANCE_MISSING.format(instance=first))
        if first is not None:
            if result.failed[first].startswith(INSTANCE_INVALID.format(instance=first)):
                raise InstanceNotMigratable(result.failed[first], instance_report(plan, first))
            raise EngineRefusal(result.failed[first])
        operation_log_write(
            user_id=user.get_username(),
            operation_type="Migrate",
            entity_type="ProcessInstance",
            properties=migration_log_properties(plan, len(ids), asynchronous=False),
            **MIGRATION.operation_log_refs(data),
        )
    return len(ids)
