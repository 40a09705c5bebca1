"""The user operation log: who did what, when, to what, with which properties."""
from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from engine.models import UserOperationLogEntry, new_id

CATEGORY_OPERATOR = "Operator"
CATEGORY_ADMIN = "Admin"
CATEGORY_TASK_WORKER = "TaskWorker"


def epoch_millis(value: datetime | None) -> int | None:
    """A date as Camunda's op log stores it (PropertyChange: String.valueOf(date.getTime()))."""
    return None if value is None else int(value.timestamp() * 1000)


def log_value(value: object) -> str | None:
    """A property value as Camunda stores it: text, with booleans as "true"/"false" (Java's toString)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def operation_log_write(
    *,
    user_id: str | None,
    operation_type: str,
    entity_type: str,
    category: str = CATEGORY_OPERATOR,
    properties: dict[str, tuple[object, object]] | None = None,
    timestamp: datetime | None = None,
    **refs: str | None,
) -> str:
    """Write one entry per changed property (or one without a property); return the operation id."""
    operation_id = new_id()
    when = timestamp or timezone.now()
    items = list((properties or {}).items()) or [(None, (None, None))]
    entries = [
        UserOperationLogEntry(
            operation_id=operation_id,
            user_id=user_id,
            timestamp=when,
            operation_type=operation_type,
            entity_type=entity_type,
            category=category,
            property=prop,
            org_value=log_value(org),
            new_value=log_value(new),
            **refs,
        )
        for prop, (org, new) in items
    ]
    UserOperationLogEntry.objects.bulk_create(entries)
    return operation_id
