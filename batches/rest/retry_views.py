"""Ours: POST /batch/{id}/items/retry, a new batch on exactly the failed (or skipped) items of a batch."""
from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from batches.idempotency import HEADER, batch_create_once, idempotency_key_parse
from batches.models import BatchItem, HistoricBatch
from batches.rest.views import IDEMPOTENCY_HEADER, batch_not_found, batch_response
from batches.retry import RETRY_STATES, batch_retry_items, operation_of
from engine.rest.base import CamundaView
from engine.rest.schema import DATE_PATTERN
from engine.rest.views import json_body

RETRY_BODY = json_body(
    {
        "state": {"type": "string", "enum": list(RETRY_STATES), "default": BatchItem.FAILED},
        "reason": {"type": "string", "maxLength": 4000, "nullable": True},
        "maxItemsPerSecond": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "nullable": True},
        "notBefore": {"type": "string", "pattern": DATE_PATTERN, "nullable": True},
        "window": {
            "type": "object",
            "nullable": True,
            "properties": {"start": {"type": "string"}, "end": {"type": "string"}, "timeZone": {"type": "string"}},
        },
        "webhookUrl": {"type": "string", "format": "uri", "nullable": True},
    }
)
RETRY_BODY["description"] = (
    "A new batch of the same type and parameters on exactly the items of the batch (running or ended) in "
    "`state`, linked by its history's retryOf. Reason, throttle, window and webhook are taken over unless given."
)
BATCH_DTO = {"type": "object", "additionalProperties": True, "description": "The new batch's BatchDto"}


class BatchItemsRetry(CamundaView):
    body_schema = {"post": RETRY_BODY}
    response_schema = {"post": ("200", BATCH_DTO)}
    query_parameters = {"post": [IDEMPOTENCY_HEADER]}

    def post(self, request: Request, pk: str) -> Response:
        historic = self.visible_or_404(HistoricBatch, pk, batch_not_found(pk))
        body = self.body(request)
        state = body.get("state", BatchItem.FAILED)
        options = {k: v for k, v in body.items() if k != "state"}
        key = idempotency_key_parse(request.headers.get(HEADER))
        batch, created = batch_create_once(
            user=request.user,
            key=key,
            batch_type=operation_of(historic).type,
            create=lambda: batch_retry_items(
                historic=historic, state=state, user=request.user, options=options, idempotency_key=key
            ),
        )
        return batch_response(batch, created)

