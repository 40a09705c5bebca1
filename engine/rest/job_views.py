"""Job controls and the job log (Camunda 7's REST contract).

PUT /job/{id}/suspended, PUT /job/suspended, PUT /job/{id}/priority, PUT /job-definition/{id}/suspended,
PUT /job-definition/suspended, PUT /job-definition/{id}/jobPriority, and GET|POST /history/job-log
(+ /count, /{id}, /{id}/stacktrace). Messages and statuses follow Camunda's JobResourceImpl,
JobRestServiceImpl, JobSuspensionStateDto, JobDefinitionResourceImpl, JobDefinitionRestServiceImpl,
JobDefinitionSuspensionStateDto and HistoricJobLogResourceImpl.
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from engine.errors import BadUserRequest, EngineError, NotFound
from engine.models import HistoricJobLog, Job, JobDefinition, ProcessDefinition
from engine.query import page, paging, parse_date
from engine.rest.base import CamundaView
from engine.rest.dtos import historic_job_log_dto
from engine.rest.schema import TEXT
from engine.rest.views import NO_CONTENT, json_body, optional_str, parse_bool_field
from engine.selectors import HISTORIC_JOB_LOG, visible
from engine.services.job_actions import (
    JobSelector,
    job_definition_not_found_for_priority,
    job_definition_set_priority,
    job_definitions_update_suspension,
    job_not_found_for_priority,
    job_set_priority,
    jobs_update_suspension,
)

CHANGE_JOB = "engine.change_job"
CHANGE_JOB_DEFINITION = "engine.change_jobdefinition"
JAVA_LONG = (-(2**63), 2**63 - 1)

# JobSuspensionStateDto / JobRestServiceImpl
JOB_ONLY_ONE = (
    "Only one of jobId, jobDefinitionId, processInstanceId, processDefinitionId or processDefinitionKey "
    "should be set to update the suspension state."
)
JOB_EITHER = (
    "Either jobId, jobDefinitionId, processInstanceId, processDefinitionId or processDefinitionKey "
    "should be set to update the suspension state."
)
JOBS_NO_JOB_ID = (
    "Either jobDefinitionId, processInstanceId, processDefinitionId or processDefinitionKey can be set "
    "to update the suspension state."
)
# JobDefinitionSuspensionStateDto / JobDefinitionRestServiceImpl
DEFINITION_ONLY_ONE = (
    "Only one of jobDefinitionId, processDefinitionId or processDefinitionKey should be set to update the suspension state."
)
DEFINITION_EITHER = (
    "Either jobDefinitionId, processDefinitionId or processDefinitionKey should be set to update the suspension state."
)
DEFINITIONS_NO_ID = "Either processDefinitionId or processDefinitionKey can be set to update the suspension state."


class RestException(EngineError):
    """Where Camunda's resource throws a plain RestException (its type name in the error body)."""

    status = 400
    type_name = "RestException"


def _suspension_state_body(extra: dict) -> dict:
    return json_body({"suspended": {"type": "boolean"}, **extra})


TENANT_FIELDS = {
    "processDefinitionTenantId": {"type": "string", "nullable": True},
    "processDefinitionWithoutTenantId": {"type": "boolean"},
}
JOB_SUSPENSION_BODY = _suspension_state_body({
    "jobDefinitionId": {"type": "string", "nullable": True},
    "processInstanceId": {"type": "string", "nullable": True},
    "processDefinitionId": {"type": "string", "nullable": True},
    "processDefinitionKey": {"type": "string", "nullable": True},
    **TENANT_FIELDS,
})
DEFINITION_SUSPENSION_BODY = _suspension_state_body({
    "processDefinitionId": {"type": "string", "nullable": True},
    "processDefinitionKey": {"type": "string", "nullable": True},
    **TENANT_FIELDS,
    "includeJobs": {"type": "boolean"},
    "executionDate": {"type": "string", "nullable": True, "description": "yyyy-MM-dd'T'HH:mm:ss.SSSZ; the change is scheduled as a job due then"},
})
PRIORITY = {"type": "integer", "format": "int64"}


def _selector(body: dict, names: tuple[str, ...], forced: dict[str, str], only_one: str, either: str) -> JobSelector:
    """The one selector the body names (forced: the id from the path, counted like Camunda's DTO does)."""
    values = {name: optional_str(body, name) for name in names}
    values.update(forced)
    given = [name for name, value in values.items() if value is not None]
    if len(given) > 1:
        raise BadUserRequest(only_one)
    if not given:
        raise BadUserRequest(either)
    tenant_id = optional_str(body, "processDefinitionTenantId")
    without = parse_bool_field(body, "processDefinitionWithoutTenantId", False, null_means_default=True)
    if (tenant_id is not None or without) and given != ["processDefinitionKey"]:
        # Camunda ignores them without a key; refused here rather than dropped.
        name = "processDefinitionTenantId" if tenant_id is not None else "processDefinitionWithoutTenantId"
        raise BadUserRequest(f"{name} can only be used together with processDefinitionKey")
    if tenant_id is not None and without:
        raise BadUserRequest("Only one of processDefinitionTenantId or processDefinitionWithoutTenantId may be set")
    return JobSelector(
        job_id=values.get("jobId"),
        job_definition_id=values.get("jobDefinitionId"),
        process_instance_id=values.get("processInstanceId"),
        process_definition_id=values.get("processDefinitionId"),
        process_definition_key=values.get("processDefinitionKey"),
        tenant_set=tenant_id is not None or without,
        tenant_id=tenant_id,
    )


def _suspended(body: dict) -> bool:
    # SuspensionStateDto.suspended is a Java boolean: missing or null means false (activate).
    return parse_bool_field(body, "suspended", False, null_means_default=True)


JOB_SELECTORS = ("jobId", "jobDefinitionId", "processInstanceId", "processDefinitionId", "processDefinitionKey")
DEFINITION_SELECTORS = ("jobDefinitionId", "processDefinitionId", "processDefinitionKey")


class JobSuspended(CamundaView):
    """Suspend or activate one job; 204 (an unknown id changes nothing, as in Camunda)."""

    body_schema = {"put": JOB_SUSPENSION_BODY}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, CHANGE_JOB)
        body = self.body(request)
        selector = _selector(body, JOB_SELECTORS, {"jobId": pk}, JOB_ONLY_ONE, JOB_EITHER)
        jobs_update_suspension(selector=selector, suspended=_suspended(body), user=request.user, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class JobsSuspended(CamundaView):
    """Suspend or activate the jobs of a job definition, an instance, a definition or a definition key; 204."""

    body_schema = {"put": JOB_SUSPENSION_BODY}

    def put(self, request: Request) -> Response:
        self.require(request, CHANGE_JOB)
        body = self.body(request)
        if body.get("jobId") is not None:
            raise BadUserRequest(JOBS_NO_JOB_ID)
        selector = _selector(body, JOB_SELECTORS, {}, JOB_ONLY_ONE, JOB_EITHER)
        jobs_update_suspension(selector=selector, suspended=_suspended(body), user=request.user, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


def _execution_date(body: dict, failure: str) -> datetime | None:
    raw = body.get("executionDate")
    if raw is None or raw == "":
        return None
    try:
        if not isinstance(raw, str):
            raise ValueError
        return parse_date(raw)
    except ValueError:
        # Camunda: DateTimeUtil.parseDate throws IllegalArgumentException, wrapped in this message.
        raise BadUserRequest(f'{failure}: Invalid format: "{raw}"') from None


def _definition_suspension(view: CamundaView, request: Request, body: dict, selector: JobSelector, failure: str) -> None:
    include_jobs = parse_bool_field(body, "includeJobs", False, null_means_default=True)
    if include_jobs:  # Camunda also checks the update of the instances then
        view.require(request, CHANGE_JOB)
    execution_date = _execution_date(body, failure)
    job_definitions_update_suspension(
        selector=selector, suspended=_suspended(body), include_jobs=include_jobs, user=request.user,
        user_id=request.user.get_username(), execution_date=execution_date,
    )


class JobDefinitionSuspended(CamundaView):
    """Suspend or activate one job definition (includeJobs: its jobs too; executionDate: later); 204."""

    body_schema = {"put": DEFINITION_SUSPENSION_BODY}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, CHANGE_JOB_DEFINITION)
        body = self.body(request)
        selector = _selector(body, DEFINITION_SELECTORS, {"jobDefinitionId": pk}, DEFINITION_ONLY_ONE, DEFINITION_EITHER)
        failure = f"The suspension state of Job Definition with id {pk} could not be updated due to"
        _definition_suspension(self, request, body, selector, failure)
        return Response(status=NO_CONTENT)


class JobDefinitionsSuspended(CamundaView):
    """Suspend or activate the job definitions of a process definition (by id or key); 204."""

    body_schema = {"put": DEFINITION_SUSPENSION_BODY}

    def put(self, request: Request) -> Response:
        self.require(request, CHANGE_JOB_DEFINITION)
        body = self.body(request)
        if body.get("jobDefinitionId") is not None:
            raise BadUserRequest(DEFINITIONS_NO_ID)
        selector = _selector(body, DEFINITION_SELECTORS, {}, DEFINITION_ONLY_ONE, DEFINITION_EITHER)
        _definition_suspension(self, request, body, selector, "Could not update the suspension state of Job Definitions due to")
        return Response(status=NO_CONTENT)


def _priority(body: dict) -> int | None:
    value = body.get("priority")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not JAVA_LONG[0] <= value <= JAVA_LONG[1]:
        raise BadUserRequest(f"priority must be an integer (a Java long), but '{value}' has been provided")
    return value


class JobPriority(CamundaView):
    """Set one job's priority; 204."""

    body_schema = {"put": json_body({"priority": PRIORITY}, ("priority",))}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, CHANGE_JOB)
        priority = _priority(self.body(request))
        if priority is None:
            raise RestException(f"Priority for job '{pk}' cannot be null.")
        job = self.visible_or_404(Job, pk, job_not_found_for_priority(pk))
        job_set_priority(job=job, priority=priority, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class JobDefinitionPriority(CamundaView):
    """Set (or with a null priority clear) a job definition's overriding job priority; 204."""

    body_schema = {"put": json_body({"priority": {**PRIORITY, "nullable": True}, "includeJobs": {"type": "boolean"}})}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, CHANGE_JOB_DEFINITION)
        body = self.body(request)
        priority = _priority(body)
        include_jobs = parse_bool_field(body, "includeJobs", False, null_means_default=True)
        if priority is None and include_jobs:
            raise BadUserRequest(f"Cannot reset priority for job definition {pk} with includeJobs=true")
        if include_jobs:
            self.require(request, CHANGE_JOB)
        definition = self.visible_or_404(JobDefinition, pk, job_definition_not_found_for_priority(pk))
        job_definition_set_priority(
            definition=definition, priority=priority, include_jobs=include_jobs, user_id=request.user.get_username()
        )
        return Response(status=NO_CONTENT)


# --- the job log ---------------------------------------------------------------------------------------


def job_log_rows(user) -> QuerySet:
    """The log rows the user may read, with their process definition's deployment id."""
    deployment = ProcessDefinition.objects.filter(id=OuterRef("process_definition_id")).values("deployment_id")[:1]
    return visible(HistoricJobLog, user).annotate(deployment_id=Subquery(deployment))


def job_log_query(request: Request, data, *, from_body: bool) -> QuerySet:
    spec = HISTORIC_JOB_LOG
    values = spec.parse(data, from_body=from_body)
    order = spec.ordering(data, from_body=from_body)
    return spec.filter(job_log_rows(request.user), values).order_by(*order)


class HistoricJobLogList(CamundaView):
    query_spec = HISTORIC_JOB_LOG

    def get(self, request: Request) -> Response:
        return self._respond(request, request.query_params, from_body=False)

    def post(self, request: Request) -> Response:
        return self._respond(request, self.body(request), from_body=True)

    def _respond(self, request: Request, data, *, from_body: bool) -> Response:
        first, size = paging(request.query_params)
        rows = page(job_log_query(request, data, from_body=from_body), first, size)
        return Response([historic_job_log_dto(row) for row in rows])


class HistoricJobLogCount(CamundaView):
    query_spec = HISTORIC_JOB_LOG
    counts = True

    def get(self, request: Request) -> Response:
        return Response({"count": job_log_query(request, request.query_params, from_body=False).count()})

    def post(self, request: Request) -> Response:
        return Response({"count": job_log_query(request, self.body(request), from_body=True).count()})


def job_log_not_found(pk: str) -> str:
    return f"Historic job log with id {pk} does not exist"  # HistoricJobLogResourceImpl


def job_log_stacktrace_not_found(pk: str) -> str:
    return f"No historic job log found with id {pk}: historicJobLog is null"  # GetHistoricJobLogExceptionStacktraceCmd


class HistoricJobLogDetail(CamundaView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(historic_job_log_dto(self.visible_or_404(HistoricJobLog, pk, job_log_not_found(pk), job_log_rows(request.user))))


class HistoricJobLogStacktrace(CamundaView):
    """The stack trace of a failure log entry as text/plain (empty for entries without one)."""

    response_schema = {"get": ("200", TEXT)}

    def get(self, request: Request, pk: str) -> HttpResponse:
        row = visible(HistoricJobLog, request.user).filter(pk=pk).first()
        if row is None:
            raise NotFound(job_log_stacktrace_not_found(pk))
        return HttpResponse(row.exception_stacktrace or "", content_type="text/plain; charset=utf-8")


# Fixed segments (job/suspended, job-definition/suspended) come before the {id} routes in engine.rest.urls.
urlpatterns = [
    path("job/suspended", JobsSuspended.as_view()),
    path("job/<str:pk>/suspended", JobSuspended.as_view()),
    path("job/<str:pk>/priority", JobPriority.as_view()),
    path("job-definition/suspended", JobDefinitionsSuspended.as_view()),
    path("job-definition/<str:pk>/suspended", JobDefinitionSuspended.as_view()),
    path("job-definition/<str:pk>/jobPriority", JobDefinitionPriority.as_view()),
    path("history/job-log", HistoricJobLogList.as_view()),
    path("history/job-log/count", HistoricJobLogCount.as_view()),
    path("history/job-log/<str:pk>", HistoricJobLogDetail.as_view()),
    path("history/job-log/<str:pk>/stacktrace", HistoricJobLogStacktrace.as_view()),
]
