"""The wizard's common "Options" fieldset: our creation options (batches.options) for every operation.

URL parameters (step 1 keeps its state in the URL): reason, maxItemsPerSecond, notBefore (datetime-local,
UTC), windowStart/windowEnd (HH:MM) with windowTimeZone, webhookUrl (only for users who may set one).
They join the REST payload under batches.options' names only when filled in, so a Camunda-shaped
payload stays as it was; they are checked by the same parse_options that checks the REST call.
"""
from __future__ import annotations

from django.conf import settings
from django.http import QueryDict

from batches.options import parse_options
from cockpit.search import date_filter
from engine.errors import BadUserRequest

WEBHOOK_PERMISSION = "batches.configure_webhook"
# Where an option's error shows: the payload name at the start of parse_options' message → form field.
ERROR_FIELDS = ("reason", "maxItemsPerSecond", "notBefore", "window", "webhookUrl")
DEFAULT_TIME_ZONE = "UTC"


def reason_required(batch_type: str) -> bool:
    return batch_type in settings.BATCH.get("REQUIRE_REASON", ())


def reason_missing(batch_type: str) -> str:
    return f"A reason is required for {batch_type} batches."


def may_set_webhook(user) -> bool:
    return user.has_perm(WEBHOOK_PERMISSION)


def options_payload(params: QueryDict, batch_type: str, user, errors: dict[str, str]) -> dict:
    """The options the form holds, as payload entries; problems go to errors[<field>]."""
    payload: dict = {}
    reason = params.get("reason", "").strip()
    if reason:
        payload["reason"] = reason
    elif reason_required(batch_type):
        errors["reason"] = reason_missing(batch_type)
    rate = params.get("maxItemsPerSecond", "").strip()
    if rate:
        payload["maxItemsPerSecond"] = _number(rate)
    payload.update(schedule_payload(params, errors))
    webhook = params.get("webhookUrl", "").strip()
    if webhook and may_set_webhook(user):
        payload["webhookUrl"] = webhook
    try:
        parse_options(payload)
    except BadUserRequest as exc:
        errors.setdefault(_error_field(str(exc)), str(exc))
    return payload


def schedule_payload(params: QueryDict, errors: dict[str, str]) -> dict:
    """notBefore (datetime-local, UTC) and the daily window (windowStart/windowEnd/windowTimeZone) as
    payload entries, each only when filled in; shared by the wizard and the details page's schedule form."""
    payload: dict = {}
    not_before = date_filter(params, "notBefore", errors)
    if not_before:
        payload["notBefore"] = not_before
    start, end = params.get("windowStart", "").strip(), params.get("windowEnd", "").strip()
    if start or end:
        zone = params.get("windowTimeZone", "").strip() or DEFAULT_TIME_ZONE
        payload["window"] = {"start": start, "end": end, "timeZone": zone}
    return payload


def _number(raw: str) -> float | int | str:
    """A number as typed; anything else stays text, for parse_options to name the problem."""
    try:
        value = float(raw)
    except ValueError:
        return raw
    return int(value) if value.is_integer() else value


def _error_field(message: str) -> str:
    for name in ERROR_FIELDS:
        if message.startswith(name):
            return name
    return "reason"


def form_context(params: QueryDict, batch_type: str | None, user, errors: dict[str, str]) -> dict:
    """What the fieldset shows: the values as typed, the errors, the reason marker, the webhook field."""
    names = ("reason", "maxItemsPerSecond", "notBefore", "windowStart", "windowEnd", "windowTimeZone", "webhookUrl")
    return {
        "values": {name: params.get(name, "") for name in names},
        "errors": {name: errors.get(name, "") for name in ERROR_FIELDS},
        "reason_required": bool(batch_type) and reason_required(batch_type),
        "webhook": may_set_webhook(user),
    }
