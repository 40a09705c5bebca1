"""POST /message: correlate a message (Camunda's MessageRestServiceImpl)."""
from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from engine.errors import BadUserRequest
from engine.rest import dtos
from engine.rest.base import CamundaView
from engine.rest.schema import ARRAY, CamundaSchema
from engine.rest.views import NO_CONTENT, VARIABLES, json_body
from engine.services.messages import EXECUTION, Correlation, CorrelationResult, message_correlate
from engine.variables import parse_typed_variables

VARIABLE_MAPS = (
    "correlationKeys", "localCorrelationKeys", "processVariables", "processVariablesLocal", "processVariablesToTriggeredScope",
)
TEXTS = ("messageName", "businessKey", "tenantId", "processInstanceId")
FLAGS = ("withoutTenantId", "all", "resultEnabled", "variablesInResultEnabled")
FIELDS = set(VARIABLE_MAPS) | set(TEXTS) | set(FLAGS)


def _flag(body: dict, name: str) -> bool:
    # Camunda's DTO holds primitive booleans: missing or null is false.
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadUserRequest(f"{name} must be a boolean")
    return value


def _text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadUserRequest(f"{name} must be a string")
    return value


def _variables(body: dict, name: str) -> dict:
    try:
        return parse_typed_variables(body.get(name), name)
    except BadUserRequest as exc:  # Camunda: "Cannot deliver message: <the conversion error>"
        raise BadUserRequest(f"Cannot deliver message: {exc}") from exc


def correlation_of(body: dict) -> tuple[Correlation, dict]:
    """The correlation a body asks for, and its flags; 400 naming the field for what is malformed."""
    unknown = sorted(k for k, v in body.items() if k not in FIELDS and v is not None)
    if unknown:
        raise BadUserRequest(f"Unknown property '{unknown[0]}': the message is refused rather than delivered without it")
    texts = {name: _text(body, name) for name in TEXTS}
    flags = {name: _flag(body, name) for name in FLAGS}
    # Camunda's checks, in its order (MessageRestServiceImpl.deliverMessage).
    if texts["messageName"] is None:
        raise BadUserRequest("No message name supplied")
    if texts["tenantId"] is not None and flags["withoutTenantId"]:
        raise BadUserRequest("Parameter 'tenantId' cannot be used together with parameter 'withoutTenantId'.")
    if not flags["resultEnabled"] and flags["variablesInResultEnabled"]:
        raise BadUserRequest("Parameter 'variablesInResultEnabled' cannot be used without 'resultEnabled' set to true.")
    maps = {name: _variables(body, name) for name in VARIABLE_MAPS}
    # Every variable of this engine lives at process scope: the local and triggered-scope payloads
    # are set on the instance like processVariables (later maps win on a shared name, as Camunda's merge).
    payload = {**maps["processVariables"], **maps["processVariablesLocal"], **maps["processVariablesToTriggeredScope"]}
    correlation = Correlation(
        message_name=texts["messageName"],
        business_key=texts["businessKey"],
        process_instance_id=texts["processInstanceId"],
        tenant_id=texts["tenantId"],
        tenant_set=texts["tenantId"] is not None or flags["withoutTenantId"],
        correlation_keys=maps["correlationKeys"],
        local_correlation_keys=maps["localCorrelationKeys"],
        variables=payload,
        variables_count=sum(len(maps[n]) for n in ("processVariables", "processVariablesLocal", "processVariablesToTriggeredScope")),
    )
    return correlation, flags


def result_dto(result: CorrelationResult, *, with_variables: bool) -> dict:
    """Camunda's MessageCorrelationResultDto (with variables: MessageCorrelationResultWithVariableDto)."""
    instance = result.instance
    dto: dict = {"resultType": result.result_type, "execution": None, "processInstance": None}
    if result.result_type == EXECUTION:
        # The token is the execution; "ended" tells whether the message ended the instance.
        dto["execution"] = {
            "id": result.execution_id, "processInstanceId": instance.id, "ended": result.ended, "tenantId": instance.tenant_id,
        }
    else:
        dto["processInstance"] = {**dtos.process_instance_dto(instance), "ended": result.ended}
    if with_variables:
        dto["variables"] = {
            name: {"type": entry["type"], "value": entry.get("value"), "valueInfo": {}}
            for name, entry in (result.variables or {}).items()
        }
    return dto


TYPED_MAP = VARIABLES
MESSAGE_BODY = json_body(
    {
        "messageName": {"type": "string"},
        "businessKey": {"type": "string", "nullable": True},
        "tenantId": {"type": "string", "nullable": True},
        "withoutTenantId": {"type": "boolean", "nullable": True},
        "processInstanceId": {"type": "string", "nullable": True},
        **{name: {**TYPED_MAP, "nullable": True} for name in VARIABLE_MAPS},
        "all": {"type": "boolean", "nullable": True},
        "resultEnabled": {"type": "boolean", "nullable": True},
        "variablesInResultEnabled": {"type": "boolean", "nullable": True},
    },
    ("messageName",),
)


class MessageSchema(CamundaSchema):
    """Camunda's two success answers of POST /message: 204, or 200 with resultEnabled."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None:
            operation["responses"]["204"] = {"description": "Request successful (resultEnabled false)."}
        return operation


class MessageCorrelate(CamundaView):
    """Correlate a message: 204, or with resultEnabled the list of results (200)."""

    schema = MessageSchema()
    body_schema = {"post": MESSAGE_BODY}
    response_schema = {"post": ("200", ARRAY)}

    def post(self, request: Request) -> Response:
        correlation, flags = correlation_of(self.body(request))
        results = message_correlate(
            correlation=correlation,
            all=flags["all"],
            user=request.user,
            with_variables=flags["variablesInResultEnabled"],
            user_id=request.user.get_username(),
        )
        if not flags["resultEnabled"]:
            return Response(status=NO_CONTENT)
        return Response([result_dto(r, with_variables=flags["variablesInResultEnabled"]) for r in results])
