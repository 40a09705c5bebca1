"""Batch REST endpoints: the creation endpoints of every operation, batch queries, statistics, history."""
from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from batches.models import Batch, BatchItem, HistoricBatch
from batches.idempotency import HEADER, batch_create_once, idempotency_key_parse
from batches.operations.base import BatchOperation
from batches.rest import dtos
from batches.selectors import BATCH_STATISTICS, item_counts_for, items_of, with_statistics
from batches.services import batch_create, batch_delete, batch_set_suspended, historic_batch_delete
from engine.errors import BadUserRequest
from engine.query import invalid, java_boolean, page, paging
from engine.rest.base import CamundaView
from engine.rest.schema import ARRAY, PAGING
from engine.rest.views import json_body, parse_bool_field
from engine.selectors import visible


# Ours, on every creation endpoint (and the retry endpoint): batches.idempotency.
IDEMPOTENCY_HEADER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Ours: the same key by the same user answers the first batch (200, header Idempotent-Replayed: true; "
    "a BatchDto built from its history once it has ended) instead of creating another.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def batch_not_found(pk: str) -> str:
    return f"Batch with id '{pk}' does not exist"


def historic_batch_not_found(pk: str) -> str:
    return f"Historic batch with id '{pk}' does not exist"


class BatchCreate(CamundaView):
    """POST of one operation's payload; answers the created BatchDto."""

    operation: BatchOperation | None = None
    query_parameters = {"post": [IDEMPOTENCY_HEADER]}

    def post(self, request: Request, **path) -> Response:
        self.require(request, self.operation.permission)
        # A path parameter (restart-async's process definition id) joins the payload under its name.
        payload = {**self.body(request), **path}
        key = idempotency_key_parse(request.headers.get(HEADER))
        batch, created = batch_create_once(
            user=request.user,
            key=key,
            batch_type=self.operation.type,
            create=lambda: batch_create(operation=self.operation, payload=payload, user=request.user, idempotency_key=key),
        )
        return batch_response(batch, created)


def batch_response(batch: Batch | HistoricBatch, created: bool) -> Response:
    """The BatchDto of a creation; a repeated Idempotency-Key answers the first batch, marked as replayed
    (from its history once it has ended)."""
    body = dtos.batch_dto(batch) if isinstance(batch, Batch) else dtos.batch_dto_from_history(batch)
    return Response(body, headers=None if created else {"Idempotent-Replayed": "true"})


def statistics_rows(request: Request):
    spec, params = BATCH_STATISTICS, request.query_params
    values = spec.parse(params, from_body=False)
    rows = spec.filter(with_statistics(visible(Batch, request.user)), values)
    return rows.order_by(*spec.ordering(params, from_body=False))


class BatchStatistics(CamundaView):
    query_spec = BATCH_STATISTICS

    def get(self, request: Request) -> Response:
        first, size = paging(request.query_params)
        rows = list(page(statistics_rows(request), first, size))
        counts = item_counts_for([b.id for b in rows])
        return Response([dtos.statistics_dto(b, counts[b.id]) for b in rows])


class BatchStatisticsCount(CamundaView):
    query_spec = BATCH_STATISTICS
    counts = True

    def get(self, request: Request) -> Response:
        return Response({"count": statistics_rows(request).count()})


class BatchDetail(CamundaView):
    query_parameters = {"delete": [{"name": "cascade", "in": "query", "required": False, "schema": {"type": "boolean"}}]}

    def get(self, request: Request, pk: str) -> Response:
        batch = self.visible_or_404(Batch, pk, batch_not_found(pk))
        return Response(dtos.batch_dto(batch))

    def delete(self, request: Request, pk: str) -> Response:
        self.require(request, "batches.delete_batch")
        cascade = java_boolean(request.query_params.get("cascade"))
        batch = visible(Batch, request.user).filter(pk=pk).first()
        if batch is None:  # Camunda answers an unknown id here with 400, not 404 (BatchResourceImpl)
            raise BadUserRequest(f"Unable to delete batch with id '{pk}'")
        batch_delete(batch=batch, cascade=cascade, user_id=request.user.get_username())
        return Response(status=204)


class BatchSuspended(CamundaView):
    body_schema = {"put": json_body({"suspended": {"type": "boolean"}}, ("suspended",))}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, "batches.change_batch")
        # Camunda's SuspensionStateDto has a primitive boolean: missing or null means false (activate).
        suspended = parse_bool_field(self.body(request), "suspended", False, null_means_default=True)
        batch = visible(Batch, request.user).filter(pk=pk).first()
        if batch is None:  # 400, as Camunda's BatchResourceImpl answers an unknown id
            raise BadUserRequest(f"Unable to {'suspend' if suspended else 'activate'} batch with id '{pk}'")
        batch_set_suspended(batch=batch, suspended=suspended, user_id=request.user.get_username())
        return Response(status=204)


class BatchItems(CamundaView):
    """Ours: the frozen items of a batch (running or historic) with their results."""

    query_parameters = {
        "get": [
            {"name": "state", "in": "query", "required": False, "schema": {"type": "string", "enum": list(BatchItem.STATES)}},
            *PAGING,
        ]
    }
    response_schema = {"get": ("200", ARRAY)}

    def get(self, request: Request, pk: str) -> Response:
        self.visible_or_404(HistoricBatch, pk, batch_not_found(pk))
        state = request.query_params.get("state")
        if state is not None and state not in BatchItem.STATES:
            raise invalid("state", state)
        first, size = paging(request.query_params)
        return Response([dtos.item_dto(i) for i in page(items_of(pk, state=state), first, size if size is not None else 1000)])


class HistoricBatchDetail(CamundaView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(dtos.historic_batch_dto(self.visible_or_404(HistoricBatch, pk, historic_batch_not_found(pk))))

    def delete(self, request: Request, pk: str) -> Response:
        self.require(request, "batches.delete_historicbatch")
        historic = visible(HistoricBatch, request.user).filter(pk=pk).first()
        if historic is None:  # 400, as Camunda's HistoricBatchResourceImpl answers an unknown id
            raise BadUserRequest(f"Unable to delete historic batch with id '{pk}'")
        historic_batch_delete(historic=historic, user_id=request.user.get_username())
        return Response(status=204)


