"""Process variables in Camunda's typed JSON form, and the simple conditions gateways use."""
from __future__ import annotations

import json
import math
import operator
import re
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
        try:
            result[name] = parse_value(entry, name)
        except BadUserRequest as exc:
            message = str(exc)
            raise BadUserRequest(f"{field}.{name}: {message[:1].lower()}{message[1:]}") from exc
    return result


def parse_variables_map(raw: object, prefix: str, field: str = "variables") -> dict:
    """A request's map of variables with Camunda's messages, each after prefix (e.g. "Cannot set variables: ").

    None stays None (the caller decides what a missing map means).
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadUserRequest(f"{prefix}{field} must be a JSON object of variables")
    result = {}
    for name, entry in raw.items():
        try:
            result[name] = parse_value(entry, name)
        except BadUserRequest as exc:
            raise BadUserRequest(f"{prefix}{exc}") from exc
    return result


# --- Camunda's typed values (VariableValueDto.toTypedValue) ---------------------------------

# The types this engine stores, by their REST name. Camunda resolves a type name with its first
# letter lower-cased ("string" and "String" are the same type, "STRING" is none).
WRITABLE = ("String", "Integer", "Short", "Long", "Double", "Boolean", "Date", "Json", "Null")
# Java's classes, as Camunda's conversion error names them.
JAVA_TYPES = {
    "String": "java.lang.String",
    "Integer": "java.lang.Integer",
    "Short": "java.lang.Short",
    "Long": "java.lang.Long",
    "Double": "java.lang.Double",
    "Boolean": "java.lang.Boolean",
    "Date": "java.util.Date",
}
INTEGER_BOUNDS = {"Short": 2**15, "Integer": 2**31, "Long": 2**63}
MAX_NAME_LENGTH = 255  # the name column (Camunda's NAME_ is varchar(255) too)
UNSUPPORTED = "Unsupported value type '{type}'"
REFUSED_TYPES = {
    "Object": "this engine stores no serialized Java objects; send structured data as type 'Json' (a JSON string)",
    "Bytes": "this engine stores no binary variables",
    "File": "this engine stores no file variables",
    "Xml": "this engine stores no XML variables",
}
SERIALIZED_NEEDS_TEXT = "Must provide 'null' or String value for value of SerializableValue type '{type}'."
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def parse_value(entry: object, name: str | None = None) -> dict:
    """One variable of a request ({"value", "type", "valueInfo"}) as this engine stores it.

    Camunda's rules (engine-rest VariableValueDto.toTypedValue): a missing type is taken from the
    JSON value; a primitive value of another JSON type is read from its text as Jackson would ("5"
    is an Integer 5, 5.5 is no Integer); Json takes a string (or null). Errors carry Camunda's
    message; Object, Bytes, File and Xml values are refused with the reason.
    """
    if not isinstance(entry, dict):
        raise BadUserRequest(f"Variable '{name}' must be a JSON object with 'value' and 'type'")
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise BadUserRequest(f"Variable name '{name[:40]}…' is longer than {MAX_NAME_LENGTH} characters")
    value, declared, info = entry.get("value"), entry.get("type"), entry.get("valueInfo")
    if info is not None and not isinstance(info, dict):
        raise BadUserRequest(f"valueInfo of variable '{name}' must be a JSON object")
    if info and info.get("transient") is True:
        raise BadUserRequest(f"Variable '{name}': transient variables (valueInfo.transient) are not supported by this engine")
    if declared is None:
        return _untyped(value)
    if not isinstance(declared, str):
        raise BadUserRequest(UNSUPPORTED.format(type=declared))
    kind = declared[:1].upper() + declared[1:]
    if kind in REFUSED_TYPES:
        raise BadUserRequest(f"{UNSUPPORTED.format(type=declared)}: {REFUSED_TYPES[kind]}")
    if kind not in WRITABLE:
        raise BadUserRequest(UNSUPPORTED.format(type=declared))
    return {"value": _converted(value, kind, declared), "type": kind}


def _untyped(value: object) -> dict:
    """A value without a type: Camunda's untyped value, typed by its JSON kind."""
    kind = infer_type(value)
    if kind == "Long" and not -(2**63) <= value < 2**63:
        raise BadUserRequest(f"Cannot convert value '{value}': it is beyond a Long")
    if kind == "Double" and not math.isfinite(value):
        raise BadUserRequest(f"Cannot convert value '{value}': not a finite number")
    if kind == "Json" and not isinstance(value, str):
        # An untyped object or list: Camunda would serialize a Java object; kept here as its JSON text.
        value = json.dumps(value)
    return {"value": value, "type": kind}


def _converted(value: object, kind: str, declared: str) -> object:
    if kind == "Null" or value is None:
        return None
    if kind == "Json":
        if not isinstance(value, str):
            raise BadUserRequest(SERIALIZED_NEEDS_TEXT.format(type=declared))
        try:
            json.loads(value)
        except ValueError:
            raise BadUserRequest(f"Cannot convert value '{value}' of type '{declared}': it is not valid JSON") from None
        return value
    failure = BadUserRequest(
        f"Cannot convert value '{_java_text(value)}' of type '{declared}' to java type {JAVA_TYPES[kind]}"
    )
    if isinstance(value, (dict, list)):
        raise failure
    if kind == "String":
        return value if isinstance(value, str) else _java_text(value)
    if isinstance(value, str) and value == "" and kind != "Date":
        return None  # Jackson reads an empty text as null for Java's boxed types
    if kind in INTEGER_BOUNDS:
        if isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
            value = int(value.strip())
        bound = INTEGER_BOUNDS[kind]
        if isinstance(value, bool) or not isinstance(value, int) or not -bound <= value < bound:
            raise failure
        return value
    if kind == "Double":
        if isinstance(value, bool):
            raise failure
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise failure from None
        if not math.isfinite(number):
            raise failure
        return number
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "True", "TRUE", "false", "False", "FALSE"):  # Jackson's boolean texts
            return value.lower() == "true"
        raise failure
    # Date: Camunda's REST date format (yyyy-MM-dd'T'HH:mm:ss.SSSZ), kept in UTC.
    try:
        datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        raise failure from None
    return normalise_date(str(value))


def _java_text(value: object) -> str:
    """A JSON scalar as Java prints it (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
