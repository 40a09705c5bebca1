"""Step 2's frozen selection: the confirm page counts exactly what Execute runs on, or says what changed."""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from batches.selection import TargetTable, selection_ids, targets_insert
from batches.services import SelectionDrift
from batches.sync import migration_execute
from cockpit.models import ConfirmedSelection, ConfirmedTarget
from cockpit.search import instance_count
from cockpit.wizard import OPERATIONS, WizardOperation, no_targets
from engine.errors import EngineError
from engine.rest.errors import drf_message

CONFIRMED_TARGETS = TargetTable(ConfirmedTarget, "selection_id")
DRIFT = "{confirmed} confirmed, {now} match now (+{added}, −{removed})"
DRIFT_NOTICE = (
    "The selection changed since you confirmed it: {drift}. "
    "Nothing was executed; check the numbers below and confirm again."
)
TYPED_PROMPT = "This cannot be undone: type the number of {units} ({count}) to confirm"
TYPED_WRONG = "That is not the number of {units} selected; type {count} to confirm."
CONFIRMATION_GONE = "This confirmation has expired or was already used; go back and confirm the operation again."
NOTHING_LEFT = "No instances match the search any more; go back and change it."
SYNC_TOO_MANY = "The selection grew past what runs at once; go back and confirm it again."


def selections_expire() -> int:
    """Delete confirmed selections older than WIZARD_CONFIRMATION_HOURS (their targets go with them)."""
    cutoff = timezone.now() - timedelta(hours=settings.WIZARD_CONFIRMATION_HOURS)
    deleted, _ = ConfirmedSelection.objects.filter(created__lt=cutoff).delete()
    return deleted


def selection_freeze(*, op: WizardOperation, payload: dict, params: str, user) -> ConfirmedSelection:
    """Resolve the payload's selection exactly as Execute will, and store its target ids (INSERT … SELECT)."""
    selections_expire()
    data = op.operation.validate(payload, user)
    with transaction.atomic():
        selection = ConfirmedSelection.objects.create(
            token=uuid.uuid4().hex, user=user, operation=op.key, payload=payload, params=params
        )
        selection.count = targets_insert(CONFIRMED_TARGETS, selection.token, op.operation.selection(data, user))
        selection.save(update_fields=["count"])
    return selection


def selection_of(token: str, user) -> ConfirmedSelection | None:
    """The user's unexpired selection behind an Execute token (another user's token finds nothing)."""
    cutoff = timezone.now() - timedelta(hours=settings.WIZARD_CONFIRMATION_HOURS)
    selection = ConfirmedSelection.objects.filter(token=token, user=user, created__gte=cutoff).first()
    return selection if selection is not None and selection.operation in OPERATIONS else None


def selection_lock(selection: ConfirmedSelection) -> bool:
    """Lock the selection's row for this transaction; False if a concurrent Execute consumed it meanwhile."""
    return ConfirmedSelection.objects.select_for_update().filter(token=selection.token).exists()


def selection_consume(selection: ConfirmedSelection) -> None:
    ConfirmedSelection.objects.filter(token=selection.token).delete()


def selection_renew(selection: ConfirmedSelection, user) -> ConfirmedSelection:
    """After drift: the same payload frozen again, under a new Execute token."""
    selection_consume(selection)
    op = OPERATIONS[selection.operation]
    return selection_freeze(op=op, payload=selection.payload, params=selection.params, user=user)


def selection_execute_now(selection: ConfirmedSelection, user) -> int:
    """Run a small confirmed selection synchronously (all or none) on exactly the confirmed targets.

    Raises SelectionDrift when the payload selects other targets now, like batch_create does.
    """
    op = OPERATIONS[selection.operation]
    data = op.operation.validate(selection.payload, user)
    confirmed = list(selection.targets().values_list("target_id", flat=True))
    # Beyond the synchronous limit: the REST call's 400 (use the asynchronous form), as the error shown.
    now = selection_ids(op.operation.selection(data, user), settings.SYNC_MAX_INSTANCES, SYNC_TOO_MANY)
    if set(now) != set(confirmed):
        both = len(set(now) & set(confirmed))
        raise SelectionDrift(confirmed=len(confirmed), now=len(now), added=len(now) - both, removed=len(confirmed) - both)
    return migration_execute(data=data, ids=confirmed, user=user)


def drift_text(drift: SelectionDrift) -> str:
    numbers = {name: f"{getattr(drift, name):,}" for name in ("confirmed", "now", "added", "removed")}
    return DRIFT.format(**numbers)


def _plural(count: int, unit: str) -> str:
    return f"{unit}{'' if count == 1 else 's'}"


def typed_required(selection: ConfirmedSelection) -> bool:
    """A destructive batch over the threshold, selected by query, needs its size typed before Execute."""
    op = OPERATIONS[selection.operation]
    by_query = selection.payload.get(op.ids_name) is None
    return op.destructive and by_query and selection.count > settings.BATCH_TYPED_CONFIRMATION_THRESHOLD


def typed_error(selection: ConfirmedSelection, typed: str) -> str:
    """The error next to the typed number, or "" when none is needed or it is right ("20,000" counts)."""
    if not typed_required(selection) or re.sub(r"[\s,.'_]", "", typed) == str(selection.count):
        return ""
    unit = OPERATIONS[selection.operation].unit
    return TYPED_WRONG.format(units=_plural(2, unit), count=f"{selection.count:,}")


@dataclass
class Summary:
    """What the confirm page says: how many targets, of how many instances, and who will not be acted on."""

    count: int
    unit: str
    instances: int | None = None
    groups: list[tuple[str, str]] = field(default_factory=list)  # (number, sentence)
    error: str = ""

    @property
    def count_text(self) -> str:
        return f"{self.count:,}"

    @property
    def unit_text(self) -> str:
        return _plural(self.count, self.unit)

    @property
    def instances_text(self) -> str:
        return "" if self.instances is None else f"{self.instances:,} {_plural(self.instances, 'instance')}"

    @property
    def empty_message(self) -> str:
        return NOTHING_LEFT if self.unit == "instance" else no_targets(self.unit)


def summary_of(selection: ConfirmedSelection, user) -> Summary:
    """Count the frozen targets' eligibility set-based, with the operation's own rules."""
    op = OPERATIONS[selection.operation]
    summary = Summary(count=selection.count, unit=op.unit)
    try:
        data = op.operation.validate(selection.payload, user)
        if op.unit != "instance":
            found = selection.payload.get(op.query_name) or {}
            summary.instances = instance_count(op, selection.payload, found, user)
        groups = op.operation.eligibility(data, selection.targets(), user)
    except ValidationError as exc:
        summary.error = drf_message(exc.detail)
        return summary
    except EngineError as exc:
        summary.error = str(exc)
        return summary
    summary.groups = [(f"{count:,}", sentence) for sentence, count in groups]
    return summary


def confirm_context(
    selection: ConfirmedSelection, user, *, drift: SelectionDrift | None = None, typed: str = "", error: str = ""
) -> dict:
    """The confirm page: the summary, the payload Execute sends, and (after drift) what changed."""
    op = OPERATIONS[selection.operation]
    summary = summary_of(selection, user)
    now = op.executes_now(selection.count)
    return {
        "op": op,
        "selection": selection,
        "summary": summary,
        # What a Camunda client sends: path parameters (restart-async's definition id) in the path.
        "rest_path": op.rest_path(selection.payload, now=now),
        "payload_json": json.dumps(op.rest_body(selection.payload), indent=2),
        "executes_now": now,
        "sync_threshold": getattr(settings, op.spec.sync_threshold_setting) if now else None,
        "token": selection.token,
        "drift": DRIFT_NOTICE.format(drift=drift_text(drift)) if drift else "",
        "typed_required": typed_required(selection),
        "typed_prompt": TYPED_PROMPT.format(units=_plural(2, op.unit), count=f"{selection.count:,}"),
        "typed_value": typed,
        "typed_error": error,
        "executable": selection.count > 0 and not summary.error,
    }
