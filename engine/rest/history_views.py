"""History time to live, history cleanup and the cleanable reports, as Camunda 7's REST API serves them.

- PUT /process-definition/{id}/history-time-to-live (and by key, and by key and tenant): HistoryTimeToLiveDto.
- POST /history/cleanup (?immediatelyDue, default true) → JobDto; GET /history/cleanup/jobs → [JobDto]
  (404 when there is none, as Camunda); GET /history/cleanup/job (Camunda's deprecated single form);
  GET /history/cleanup/configuration → batchWindowStartTime, batchWindowEndTime, enabled.
- GET /history/process-definition/cleanable-process-instance-report (+/count) and
  GET /history/batch/cleanable-batch-report (+/count).
"""
from __future__ import annotations

from typing import ClassVar

from django.db.models import Count, Q
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from batches.models import HistoricBatch
from engine.errors import BadUserRequest, NotAuthorized, NotFound
from engine.models import Job, ProcessDefinition
from engine.query import MAX_INT, QuerySpec, format_date, java_boolean, page, paging
from engine.rest import dtos
from engine.rest.base import CamundaView
from engine.rest.definition_views import definition_not_found, refuse_unknown
from engine.rest.schema import COUNT, DATE_PATTERN
from engine.selectors import visible
from engine.services.history_cleanup import (
    CLEANABLE_PROCESS_INSTANCE_REPORT,
    cleanable_process_instance_dto,
    cleanable_process_instance_report,
    cleanup_configuration,
    cleanup_jobs,
    definition_set_history_time_to_live,
    history_cleanup_schedule,
)
from engine.services.removal_time import batch_time_to_live

ADMIN_REQUIRED = "Required admin authenticated group or user."  # Camunda's AuthorizationManager.checkCamundaAdmin
NO_CLEANUP_JOBS = "History cleanup jobs are empty"  # HistoryCleanupRestServiceImpl
NO_CLEANUP_JOB = "History cleanup job does not exist"


class RestNotFound(NotFound):
    """Camunda's REST layer's own 404 (a RestException, e.g. a definition key without a match)."""

    type_name = "RestException"


TTL_BODY = {
    "put": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"historyTimeToLive": {"type": "integer", "minimum": 0, "maximum": MAX_INT, "nullable": True}},
        }}},
    }
}
JOB = {"type": "object", "additionalProperties": True, "description": "Camunda's JobDto"}
CONFIGURATION = {
    "type": "object",
    "properties": {
        "batchWindowStartTime": {"type": "string", "pattern": DATE_PATTERN, "nullable": True},
        "batchWindowEndTime": {"type": "string", "pattern": DATE_PATTERN, "nullable": True},
        "enabled": {"type": "boolean"},
    },
    "required": ["batchWindowStartTime", "batchWindowEndTime", "enabled"],
}
PROCESS_REPORT = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "processDefinitionId": {"type": "string"},
            "processDefinitionKey": {"type": "string"},
            "processDefinitionName": {"type": "string", "nullable": True},
            "processDefinitionVersion": {"type": "integer"},
            "historyTimeToLive": {"type": "integer", "nullable": True},
            "finishedProcessInstanceCount": {"type": "integer", "minimum": 0},
            "cleanableProcessInstanceCount": {"type": "integer", "minimum": 0},
            "tenantId": {"type": "string", "nullable": True},
        },
    },
}
BATCH_REPORT = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "batchType": {"type": "string"},
            "historyTimeToLive": {"type": "integer", "nullable": True},
            "finishedBatchesCount": {"type": "integer", "minimum": 0},
            "cleanableBatchesCount": {"type": "integer", "minimum": 0},
        },
    },
}


def parse_history_time_to_live_body(body: dict) -> int | None:
    """HistoryTimeToLiveDto: an Integer or null (Camunda rejects a negative value in the command)."""
    for name in body:
        if name != "historyTimeToLive":
            raise BadUserRequest(f"Unknown property '{name}': HistoryTimeToLiveDto has only historyTimeToLive")
    value = body.get("historyTimeToLive")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not -(MAX_INT + 1) <= value <= MAX_INT):
        raise BadUserRequest(f"historyTimeToLive must be an integer or null, not '{value}'")
    return value


class ProcessDefinitionHistoryTimeToLive(CamundaView):
    """PUT …/history-time-to-live: by id, by key (latest version without tenant), by key and tenant."""

    body_schema: ClassVar[dict] = TTL_BODY

    def put(self, request: Request, pk: str | None = None, key: str | None = None, tenant_id: str | None = None) -> Response:
        self.require(request, "engine.change_processdefinition")
        value = parse_history_time_to_live_body(self.body(request))
        definition = self._definition(request, pk, key, tenant_id)
        definition_set_history_time_to_live(definition=definition, history_time_to_live=value, user_id=request.user.get_username())
        return Response(status=204)

    def _definition(self, request: Request, pk: str | None, key: str | None, tenant_id: str | None) -> ProcessDefinition:
        if pk is not None:
            return self.visible_or_404(ProcessDefinition, pk, definition_not_found(pk))
        definitions = visible(ProcessDefinition, request.user).filter(key=key)
        definitions = definitions.filter(tenant_id=tenant_id) if tenant_id is not None else definitions.filter(tenant_id__isnull=True)
        latest = definitions.order_by("-version").first()
        if latest is None:  # ProcessDefinitionRestServiceImpl.getProcessDefinitionByKey(AndTenantId)
            tenant = f"tenant-id: {tenant_id}" if tenant_id is not None else "no tenant-id"
            raise RestNotFound(f"No matching process definition with key: {key} and {tenant}")
        return latest


class HistoryCleanup(CamundaView):
    """POST /history/cleanup: schedule the cleanup job (Camunda admins only: superusers here)."""

    query_parameters: ClassVar[dict] = {
        "post": [{
            "name": "immediatelyDue", "in": "query", "required": False, "schema": {"type": "string"},
            "description": "Default true: due now; false: at the start of the current or next batch window. Read as "
            "Java's Boolean.valueOf (only 'true' is true).",
        }]
    }
    response_schema: ClassVar[dict] = {"post": ("200", JOB)}

    def post(self, request: Request) -> Response:
        refuse_unknown(request, ("immediatelyDue",))
        if not request.user.is_superuser:
            raise NotAuthorized(ADMIN_REQUIRED)
        raw = request.query_params.get("immediatelyDue")
        immediately_due = True if raw is None else java_boolean(raw)
        job = history_cleanup_schedule(immediately_due=immediately_due, user_id=request.user.get_username())
        return Response(dtos.job_dto(job))


class HistoryCleanupJobs(CamundaView):
    response_schema: ClassVar[dict] = {"get": ("200", {"type": "array", "items": JOB})}

    def get(self, request: Request) -> Response:
        refuse_unknown(request, ())
        jobs = list(cleanup_jobs().filter(id__in=visible(Job, request.user).values("id")))
        if not jobs:
            raise RestNotFound(NO_CLEANUP_JOBS)
        return Response([dtos.job_dto(job) for job in jobs])


class HistoryCleanupJob(CamundaView):
    """GET /history/cleanup/job: Camunda's deprecated form, the first cleanup job."""

    response_schema: ClassVar[dict] = {"get": ("200", JOB)}

    def get(self, request: Request) -> Response:
        refuse_unknown(request, ())
        job = cleanup_jobs().filter(id__in=visible(Job, request.user).values("id")).first()
        if job is None:
            raise RestNotFound(NO_CLEANUP_JOB)
        return Response(dtos.job_dto(job))


class HistoryCleanupConfiguration(CamundaView):
    response_schema: ClassVar[dict] = {"get": ("200", CONFIGURATION)}

    def get(self, request: Request) -> Response:
        refuse_unknown(request, ())
        config = cleanup_configuration()
        return Response({
            "batchWindowStartTime": format_date(config["batchWindowStartTime"]),
            "batchWindowEndTime": format_date(config["batchWindowEndTime"]),
            "enabled": config["enabled"],
        })


def process_report_rows(request: Request):
    spec, params = CLEANABLE_PROCESS_INSTANCE_REPORT, request.query_params
    values = spec.parse(params, from_body=False)
    order = spec.ordering(params, from_body=False)
    rows = cleanable_process_instance_report(visible(ProcessDefinition, request.user), timezone.now())
    return spec.filter(rows, values).order_by(*order)


class CleanableProcessInstanceReport(CamundaView):
    query_spec = CLEANABLE_PROCESS_INSTANCE_REPORT
    response_schema: ClassVar[dict] = {"get": ("200", PROCESS_REPORT)}

    def get(self, request: Request) -> Response:
        first, size = paging(request.query_params)
        rows = page(process_report_rows(request), first, size)
        return Response([cleanable_process_instance_dto(d) for d in rows])


class CleanableProcessInstanceReportCount(CamundaView):
    query_spec = CLEANABLE_PROCESS_INSTANCE_REPORT
    counts = True
    response_schema: ClassVar[dict] = {"get": ("200", COUNT)}

    def get(self, request: Request) -> Response:
        return Response({"count": process_report_rows(request).count()})


# GET /history/batch/cleanable-batch-report: no filters, sortBy finished (CleanableHistoricBatchReportDto).
CLEANABLE_BATCH_REPORT = QuerySpec(params={}, sort_fields={"finished": "finished"}, default_order=("type",))


def batch_report_rows(request: Request):
    spec, params = CLEANABLE_BATCH_REPORT, request.query_params
    spec.parse(params, from_body=False)
    order = spec.ordering(params, from_body=False)
    now = timezone.now()
    rows = (
        visible(HistoricBatch, request.user).order_by().values("type")
        .annotate(
            finished=Count("id", filter=Q(end_time__isnull=False)),
            cleanable=Count("id", filter=Q(removal_time__lte=now)),
        )
    )
    return rows.order_by(*order)


class CleanableBatchReport(CamundaView):
    query_spec = CLEANABLE_BATCH_REPORT
    response_schema: ClassVar[dict] = {"get": ("200", BATCH_REPORT)}

    def get(self, request: Request) -> Response:
        first, size = paging(request.query_params)
        return Response([
            {
                "batchType": row["type"],
                "historyTimeToLive": batch_time_to_live(row["type"]),
                "finishedBatchesCount": row["finished"],
                "cleanableBatchesCount": row["cleanable"],
            }
            for row in page(batch_report_rows(request), first, size)
        ])


class CleanableBatchReportCount(CamundaView):
    query_spec = CLEANABLE_BATCH_REPORT
    counts = True
    response_schema: ClassVar[dict] = {"get": ("200", COUNT)}

    def get(self, request: Request) -> Response:
        return Response({"count": batch_report_rows(request).count()})
