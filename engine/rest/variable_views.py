"""Process variables over REST: one instance's variables, and the variable (and historic variable) queries.

Camunda's paths, bodies and messages (engine-rest AbstractVariablesResource, ExecutionVariablesResource,
VariableInstanceRestServiceImpl, HistoricVariableInstanceRestServiceImpl). Where Camunda answers a
variable request on an instance that does not run with a 500 (its engine's NullValueException,
wrapped by the REST layer as a RestException), the answer here is a 400 with the same type and
message; an instance of a tenant the caller may not see is answered as one that does not exist.
"""
from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response

from engine.errors import BadUserRequest, EngineRefusal, NotFound
from engine.models import HistoricVariableInstance, ProcessInstance, VariableInstance
from engine.query import QuerySpec, page, paging
from engine.rest import dtos
from engine.rest.base import CamundaView
from engine.rest.schema import OBJECT
from engine.rest.views import VARIABLES, boolean_query, json_body
from engine.selectors import HISTORIC_VARIABLE_INSTANCE, VARIABLE_INSTANCE, visible
from engine.services.variables import (
    MODIFY_VARIABLE,
    REMOVE_VARIABLE,
    SET_VARIABLE,
    ExecutionNotFound,
    execution_not_found,
    instance_variables_update,
)
from engine.variables import parse_value, parse_variables_map

NO_CONTENT = 204
RESOURCE = "process instance"  # Camunda's ExecutionVariablesResource for a process instance
DESERIALIZE_VALUES = boolean_query(
    "deserializeValues", "Accepted (default true); this engine stores no serialized objects, so it changes nothing."
)
DESERIALIZE_VALUE = boolean_query(
    "deserializeValue", "Accepted (default true); this engine stores no serialized objects, so it changes nothing."
)
VARIABLE_BODY = json_body(
    {
        "value": {"nullable": True},
        "type": {"type": "string", "enum": ["String", "Integer", "Short", "Long", "Double", "Boolean", "Date", "Json", "Null"]},
        "valueInfo": {"type": "object", "nullable": True},
    }
)
PATCH_BODY = json_body(
    {
        "modifications": {**VARIABLES, "nullable": True},
        "deletions": {"type": "array", "items": {"type": "string"}, "nullable": True},
    }
)


class WrappedEngineError(EngineRefusal):
    """Camunda's REST layer wraps the engine's error in a RestException carrying its message."""

    type_name = "RestException"


def _running_or_refuse(request: Request, pk: str, prefix: str) -> None:
    """The instance runs and the caller may see it; else Camunda's error for a missing execution."""
    if not visible(ProcessInstance, request.user).filter(pk=pk).exists():
        message = execution_not_found(pk)
        raise WrappedEngineError(f"{prefix}{message}") if prefix else ExecutionNotFound(message)


def _update(prefix: str, **kwargs) -> None:
    try:
        instance_variables_update(**kwargs)
    except ExecutionNotFound as exc:  # the instance ended after the check above
        raise WrappedEngineError(f"{prefix}{exc}") from exc


class ProcessInstanceVariables(CamundaView):
    """GET /process-instance/{id}/variables and POST (Camunda's PatchVariablesDto: modifications, deletions)."""

    query_parameters = {"get": [DESERIALIZE_VALUES]}
    body_schema = {"post": PATCH_BODY}
    response_schema = {"get": ("200", {"type": "object", "additionalProperties": OBJECT}), "post": ("204", None)}

    def get(self, request: Request, pk: str) -> Response:
        _running_or_refuse(request, pk, "")
        variables = VariableInstance.objects.filter(process_instance_id=pk)
        return Response({row.name: dtos.variable_value_dto(row) for row in variables})

    def post(self, request: Request, pk: str) -> Response:
        self.require(request, "engine.change_processinstance")
        body = self.body(request)
        modifications = parse_variables_map(
            body.get("modifications"), f"Cannot modify variables for {RESOURCE}: ", "modifications"
        )
        deletions = body.get("deletions")
        if deletions is not None and (not isinstance(deletions, list) or not all(isinstance(d, str) for d in deletions)):
            raise BadUserRequest("deletions must be a list of variable names")
        prefix = f"Cannot modify variables for {RESOURCE} {pk}: "
        _running_or_refuse(request, pk, prefix)
        _update(
            prefix, instance_id=pk, modifications=modifications, deletions=deletions,
            operation_type=MODIFY_VARIABLE, user_id=request.user.get_username(),
        )
        return Response(status=NO_CONTENT)


class ProcessInstanceVariable(CamundaView):
    """GET, PUT and DELETE /process-instance/{id}/variables/{varName}."""

    query_parameters = {"get": [DESERIALIZE_VALUE]}
    body_schema = {"put": VARIABLE_BODY}

    def get(self, request: Request, pk: str, name: str) -> Response:
        _running_or_refuse(request, pk, f"Cannot get {RESOURCE} variable {name}: ")
        row = VariableInstance.objects.filter(process_instance_id=pk, name=name).first()
        if row is None:
            raise NotFound(f"{RESOURCE} variable with name {name} does not exist")
        return Response(dtos.variable_value_dto(row))

    def put(self, request: Request, pk: str, name: str) -> Response:
        self.require(request, "engine.change_processinstance")
        prefix = f"Cannot put {RESOURCE} variable {name}: "
        try:
            typed = parse_value(self.body(request), name)
        except BadUserRequest as exc:
            raise BadUserRequest(f"{prefix}{exc}") from exc
        _running_or_refuse(request, pk, prefix)
        _update(
            prefix, instance_id=pk, modifications={name: typed}, operation_type=SET_VARIABLE,
            user_id=request.user.get_username(),
        )
        return Response(status=NO_CONTENT)

    def delete(self, request: Request, pk: str, name: str) -> Response:
        self.require(request, "engine.change_processinstance")
        prefix = f"Cannot delete {RESOURCE} variable {name}: "
        _running_or_refuse(request, pk, prefix)
        _update(prefix, instance_id=pk, deletions=[name], operation_type=REMOVE_VARIABLE, user_id=request.user.get_username())
        return Response(status=NO_CONTENT)


# --- queries -------------------------------------------------------------------------------------


def _rows(spec: QuerySpec, model, request: Request, data, *, from_body: bool) -> QuerySet:
    if not from_body:  # deserializeValues is a switch of the response, not a filter
        data = data.copy()
        data.pop("deserializeValues", None)
    values = spec.parse(data, from_body=from_body)
    order = spec.ordering(data, from_body=from_body)
    rows = spec.filter(visible(model, request.user), values)
    if model is HistoricVariableInstance and not values.get("includeDeleted"):
        rows = rows.exclude(state=HistoricVariableInstance.DELETED)  # Camunda's default: removed ones left out
    if model is VariableInstance:
        rows = rows.select_related("process_instance")
    return rows.order_by(*order)


def variable_query(name: str, spec: QuerySpec, model, dto) -> tuple[type[CamundaView], type[CamundaView]]:
    """The list and count views of a variable query (GET and POST), with Camunda's deserializeValues switch."""

    class ListView(CamundaView):
        query_spec = spec
        query_parameters = {"get": [DESERIALIZE_VALUES], "post": [DESERIALIZE_VALUES]}

        def get(self, request: Request) -> Response:
            return self.respond(request, request.query_params, from_body=False)

        def post(self, request: Request) -> Response:
            return self.respond(request, self.body(request), from_body=True)

        def respond(self, request: Request, data, *, from_body: bool) -> Response:
            first, size = paging(request.query_params)
            rows = _rows(spec, model, request, data, from_body=from_body)
            return Response([dto(row) for row in page(rows, first, size)])

    class CountView(CamundaView):
        query_spec = spec
        counts = True

        def get(self, request: Request) -> Response:
            return Response({"count": _rows(spec, model, request, request.query_params, from_body=False).count()})

        def post(self, request: Request) -> Response:
            return Response({"count": _rows(spec, model, request, self.body(request), from_body=True).count()})

    ListView.__name__ = ListView.__qualname__ = f"{name}List"
    CountView.__name__ = CountView.__qualname__ = f"{name}Count"
    return ListView, CountView


VariableInstanceList, VariableInstanceCount = variable_query(
    "VariableInstance", VARIABLE_INSTANCE, VariableInstance, dtos.variable_instance_dto
)
HistoricVariableInstanceList, HistoricVariableInstanceCount = variable_query(
    "HistoricVariableInstance", HISTORIC_VARIABLE_INSTANCE, HistoricVariableInstance, dtos.historic_variable_instance_dto
)


class VariableInstanceDetail(CamundaView):
    query_parameters = {"get": [DESERIALIZE_VALUE]}

    def get(self, request: Request, pk: str) -> Response:
        rows = visible(VariableInstance, request.user).select_related("process_instance")
        row = self.visible_or_404(VariableInstance, pk, f"Variable instance with Id '{pk}' does not exist.", rows)
        return Response(dtos.variable_instance_dto(row))


class HistoricVariableInstanceDetail(CamundaView):
    query_parameters = {"get": [DESERIALIZE_VALUE]}

    def get(self, request: Request, pk: str) -> Response:
        # Camunda's detail is its query by id, which leaves out removed (DELETED) variables too.
        rows = visible(HistoricVariableInstance, request.user).exclude(state=HistoricVariableInstance.DELETED)
        message = f"Historic variable instance with Id '{pk}' does not exist."
        row = self.visible_or_404(HistoricVariableInstance, pk, message, rows)
        return Response(dtos.historic_variable_instance_dto(row))

