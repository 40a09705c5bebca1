"""Engine REST endpoints that do more than query: deploy, start, modify, delete, retry."""
from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from engine.errors import BadUserRequest, NotAuthorized, NotFound
from engine.models import (
    ActivityInstance,
    HistoricProcessInstance,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
)
from engine.query import java_boolean, parse_date
from engine.rest import dtos
from engine.rest.base import CamundaView, reject_nul
from engine.rest.schema import ARRAY, DATE_PATTERN, TEXT
from engine.services.deployment import deployment_create
from engine.services.instance_actions import (
    historic_instance_delete,
    instance_delete,
    instance_not_found,
    instance_set_suspended,
)
from engine.services.job_actions import job_definition_set_retries, job_delete, job_not_found, job_set_retries
from engine.services.modification import instance_modify
from engine.services.runtime import instance_start, task_complete
from engine.selectors import visible
from engine.tenancy import may_use_tenant
from engine.variables import parse_typed_variables

NO_CONTENT = 204


def json_body(properties: dict, required: tuple[str, ...] = ()) -> dict:
    """An OpenAPI request body (read by engine.rest.schema.CamundaSchema)."""
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


RETRIES_BODY = json_body(
    {"retries": {"type": "integer", "minimum": 0}, "dueDate": {"type": "string", "pattern": DATE_PATTERN, "nullable": True}},
    ("retries",),
)
VARIABLES = {"type": "object", "additionalProperties": {"type": "object", "properties": {"value": {}, "type": {"type": "string"}}}}


def parse_retries(body: dict) -> int:
    retries = body.get("retries")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise BadUserRequest("retries must be set to a non-negative integer")
    return retries


def parse_bool_field(body: dict, name: str, default: bool | None = None, *, null_means_default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None and null_means_default:
        value = default
    if not isinstance(value, bool):
        raise BadUserRequest(f"{name} must be a boolean")
    return value


def optional_str(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadUserRequest(f"{name} must be a string")
    return value


class ProcessDefinitionDetail(CamundaView):
    def get(self, request: Request, pk: str) -> Response:
        definition = self.visible_or_404(ProcessDefinition, pk, f"No matching definition with id {pk}")
        return Response(dtos.process_definition_dto(definition))


class DeploymentCreate(CamundaView):
    body_schema = {
        "post": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "deployment-name": {"type": "string"},
                            "deployment-source": {"type": "string"},
                            "tenant-id": {"type": "string"},
                            "data": {"type": "string", "format": "binary"},
                        },
                    }
                }
            }
        }
    }
    def post(self, request: Request) -> Response:
        self.require(request, "engine.add_deployment")
        reject_nul({key: request.data.getlist(key) for key in request.data}, "form field")
        tenant_id = request.data.get("tenant-id") or None
        if not may_use_tenant(request.user, tenant_id):
            raise NotAuthorized(f"The user is not a member of tenant '{tenant_id}'")
        resources = []
        for files in request.FILES.lists():
            for upload in files[1]:
                reject_nul(upload.name, "file name")
                resources.append((upload.name, upload.read()))
        deployment, definitions = deployment_create(
            name=str(request.data.get("deployment-name") or ""),
            source=str(request.data.get("deployment-source") or ""),
            tenant_id=tenant_id,
            resources=resources,
            user_id=request.user.get_username(),
        )
        return Response(dtos.deployment_dto(deployment, definitions))


class ProcessDefinitionStart(CamundaView):
    body_schema = {"post": json_body({"businessKey": {"type": "string"}, "variables": VARIABLES})}
    def post(self, request: Request, key: str, tenant_id: str | None = None) -> Response:
        self.require(request, "engine.add_processinstance")
        body = self.body(request)
        definitions = visible(ProcessDefinition, request.user).filter(key=key)
        if tenant_id is not None:
            definitions = definitions.filter(tenant_id=tenant_id)
        latest = definitions.order_by("-version").first()
        if latest is None:
            raise NotFound(f"No matching process definition with key: {key} and tenant-id: {tenant_id}")
        if tenant_id is None and definitions.exclude(tenant_id=latest.tenant_id).exists():
            raise BadUserRequest(
                f"Cannot start process instance by key '{key}': definitions of several tenants have this key; "
                "use /process-definition/key/{key}/tenant-id/{tenant-id}/start"
            )
        instance = instance_start(
            definition=latest,
            business_key=optional_str(body, "businessKey"),
            variables=parse_typed_variables(body.get("variables")),
            user_id=request.user.get_username(),
        )
        dto = dtos.process_instance_dto(instance)
        dto["ended"] = not ProcessInstance.objects.filter(pk=instance.pk).exists()
        return Response(dto)


def boolean_query(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": description}


class ProcessInstanceDetail(CamundaView):
    query_parameters = {
        "delete": [
            {"name": "deleteReason", "in": "query", "required": False, "schema": {"type": "string"}},
            boolean_query("failIfNotExists", "Default true; false makes an unknown id a no-op (204)."),
            *(boolean_query(name, "Accepted; this engine has no listeners, IO mappings or sub-processes.")
              for name in ("skipCustomListeners", "skipIoMappings", "skipSubprocesses")),
        ]
    }

    def get(self, request: Request, pk: str) -> Response:
        instance = self.visible_or_404(ProcessInstance, pk, f"Process instance with id {pk} does not exist")
        return Response(dtos.process_instance_dto(instance))

    def delete(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.delete_processinstance")
        # Camunda binds these with Boolean.valueOf, failIfNotExists defaulting to true (research §10c).
        raw = request.query_params.get("failIfNotExists")
        fail_if_missing = raw is None or java_boolean(raw)
        instance = visible(ProcessInstance, request.user).filter(pk=pk).first()
        try:
            if instance is None:
                raise NotFound(instance_not_found(pk))
            instance_delete(instance=instance, delete_reason=request.query_params.get("deleteReason"), user_id=request.user.get_username())
        except NotFound:
            if fail_if_missing:
                raise
        return Response(status=NO_CONTENT)


class ProcessInstanceSuspended(CamundaView):
    body_schema = {"put": json_body({"suspended": {"type": "boolean"}}, ("suspended",))}
    def put(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.change_processinstance")
        suspended = parse_bool_field(self.body(request), "suspended", False, null_means_default=True)  # missing: activate, as Camunda
        instance = self.visible_or_404(ProcessInstance, pk, f"Process instance with id {pk} does not exist")
        instance_set_suspended(instance=instance, suspended=suspended, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class ProcessInstanceModification(CamundaView):
    body_schema = {
        "post": json_body(
            {
                "instructions": {"type": "array", "items": {"type": "object"}},
                "skipCustomListeners": {"type": "boolean"},
                "skipIoMappings": {"type": "boolean"},
                "annotation": {"type": "string"},
            },
            ("instructions",),
        )
    }
    response_schema = {"post": ("204", None)}
    def post(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.change_processinstance")
        body = self.body(request)
        self.visible_or_404(ProcessInstance, pk, f"Process instance with id {pk} does not exist")
        if "instructions" not in body:
            raise BadUserRequest("instructions must be set")
        instance_modify(
            instance_id=pk,
            instructions=body["instructions"],
            skip_custom_listeners=parse_bool_field(body, "skipCustomListeners", False),
            skip_io_mappings=parse_bool_field(body, "skipIoMappings", False),
            annotation=optional_str(body, "annotation"),
            user_id=request.user.get_username(),
        )
        return Response(status=NO_CONTENT)


class TaskList(CamundaView):
    query_parameters = {
        "get": [
            {"name": "processInstanceId", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "taskDefinitionKey", "in": "query", "required": False, "schema": {"type": "string"}},
        ]
    }
    response_schema = {"get": ("200", ARRAY)}
    def get(self, request: Request) -> Response:
        tasks = ActivityInstance.objects.filter(
            activity_type="userTask", process_instance__in=visible(ProcessInstance, request.user)
        ).select_related("process_instance")
        if "processInstanceId" in request.query_params:
            tasks = tasks.filter(process_instance_id=request.query_params["processInstanceId"])
        if "taskDefinitionKey" in request.query_params:
            tasks = tasks.filter(activity_id=request.query_params["taskDefinitionKey"])
        return Response([dtos.task_dto(t) for t in tasks.order_by("start_time", "id")[:1000]])


class TaskComplete(CamundaView):
    body_schema = {"post": json_body({"variables": VARIABLES})}
    response_schema = {"post": ("204", None)}
    def post(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.change_processinstance")
        body = self.body(request)
        visible_tasks = ActivityInstance.objects.filter(process_instance__in=visible(ProcessInstance, request.user))
        self.visible_or_404(ActivityInstance, pk, f"Cannot find task with id {pk}", visible_tasks)
        task_complete(task_id=pk, variables=parse_typed_variables(body.get("variables")), user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class HistoricProcessInstanceDetail(CamundaView):
    def get(self, request: Request, pk: str) -> Response:
        row = self.visible_or_404(HistoricProcessInstance, pk, f"Historic process instance with id {pk} does not exist")
        return Response(dtos.historic_process_instance_dto(row))

    query_parameters = {"delete": [boolean_query("failIfNotExists", "Default true; false makes an unknown id a no-op (204).")]}

    def delete(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.delete_historicprocessinstance")
        raw = request.query_params.get("failIfNotExists")
        try:
            row = self.visible_or_404(HistoricProcessInstance, pk, f"Historic process instance with id {pk} does not exist")
            historic_instance_delete(row=row, user_id=request.user.get_username())
        except NotFound:
            if raw is None or java_boolean(raw):
                raise
        return Response(status=NO_CONTENT)


class JobDetail(CamundaView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(dtos.job_dto(self.visible_or_404(Job, pk, job_not_found(pk))))

    def delete(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.delete_job")
        job = self.visible_or_404(Job, pk, job_not_found(pk))
        job_delete(job=job, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class JobRetries(CamundaView):
    body_schema = {"put": RETRIES_BODY}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.change_job")
        body = self.body(request)
        retries = parse_retries(body)
        due_date = None
        if body.get("dueDate") is not None:
            try:
                due_date = parse_date(body["dueDate"])
            except ValueError:
                raise BadUserRequest(f"dueDate: cannot parse date '{body['dueDate']}'") from None
        job = self.visible_or_404(Job, pk, job_not_found(pk))
        job_set_retries(job=job, retries=retries, due_date=due_date, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class JobStacktrace(CamundaView):
    response_schema = {"get": ("200", TEXT)}
    def get(self, request: Request, pk: str) -> HttpResponse:
        job = self.visible_or_404(Job, pk, job_not_found(pk))
        return HttpResponse(job.exception_stacktrace or "", content_type="text/plain; charset=utf-8")


class JobDefinitionDetail(CamundaView):
    def get(self, request: Request, pk: str) -> Response:
        definition = self.visible_or_404(JobDefinition, pk, f"Job Definition with id {pk} does not exist")
        return Response(dtos.job_definition_dto(definition))


class JobDefinitionRetries(CamundaView):
    body_schema = {"put": json_body({"retries": {"type": "integer", "minimum": 0}}, ("retries",))}
    def put(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.change_job")
        retries = parse_retries(self.body(request))
        definition = self.visible_or_404(JobDefinition, pk, f"Job Definition with id {pk} does not exist")
        job_definition_set_retries(definition=definition, retries=retries, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)
