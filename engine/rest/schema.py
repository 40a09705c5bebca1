"""OpenAPI for the Camunda-style views, derived from the same query specs and serializers they use."""
from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

from engine.query import MAX_INT, QuerySpec
from engine.variable_filters import OPERATORS, parse_variables

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?[+-]\d{4}$"
ERROR = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "message": {"type": "string"},
        "code": {"type": "integer", "nullable": True},
    },
    "required": ["type", "message"],
}
OBJECT = {"type": "object", "additionalProperties": True}
ARRAY = {"type": "array", "items": OBJECT}
COUNT = {"type": "object", "properties": {"count": {"type": "integer", "minimum": 0}}, "required": ["count"]}
TEXT = "text/plain"
PAGING = [
    {"name": "firstResult", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INT}},
    {"name": "maxResults", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INT}},
]
ERROR_STATUSES = {"400": "Invalid request", "401": "Not authenticated", "403": "Not authorized", "404": "Not found"}


VARIABLE_FILTER = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "operator": {"type": "string", "enum": sorted(OPERATORS)},
        "value": {"nullable": True, "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
    },
    "required": ["name", "operator"],
    "additionalProperties": False,
}
DATE_CONDITION = {
    "type": "object",
    "properties": {"operator": {"type": "string", "enum": ["gt", "lt"]}, "value": {"type": "string", "pattern": DATE_PATTERN}},
    "required": ["operator", "value"],
}
REFUSED = (
    "Any other key with a non-null value is refused with 400 InvalidRequestException naming it, so that a "
    "filter the engine cannot answer never widens a selection."
)


def _param_schema(kind, *, in_body: bool) -> dict:
    kind = getattr(kind, "documents_as", kind)  # a converter wrapping another is documented as that one
    if kind is parse_variables:
        if in_body:
            return {"type": "array", "items": VARIABLE_FILTER}
        return {"type": "string", "description": "name_operator_value, comma-separated; values are strings (or dates)"}
    if getattr(kind, "conditions", False):
        return {"type": "array", "items": DATE_CONDITION} if in_body else {"type": "string", "description": "operator_date, comma-separated"}
    if kind == "long":
        return {"type": "integer", "format": "int64"}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "int":
        return {"type": "integer", "minimum": 0, "maximum": MAX_INT}
    if kind == "date":
        return {"type": "string", "pattern": DATE_PATTERN}
    if kind == "list" and in_body:
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def query_parameters(spec: QuerySpec, *, paged: bool) -> list[dict]:
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": _param_schema(p.kind, in_body=False)}
        for name, p in spec.params.items()
    ]
    parameters += [
        {"name": "sortBy", "in": "query", "required": False, "schema": {"type": "string", "enum": sorted(spec.sort_fields)}},
        {"name": "sortOrder", "in": "query", "required": False, "schema": {"type": "string", "enum": ["asc", "desc"]}},
    ]
    return parameters + (PAGING if paged else [])


def query_body(spec: QuerySpec) -> dict:
    properties = {name: _param_schema(p.kind, in_body=True) for name, p in spec.params.items()}
    properties["sorting"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "sortBy": {"type": "string", "enum": sorted(spec.sort_fields)},
                "sortOrder": {"type": "string", "enum": ["asc", "desc"]},
            },
            "required": ["sortBy", "sortOrder"],
        },
    }
    if spec.or_queries:
        properties["orQueries"] = {
            "type": "array",
            "description": "Queries OR-ed inside, AND-ed together (Camunda's or-queries); no sorting inside.",
            "items": {"type": "object", "properties": dict(properties), "additionalProperties": False},
        }
        del properties["orQueries"]["items"]["properties"]["sorting"]
    return {"type": "object", "properties": properties, "additionalProperties": False, "description": _refusals(spec)}


def _refusals(spec: QuerySpec) -> str:
    if not spec.unsupported:
        return REFUSED
    return f"{REFUSED} Camunda parameters this engine cannot answer (400): {', '.join(sorted(spec.unsupported))}."


class CamundaSchema(AutoSchema):
    """Reads from the view: query_spec (+ paged, counts), body_schema, serializer of an operation, responses."""

    def get_request_serializer(self):
        operation = getattr(self.view, "operation", None)
        return operation.serializer_class if operation is not None else None

    def get_response_serializers(self):
        return None  # responses are described by _responses below

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        view, verb = self.view, method.lower()
        spec: QuerySpec | None = getattr(view, "query_spec", None)
        path_params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        extra = getattr(view, "query_parameters", {}).get(verb, [])
        if spec is not None:
            paged = not getattr(view, "counts", False)
            query = query_parameters(spec, paged=paged) if verb == "get" else (PAGING if paged else [])
            operation["parameters"] = path_params + query + extra
            operation["description"] = _refusals(spec)
            if verb == "post":
                operation["requestBody"] = {"content": {"application/json": {"schema": query_body(spec)}}}
        else:
            operation["parameters"] = path_params + extra
        body = getattr(view, "body_schema", {}).get(verb)
        if body is not None:
            operation["requestBody"] = body
        operation["responses"] = self._responses(view, verb, spec)
        return operation

    def _responses(self, view, verb: str, spec: QuerySpec | None) -> dict:
        declared = getattr(view, "response_schema", {}).get(verb)
        if declared is None:
            if spec is not None:
                declared = ("200", COUNT if getattr(view, "counts", False) else ARRAY)
            elif verb in ("put", "delete"):
                declared = ("204", None)
            else:
                declared = ("200", OBJECT)
        status, schema = declared
        responses: dict = {status: {"description": "Request successful."}}
        if schema == TEXT:
            responses[status]["content"] = {TEXT: {"schema": {"type": "string"}}}
        elif schema is not None:
            responses[status]["content"] = {"application/json": {"schema": schema}}
        for code, text in ERROR_STATUSES.items():
            responses[code] = {"description": text, "content": {"application/json": {"schema": ERROR}}}
        responses["405"] = {"description": "Method not allowed", "content": {"application/json": {"schema": ERROR}}}
        responses["413"] = {"description": "Request body too large", "content": {"application/json": {"schema": ERROR}}}
        responses["415"] = {"description": "Unsupported media type", "content": {"application/json": {"schema": ERROR}}}
        return responses
