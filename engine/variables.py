"""Process variables in Camunda's typed JSON form, and the simple conditions gateways use."""
from __future__ import annotations

import json
import operator
from datetime import datetime

from engine.errors import BadUserRequest

TYPES = {"String", "Boolean", "Integer", "Long", "Short", "Double", "Null", "Json", "Date", "Object"}
COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def variable_value(variables: dict, name: str) -> object:
    entry = variables.get(name)
    return entry.get("value") if isinstance(entry, dict) else None


def is_truthy(variables: dict, name: str) -> bool:
    return bool(variable_value(variables, name))


def evaluate_condition(condition: dict, variables: dict, flow_id: str) -> bool:
    value = variable_value(variables, condition["var"])
    if condition["op"] is None:
        result = bool(value)
        return not result if condition["negate"] else result
    try:
        result = COMPARE[condition["op"]](value, condition["value"])
    except TypeError as exc:
        raise BadUserRequest(
            f"Condition {condition['text']} of sequence flow '{flow_id}' cannot compare {value!r}"
        ) from exc
    return not result if condition["negate"] else result


def infer_type(value: object) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer" if -(2**31) <= value < 2**31 else "Long"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, str):
        return "String"
    return "Json"


def parse_typed_variables(raw: object, field: str = "variables") -> dict:
    """Validate {"name": {"value": ..., "type": ...}} and return it normalised; 400 names the field."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadUserRequest(f"{field} must be a JSON object of variables")
    result = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or "value" not in entry and "type" not in entry:
            raise BadUserRequest(f"{field}.{name} must be an object with 'value' and 'type'")
        value = entry.get("value")
        declared = entry.get("type") or infer_type(value)
        if declared not in TYPES:
            raise BadUserRequest(f"{field}.{name}: unsupported value type '{declared}'")
        result[name] = {"value": _coerce(value, declared, f"{field}.{name}"), "type": declared}
    return result


def _coerce(value: object, declared: str, field: str) -> object:
    if value is None or declared in {"Json", "Object", "Null"}:
        return value
    try:
        if declared == "Boolean":
            if isinstance(value, str):
                if value.lower() not in {"true", "false"}:
                    raise ValueError(value)
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if declared in {"Integer", "Long", "Short"}:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if declared == "Double":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if declared == "Date":
            datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%f%z")
            return str(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise BadUserRequest(f"{field}: cannot convert value '{value}' to type {declared}") from exc


# --- typed columns (engine.models.variables) ------------------------------------------------

NUMERIC_TYPES = {"Integer", "Long", "Short"}


def normalise_date(value: str) -> str:
    """A Camunda date in UTC with milliseconds, so that text order is time order."""
    from engine.query import format_date, parse_date

    return format_date(parse_date(value))


def columns_of(entry: dict) -> dict:
    """The typed columns of one {"value", "type"} variable (see TypedValueColumns)."""
    kind, value = entry["type"], entry.get("value")
    columns: dict = {"type": kind, "text_value": None, "long_value": None, "double_value": None}
    if value is None or kind == "Null":
        return columns
    if kind in NUMERIC_TYPES:
        columns.update(long_value=int(value), double_value=float(value), text_value=str(int(value)))
    elif kind == "Double":
        columns.update(double_value=float(value), text_value=repr(float(value)))
    elif kind == "Boolean":
        columns.update(long_value=1 if value else 0, text_value="true" if value else "false")
    elif kind == "Date":
        columns["text_value"] = normalise_date(str(value))
    elif kind in {"Json", "Object"}:
        columns["text_value"] = value if isinstance(value, str) else json.dumps(value)
    else:
        columns["text_value"] = str(value)
    return columns


def typed_value(row) -> dict:
    """A variable row back in Camunda's typed JSON form."""
    kind = row.type
    if kind == "Null":
        value: object = None
    elif kind in NUMERIC_TYPES:
        value = row.long_value
    elif kind == "Double":
        value = row.double_value
    elif kind == "Boolean":
        value = None if row.long_value is None else bool(row.long_value)
    else:  # String, Date, and Json/Object as their text (Camunda serves Json values as strings)
        value = row.text_value
    return {"value": value, "type": kind}
