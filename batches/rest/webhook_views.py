"""Ours: GET /batch/{id}/webhook-deliveries, the delivery log of a batch's webhook events."""
from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from batches.models import HistoricBatch, WebhookDelivery
from batches.rest.views import batch_not_found
from engine.query import format_date, page, paging
from engine.rest.base import CamundaView
from engine.rest.schema import ARRAY, PAGING


def delivery_dto(d: WebhookDelivery) -> dict:
    return {
        "id": d.id,
        "batchId": d.batch_id,
        "event": d.event,
        "type": f"batch.{d.event}",
        "url": d.url,
        "state": d.state,
        "attempts": d.attempts,
        "lastStatusCode": d.last_status_code,
        "lastError": d.last_error,
        "createdTime": format_date(d.created_at),
        "nextAttemptTime": format_date(d.next_attempt_at),
        "deliveredTime": format_date(d.delivered_at),
    }


class BatchWebhookDeliveries(CamundaView):
    """The webhook deliveries of a batch (running or ended) the user can see, oldest first."""

    query_parameters = {"get": [*PAGING]}
    response_schema = {"get": ("200", ARRAY)}

    def get(self, request: Request, pk: str) -> Response:
        historic = self.visible_or_404(HistoricBatch, pk, batch_not_found(pk))
        first, size = paging(request.query_params)
        rows = page(historic.deliveries.order_by("created_at", "id"), first, size if size is not None else 1000)
        return Response([delivery_dto(d) for d in rows])
