"""Our creation options beside Camunda's payload fields, the same for every batch type.

  reason               text shown with the batch, in its op-log entry and its CSV
  maxItemsPerSecond    the throttle (a number > 0), shared by all workers; changeable while it runs
  notBefore            ISO-8601 date: no item is worked on before it
  window               {"start": "22:00", "end": "05:00", "timeZone": "Europe/Berlin"}: items are
                       worked on only inside this daily window (start == end: never closed)
  webhookUrl           http(s) URL that receives the batch's signed events (needs a permission)

Camunda's own fields are never changed; a Camunda client simply does not send these. A bad value is
a 400 naming the field.
"""
from __future__ import annotations

import ipaddress
import re
import zoneinfo
from dataclasses import asdict, dataclass
from datetime import datetime, time
from urllib.parse import urlsplit

from django.conf import settings

from engine.errors import BadUserRequest
from engine.query import format_date, parse_date

OPTION_FIELDS = ("reason", "maxItemsPerSecond", "notBefore", "window", "webhookUrl")
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_REASON = 4000
MAX_RATE = 1_000_000.0


@dataclass
class BatchOptions:
    reason: str | None = None
    max_items_per_second: float | None = None
    not_before: datetime | None = None
    window_start: time | None = None
    window_end: time | None = None
    window_time_zone: str | None = None
    webhook_url: str | None = None

    def model_fields(self) -> dict:
        return asdict(self)

    def as_json(self) -> dict:
        """The options as the REST payload spells them (stored with the historic batch)."""
        out: dict = {}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.max_items_per_second is not None:
            out["maxItemsPerSecond"] = self.max_items_per_second
        if self.not_before is not None:
            out["notBefore"] = format_date(self.not_before)
        if self.window_start is not None:
            out["window"] = window_json(self.window_start, self.window_end, self.window_time_zone)
        if self.webhook_url is not None:
            out["webhookUrl"] = self.webhook_url
        return out


def window_json(start: time | None, end: time | None, zone: str | None) -> dict | None:
    if start is None or end is None:
        return None
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timeZone": zone or "UTC"}


def parse_rate(value: object, field: str = "maxItemsPerSecond") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= MAX_RATE):
        raise BadUserRequest(f"{field}: must be a number greater than 0 and at most {MAX_RATE:.0f}, or null")
    return float(value)


def parse_window(value: object, field: str = "window") -> tuple[time | None, time | None, str | None]:
    if value is None:
        return None, None, None
    if not isinstance(value, dict):
        raise BadUserRequest(f'{field}: must be an object like {{"start": "22:00", "end": "05:00", "timeZone": "UTC"}}')
    unknown = set(value) - {"start", "end", "timeZone"}
    if unknown:
        raise BadUserRequest(f"{field}: unknown key(s) {', '.join(sorted(unknown))}")
    times = []
    for key in ("start", "end"):
        raw = value.get(key)
        match = TIME_OF_DAY.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise BadUserRequest(f"{field}.{key}: must be a time of day HH:MM (24 h), got {raw!r}")
        times.append(time(int(match[1]), int(match[2])))
    zone = value.get("timeZone") or "UTC"
    if not isinstance(zone, str):
        raise BadUserRequest(f"{field}.timeZone: must be an IANA time zone name such as Europe/Berlin")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadUserRequest(f"{field}.timeZone: unknown time zone {zone!r}") from None
    return times[0], times[1], zone


def parse_webhook_url(value: object, field: str = "webhookUrl") -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise BadUserRequest(f"{field}: must be an http(s) URL of at most 2000 characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUserRequest(f"{field}: only http and https URLs with a host are accepted")
    if parts.username or parts.password:
        raise BadUserRequest(f"{field}: credentials in the URL are not accepted; the events are signed instead")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None  # a name: what it resolves to is checked when an event is sent
    refused = webhook_address_refused(literal) if literal is not None else None
    if refused:
        raise BadUserRequest(f"{field}: {refused}")
    return value


def webhook_address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a webhook may not be sent to this address, or None. Only public (global unicast) addresses
    are reached, unless WEBHOOK_ALLOWED_NETWORKS lists the address's network: otherwise a webhook URL
    would let a user with the webhook permission make the workers call the database, the metadata
    service of a cloud host, or anything else on their private networks (server-side request forgery)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    allowed = settings.WEBHOOKS.get("ALLOWED_NETWORKS", ())
    if any(address in ipaddress.ip_network(network, strict=False) for network in allowed):
        return None
    if address.is_global and not address.is_multicast:
        return None
    return (
        f"{address} is not a public address (loopback, private, link-local or reserved); webhooks reach such "
        "addresses only when the setting WEBHOOK_ALLOWED_NETWORKS lists their network"
    )


def parse_options(payload: dict) -> BatchOptions:
    """Our options from a creation payload (Camunda's fields are left to the operation)."""
    options = BatchOptions()
    reason = payload.get("reason")
    if reason is not None:
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise BadUserRequest(f"reason: must be text of at most {MAX_REASON} characters")
        options.reason = reason.strip() or None
    options.max_items_per_second = parse_rate(payload.get("maxItemsPerSecond"))
    not_before = payload.get("notBefore")
    if not_before is not None:
        try:
            options.not_before = parse_date(not_before)
        except ValueError:
            raise BadUserRequest("notBefore: must be a date such as 2026-11-25T22:00:00.000+0100") from None
    options.window_start, options.window_end, options.window_time_zone = parse_window(payload.get("window"))
    options.webhook_url = parse_webhook_url(payload.get("webhookUrl"))
    return options


def strip_options(payload: dict) -> dict:
    """The payload without our options, for the operation's own serializer."""
    return {k: v for k, v in payload.items() if k not in OPTION_FIELDS}
