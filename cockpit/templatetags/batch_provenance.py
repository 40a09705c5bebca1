"""The provenance of a batch on its details page: what was asked, why, and its retry links both ways."""
from __future__ import annotations

import json

from django import template

from batches.models import BatchItem, HistoricBatch
from batches.operations import REGISTRY
from batches.retry import retries_of, still_retrying_jobs
from engine.selectors import visible

register = template.Library()


@register.simple_tag(takes_context=True)
def batch_provenance(context, historic: HistoricBatch) -> dict:
    """retry_of (visible to the user, else only its id), retried_by, the request as JSON and the
    options it was created with (the retry buttons: batch_retries)."""
    user = context["request"].user
    request = historic.request or {}
    return {
        "retry_of": visible(HistoricBatch, user).filter(id=historic.retry_of_id).first() if historic.retry_of_id else None,
        "retry_of_id": historic.retry_of_id,
        "retried_by": retries_of(historic, user),
        "payload": json.dumps(request.get("payload"), indent=2, sort_keys=True) if "payload" in request else None,
        "options": _options_shown(request.get("options") or {}),
    }


@register.simple_tag(takes_context=True)
def batch_retries(context, historic: HistoricBatch, live_counts: dict) -> dict:
    """Which retries as a new batch the user may start: the type's create permission, a kept
    request, items in that state, and no failed job that still retries them itself (batches.retry's
    rule). Rendered in the live part of the page, so the buttons appear with the refresh that sees
    the items fail. The counts are the historic batch's live counters (live_counts), written in
    the same transaction as the items' states, so the refresh counts no items."""
    user = context["request"].user
    operation = REGISTRY.get(historic.type)
    if not (live_counts.get(BatchItem.FAILED) or live_counts.get(BatchItem.SKIPPED)):
        return {}
    if operation is None or "payload" not in (historic.request or {}) or not user.has_perm(operation.permission):
        return {}
    failed = live_counts.get(BatchItem.FAILED, 0)
    if failed and historic.end_time is None and still_retrying_jobs(historic):
        failed = 0  # its failed jobs run them again themselves
    return {"failed": failed, "skipped": live_counts.get(BatchItem.SKIPPED, 0)}


def _options_shown(options: dict) -> list[tuple[str, str]]:
    """Our options except the reason (shown on its own), as words."""
    shown = []
    for name, value in options.items():
        if name == "window" and isinstance(value, dict):
            value = f"{value.get('start')}–{value.get('end')} {value.get('timeZone')}"
        if name != "reason":
            shown.append((name, str(value)))
    return shown
