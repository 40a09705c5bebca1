"""The external task API Camunda's workers use (/external-task/…), with Camunda's bodies, statuses and messages.

Every write needs engine.change_externaltask; reads and writes see only the caller's tenants (a task
of another tenant is "does not exist", as for jobs). Where Camunda answers 500 (a missing workerId, a
suspended task, a non-positive lockDuration) the answer here is a 400 with Camunda's type and
message. Keys a body may not carry, and non-null keys this engine cannot answer, are a 400 naming them.
"""
from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from batches.operations.external_task_retries import SetExternalTaskRetries
from batches.selection import selection_ids
from engine.errors import BadUserRequest, NotFound
from engine.models import ExternalTask
from engine.query import MAX_INT, MAX_LIST_LENGTH, java_boolean
from engine.rest import dtos
from engine.rest.base import CamundaView
from engine.rest.schema import ARRAY, TEXT, CamundaSchema
from engine.selectors import visible
from engine.services import external_tasks as service
from engine.services.external_tasks import FetchRequest, TopicRequest, not_found
from engine.variables import parse_typed_variables

NO_CONTENT = 204
PERMISSION = "engine.change_externaltask"
MAX_LONG = 2**63 - 1
WORKER_ID_LENGTH = ExternalTask._meta.get_field("worker_id").max_length
RETRIES = SetExternalTaskRetries()

VARIABLES = {"type": "object", "additionalProperties": {"type": "object", "properties": {"value": {}, "type": {"type": "string"}}}}
STRINGS = {"type": "array", "items": {"type": "string"}}


def json_body(properties: dict, required: tuple[str, ...] = ()) -> dict:
    schema: dict = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


# --- body fields, each a 400 naming the field when it has the wrong type ----------------------------


def only(body: dict, allowed: set[str], where: str) -> None:
    """Refuse keys the resource does not have (null values are left unset, as Camunda's DTOs do)."""
    unknown = sorted(name for name, value in body.items() if name not in allowed and value is not None)
    if unknown:
        raise BadUserRequest(f"Unknown property '{unknown[0]}' in {where}: this engine cannot answer it, so it is refused")


def text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadUserRequest(f"{name} must be a string")
    return value


def integer(body: dict, name: str, *, default: int = 0, low: int = -MAX_LONG - 1, high: int = MAX_LONG) -> int:
    """A JSON number that Java's int/long field holds (null or missing: the primitive's default)."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadUserRequest(f"{name} must be an integer between {low} and {high}, got '{value}'")
    return value


def flag(body: dict, name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadUserRequest(f"{name} must be a boolean")
    return value


def strings(body: dict, name: str) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_LIST_LENGTH or not all(isinstance(v, str) for v in value):
        raise BadUserRequest(f"{name} must be a list of strings")
    return tuple(value)


def variables(body: dict, name: str) -> dict:
    return parse_typed_variables(body.get(name), field=name)


# --- fetch and lock ---------------------------------------------------------------------------------

TOPIC_KEYS = {
    "topicName", "lockDuration", "variables", "localVariables", "businessKey", "processDefinitionId",
    "processDefinitionIdIn", "processDefinitionKey", "processDefinitionKeyIn", "processDefinitionVersionTag",
    "withoutTenantId", "tenantIdIn", "processVariables", "deserializeValues", "includeExtensionProperties",
}
FETCH_KEYS = {"workerId", "maxTasks", "usePriority", "asyncResponseTimeout", "topics", "sorting", "includeExtensionProperties"}
TOPIC_SCHEMA = {
    "type": "object",
    "properties": {
        "topicName": {"type": "string"},
        "lockDuration": {"type": "integer", "format": "int64", "minimum": 1},
        "variables": {**STRINGS, "nullable": True},
        "localVariables": {"type": "boolean", "description": "Only false: this engine has no execution-local variables."},
        "businessKey": {"type": "string", "nullable": True},
        "processDefinitionId": {"type": "string", "nullable": True},
        "processDefinitionIdIn": {**STRINGS, "nullable": True},
        "processDefinitionKey": {"type": "string", "nullable": True},
        "processDefinitionKeyIn": {**STRINGS, "nullable": True},
        "processDefinitionVersionTag": {"type": "string", "nullable": True},
        "withoutTenantId": {"type": "boolean"},
        "tenantIdIn": {**STRINGS, "nullable": True},
        "processVariables": {"type": "object", "nullable": True, "additionalProperties": {"nullable": True}},
        "deserializeValues": {"type": "boolean"},
        "includeExtensionProperties": {"type": "boolean"},
    },
    "required": ["topicName", "lockDuration"],
    "additionalProperties": False,
}


def parse_topic(raw: object, index: int) -> TopicRequest:
    where = f"topics[{index}]"
    if not isinstance(raw, dict):
        raise BadUserRequest(f"{where} must be an object")
    only(raw, TOPIC_KEYS, where)
    name = text(raw, "topicName")
    if name is None:
        raise service.NullValue("topicName is null")
    duration = integer(raw, "lockDuration")
    if duration <= 0:  # FetchExternalTasksCmd.validateInput (a 500 in Camunda)
        raise service.EngineRefusal("lockTime is not greater than 0")
    if flag(raw, "localVariables"):
        raise BadUserRequest(
            f"{where}.localVariables: this engine keeps variables per process instance only (no execution-local variables)"
        )
    flag(raw, "deserializeValues")  # accepted: no value of this engine is a serialized Java object
    found = raw.get("processVariables")
    if found is not None and not isinstance(found, dict):
        raise BadUserRequest(f"{where}.processVariables must be an object of variable names and values")
    pairs = []
    for key, value in (found or {}).items():
        if isinstance(value, (dict, list)) or (isinstance(value, (int, float)) and not _holdable(value)):
            raise BadUserRequest(f"{where}.processVariables.{key} must be a string, number (a Java long or double), boolean or null")
        pairs.append((key, value))
    return TopicRequest(
        topic_name=name,
        lock_duration=duration,
        variables=strings(raw, "variables"),
        business_key=text(raw, "businessKey"),
        process_definition_id=text(raw, "processDefinitionId"),
        process_definition_ids=strings(raw, "processDefinitionIdIn"),
        process_definition_key=text(raw, "processDefinitionKey"),
        process_definition_keys=strings(raw, "processDefinitionKeyIn"),
        process_definition_version_tag=text(raw, "processDefinitionVersionTag"),
        tenant_ids=strings(raw, "tenantIdIn"),
        without_tenant_id=flag(raw, "withoutTenantId"),
        process_variables=tuple(pairs),
        include_extension_properties=flag(raw, "includeExtensionProperties"),
    )


def _holdable(number: int | float) -> bool:
    """A number a variable can hold: a Java long, or a finite double."""
    if isinstance(number, bool):
        return True
    if isinstance(number, int):
        return -MAX_LONG - 1 <= number <= MAX_LONG
    return math.isfinite(number)


def worker(body: dict, *, stored: bool = False) -> str | None:
    """workerId; one that is stored on the task must fit its column (255 characters)."""
    value = text(body, "workerId")
    if stored and value is not None and len(value) > WORKER_ID_LENGTH:
        raise BadUserRequest(f"workerId must not be longer than {WORKER_ID_LENGTH} characters")
    return value


def parse_sorting(raw: object) -> tuple[str, ...]:
    """FetchExternalTasksDto.SortMapper: only createTime, asc or desc."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise BadUserRequest("sorting must be a list of {sortBy, sortOrder}")
    order = []
    for entry in raw:
        only(entry, {"sortBy", "sortOrder"}, "sorting")
        if entry.get("sortBy") != "createTime":
            raise BadUserRequest(f"Cannot set query sortBy parameter to value {entry.get('sortBy')}")
        direction = entry.get("sortOrder")
        if direction is not None and direction not in ("asc", "desc"):
            raise BadUserRequest(f"Cannot set query sortOrder parameter to value {direction}")
        order.append(direction or "asc")
    return tuple(order)


def parse_fetch(body: dict) -> FetchRequest:
    only(body, FETCH_KEYS, "the request body")
    timeout = body.get("asyncResponseTimeout")
    if timeout is not None:
        timeout = integer(body, "asyncResponseTimeout")
        if timeout > service.MAX_ASYNC_RESPONSE_TIMEOUT:  # FetchAndLockHandlerImpl.addPendingRequest
            raise BadUserRequest(
                "The asynchronous response timeout cannot be set to a value greater than "
                f"{service.MAX_ASYNC_RESPONSE_TIMEOUT} milliseconds"
            )
        timeout = max(timeout, 0)
    worker_id = worker(body, stored=True)
    if worker_id is None:
        raise service.NullValue("workerId is null")
    max_tasks = integer(body, "maxTasks", low=-MAX_INT - 1, high=MAX_INT)
    if max_tasks < 0:
        raise service.EngineRefusal("maxResults is not greater than or equal to 0")
    topics = body.get("topics")
    if topics is not None and not isinstance(topics, list):
        raise BadUserRequest("topics must be a list of topic objects")
    return FetchRequest(
        worker_id=worker_id,
        max_tasks=max_tasks,
        topics=tuple(parse_topic(raw, n) for n, raw in enumerate(topics or [])),
        use_priority=flag(body, "usePriority"),
        create_time_order=parse_sorting(body.get("sorting")),
        include_extension_properties=flag(body, "includeExtensionProperties"),
        async_response_timeout=timeout,
    )


class ExternalTaskFetchAndLock(CamundaView):
    body_schema = {
        "post": json_body(
            {
                "workerId": {"type": "string"},
                "maxTasks": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                "usePriority": {"type": "boolean"},
                "asyncResponseTimeout": {
                    "type": "integer", "format": "int64", "nullable": True, "maximum": service.MAX_ASYNC_RESPONSE_TIMEOUT,
                    "description": "Long polling: the request is held until tasks are locked, at most this long "
                    "and at most EXTERNAL_TASK_LONG_POLL_MAX_SECONDS; then an empty list.",
                },
                "topics": {"type": "array", "items": TOPIC_SCHEMA, "nullable": True},
                "sorting": {
                    "type": "array", "nullable": True,
                    "items": {"type": "object", "properties": {
                        "sortBy": {"type": "string", "enum": ["createTime"]},
                        "sortOrder": {"type": "string", "enum": ["asc", "desc"]},
                    }, "additionalProperties": False},
                },
                "includeExtensionProperties": {"type": "boolean"},
            },
            ("workerId",),
        )
    }
    response_schema = {"post": ("200", ARRAY)}

    def post(self, request: Request) -> Response:
        self.require(request, PERMISSION)
        fetch = parse_fetch(self.body(request))
        locked = service.fetch_and_lock_waiting(fetch, request.user)
        return Response([dtos.locked_external_task_dto(item) for item in locked])


# --- one task ---------------------------------------------------------------------------------------


class TaskView(CamundaView):
    def task(self, pk: str) -> ExternalTask:
        task = visible(ExternalTask, self.request.user).filter(pk=pk).first()
        if task is None:
            raise not_found(pk)  # ExternalTaskResourceImpl: RestException 404
        return task


class ExternalTaskDetail(TaskView):
    def get(self, request: Request, pk: str) -> Response:
        return Response(dtos.external_task_dto(self.task(pk)))


class TextOrNothing(CamundaSchema):
    """200 with the text, or 204 when there is none (a null String entity in JAX-RS)."""

    def _responses(self, view, verb, spec):
        responses = super()._responses(view, verb, spec)
        responses["204"] = {"description": "No error details."}
        return responses


class ExternalTaskErrorDetails(TaskView):
    schema = TextOrNothing()
    response_schema = {"get": ("200", TEXT)}

    def get(self, request: Request, pk: str) -> HttpResponse:
        task = self.task(pk)
        if task.error_details is None:
            return HttpResponse(status=NO_CONTENT)
        return HttpResponse(task.error_details, content_type="text/plain; charset=utf-8")


class ExternalTaskComplete(TaskView):
    body_schema = {"post": json_body({"workerId": {"type": "string"}, "variables": VARIABLES, "localVariables": VARIABLES}, ("workerId",))}
    response_schema = {"post": ("204", None)}

    def post(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        body = self.body(request)
        only(body, {"workerId", "variables", "localVariables"}, "the request body")
        service.external_task_complete(
            task_id=pk, worker_id=text(body, "workerId"), variables=variables(body, "variables"),
            local_variables=variables(body, "localVariables"), user=request.user,
        )
        return Response(status=NO_CONTENT)


class ExternalTaskFailure(TaskView):
    body_schema = {"post": json_body({
        "workerId": {"type": "string"},
        "errorMessage": {"type": "string", "nullable": True},
        "errorDetails": {"type": "string", "nullable": True},
        "retries": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
        "retryTimeout": {"type": "integer", "format": "int64", "minimum": 0},
        "variables": VARIABLES,
        "localVariables": VARIABLES,
    }, ("workerId",))}
    response_schema = {"post": ("204", None)}

    def post(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        body = self.body(request)
        only(body, {"workerId", "errorMessage", "errorDetails", "retries", "retryTimeout", "variables", "localVariables"}, "the request body")
        service.external_task_failure(
            task_id=pk,
            worker_id=text(body, "workerId"),
            error_message=text(body, "errorMessage"),
            error_details=text(body, "errorDetails"),
            retries=integer(body, "retries", low=-MAX_INT - 1, high=MAX_INT),  # Camunda's int, 0 when missing
            retry_timeout=integer(body, "retryTimeout"),
            variables=variables(body, "variables"),
            local_variables=variables(body, "localVariables"),
            user=request.user,
        )
        return Response(status=NO_CONTENT)


class ExternalTaskBpmnError(TaskView):
    body_schema = {"post": json_body({
        "workerId": {"type": "string"}, "errorCode": {"type": "string"}, "errorMessage": {"type": "string", "nullable": True},
        "variables": VARIABLES,
    }, ("workerId", "errorCode"))}
    response_schema = {"post": ("204", None)}

    def post(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        body = self.body(request)
        only(body, {"workerId", "errorCode", "errorMessage", "variables"}, "the request body")
        worker_id = text(body, "workerId")
        if worker_id is None:
            raise service.NullValue("workerId is null")
        if text(body, "errorCode") is None:
            raise service.NullValue("errorCode is null")
        text(body, "errorMessage")
        variables(body, "variables")
        task = self.task(pk)
        if task.worker_id != worker_id:  # HandleExternalTaskBpmnErrorCmd checks the worker first
            raise service.wrong_worker(task, f"Bpmn error of External Task {pk} cannot be reported by worker '{worker_id}")
        raise BadUserRequest(
            f"Cannot report a BPMN error for external task {pk}: this engine has no error events (no error boundary "
            "or error start event can catch it); report a failure (/failure) or complete the task instead"
        )


class ExternalTaskExtendLock(TaskView):
    body_schema = {"post": json_body({"workerId": {"type": "string"}, "newDuration": {"type": "integer", "format": "int64", "minimum": 1}}, ("workerId", "newDuration"))}
    response_schema = {"post": ("204", None)}

    def post(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        body = self.body(request)
        only(body, {"workerId", "newDuration"}, "the request body")
        service.external_task_extend_lock(
            task_id=pk, worker_id=text(body, "workerId"), new_duration=integer(body, "newDuration"), user=request.user
        )
        return Response(status=NO_CONTENT)


class ExternalTaskLock(TaskView):
    body_schema = {"post": json_body({"workerId": {"type": "string"}, "lockDuration": {"type": "integer", "format": "int64", "minimum": 1}}, ("workerId", "lockDuration"))}
    response_schema = {"post": ("204", None)}

    def post(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        body = self.body(request)
        only(body, {"workerId", "lockDuration"}, "the request body")
        service.external_task_lock(
            task_id=pk, worker_id=worker(body, stored=True), lock_duration=integer(body, "lockDuration"), user=request.user
        )
        return Response(status=NO_CONTENT)


class ExternalTaskUnlock(TaskView):
    response_schema = {"post": ("204", None)}

    def post(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        service.external_task_unlock(task_id=pk, user=request.user, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class ExternalTaskRetries(TaskView):
    body_schema = {"put": json_body({"retries": {"type": "integer", "minimum": 0, "maximum": MAX_INT}}, ("retries",))}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        body = self.body(request)
        only(body, {"retries"}, "the request body")
        if body.get("retries") is None:
            raise BadUserRequest("The number of retries cannot be null.")
        retries = integer(body, "retries", low=-MAX_INT - 1, high=MAX_INT)
        service.external_task_set_retries(task_id=pk, retries=retries, user=request.user, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


class ExternalTaskPriority(TaskView):
    body_schema = {"put": json_body({"priority": {"type": "integer", "format": "int64"}}, ("priority",))}

    def put(self, request: Request, pk: str) -> Response:
        self.require(request, PERMISSION)
        body = self.body(request)
        only(body, {"priority"}, "the request body")
        if body.get("priority") is None:  # Camunda unboxes a null Long here (a 500)
            raise BadUserRequest("priority must be set")
        priority = integer(body, "priority")
        service.external_task_set_priority(task_id=pk, priority=priority, user=request.user, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


# --- many tasks -------------------------------------------------------------------------------------

TOPIC_FLAGS = ("withLockedTasks", "withUnlockedTasks", "withRetriesLeft")


class ExternalTaskTopicNames(CamundaView):
    query_parameters = {
        "get": [{"name": name, "in": "query", "required": False, "schema": {"type": "boolean"}} for name in TOPIC_FLAGS]
    }
    response_schema = {"get": ("200", STRINGS)}

    def get(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - set(TOPIC_FLAGS))
        if unknown:
            raise BadUserRequest(f"Unknown query parameter '{unknown[0]}'")
        # JAX-RS binds these primitive booleans like Boolean.valueOf: only "true" is true.
        values = {name: java_boolean(request.query_params.get(name)) for name in TOPIC_FLAGS}
        return Response(service.topic_names(
            request.user, locked=values["withLockedTasks"], unlocked=values["withUnlockedTasks"],
            retries_left=values["withRetriesLeft"],
        ))


class ExternalTaskRetriesSync(CamundaView):
    """PUT /external-task/retries: the retries-async body, executed now, all or none."""

    operation = RETRIES  # the OpenAPI request body is the operation's serializer (engine.rest.schema)

    def put(self, request: Request) -> Response:
        self.require(request, PERMISSION)
        data = RETRIES.validate(self.body(request), request.user)
        too_many = (
            f"PUT /external-task/retries acts on at most {settings.SYNC_MAX_INSTANCES} external tasks; "
            "use POST /external-task/retries-async"
        )
        ids = selection_ids(RETRIES.selection(data, request.user), settings.SYNC_MAX_INSTANCES, too_many)
        if not ids:
            raise BadUserRequest(RETRIES.empty_message)
        seen = set(visible(ExternalTask, request.user).filter(id__in_ids=set(ids)).values_list("id", flat=True))
        hidden = next((i for i in ids if i not in seen), None)
        if hidden is not None:  # Camunda: SetExternalTaskRetriesCmd's NotFoundException → 404
            raise NotFound(f"Cannot find external task with id {hidden}")
        service.external_tasks_set_retries_now(task_ids=ids, retries=data["retries"], user_id=request.user.get_username())
        return Response(status=NO_CONTENT)
