"""Which tenants a user may see: reads are filtered to these, never refused."""
from __future__ import annotations

from django.db.models import Q


def visible_tenant_ids(user) -> list[str] | None:
    """None means every tenant (superusers); otherwise the user's tenants (tenant-less data is shared)."""
    if getattr(user, "is_superuser", False):
        return None
    if not getattr(user, "is_authenticated", False):
        return []
    return list(user.tenants.values_list("id", flat=True))


def tenant_q(user, field: str = "tenant_id") -> Q:
    ids = visible_tenant_ids(user)
    if ids is None:
        return Q()
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__in": ids})


def may_use_tenant(user, tenant_id: str | None) -> bool:
    ids = visible_tenant_ids(user)
    return ids is None or tenant_id is None or tenant_id in ids
