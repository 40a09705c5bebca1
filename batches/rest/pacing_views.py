"""Ours, beside Camunda's batch endpoints: change the throttle and the schedule of a running batch."""
from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from batches.models import Batch
from batches.options import parse_options, parse_rate
from batches.pacing import batch_set_schedule, batch_set_throttle
from batches.rest.views import batch_not_found
from engine.errors import BadUserRequest
from engine.rest.base import CamundaView
from engine.rest.views import json_body

MISSING_RATE = "maxItemsPerSecond: required (a number greater than 0, or null to remove the throttle)"
WINDOW_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {"start": {"type": "string"}, "end": {"type": "string"}, "timeZone": {"type": "string"}},
}


def _reject_unknown(body: dict, allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadUserRequest(f"{unknown[0]}: unknown field (expected {', '.join(sorted(allowed))})")


class BatchThrottle(CamundaView):
    """PUT {"maxItemsPerSecond": 25} (null removes the throttle) → 204; takes effect on the next slice."""

    body_schema = {"put": json_body({"maxItemsPerSecond": {"type": "number", "nullable": True}}, ("maxItemsPerSecond",))}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, "batches.change_batch")
        body = self.body(request)
        _reject_unknown(body, {"maxItemsPerSecond"})
        if "maxItemsPerSecond" not in body:
            raise BadUserRequest(MISSING_RATE)
        rate = parse_rate(body["maxItemsPerSecond"])
        batch = self.visible_or_404(Batch, pk, batch_not_found(pk))
        batch_set_throttle(batch=batch, max_items_per_second=rate, user_id=request.user.get_username())
        return Response(status=204)


class BatchSchedule(CamundaView):
    """PUT {"notBefore": "…"|null, "window": {"start", "end", "timeZone"}|null} → 204 (a missing field is null)."""

    body_schema = {"put": json_body({"notBefore": {"type": "string", "nullable": True}, "window": WINDOW_SCHEMA})}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, "batches.change_batch")
        body = self.body(request)
        _reject_unknown(body, {"notBefore", "window"})
        options = parse_options({"notBefore": body.get("notBefore"), "window": body.get("window")})
        batch = self.visible_or_404(Batch, pk, batch_not_found(pk))
        window = (options.window_start, options.window_end, options.window_time_zone)
        batch_set_schedule(batch=batch, not_before=options.not_before, window=window, user_id=request.user.get_username())
        return Response(status=204)
