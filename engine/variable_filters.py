"""Camunda's variable filters ({name, operator, value}) as typed SQL conditions on the variable rows."""
from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Exists, Model, OuterRef, Q
from django.db.models.functions import Upper

from engine.errors import BadUserRequest
from engine.query import MAX_LIST_LENGTH, invalid, parse_date
from engine.variables import normalise_date

OPERATORS = {"eq": "exact", "neq": "exact", "gt": "gt", "gteq": "gte", "lt": "lt", "lteq": "lte", "like": "like"}
ORDERING = {"gt": "greater than", "gteq": "greater than or equal", "lt": "less than", "lteq": "less than or equal"}
# Integer types a numeric query value may match: only those that hold it without loss (Camunda's
# CompositeQueryVariableValueCondition), so 5.5 matches Double variables only.
INTEGER_RANGES = {"Short": 2**15, "Integer": 2**31, "Long": 2**63}
BAD_OPERATOR = "Invalid variable comparator specified: {operator}"
GET_FORMAT = "variable query parameter has to have format KEY_OPERATOR_VALUE"
NO_ORDERING = "Booleans and null cannot be used in '{label}' condition"
LIKE_NEEDS_TEXT = "Only string values can be used with 'like' condition"


@dataclass(frozen=True)
class VariableCondition:
    name: str
    operator: str
    value: object
    # Camunda reads a string value in its date format as a date (ConditionQueryParameterDto.resolveValue),
    # except in the queries nested in batch requests, where it stays a string.
    dates: bool = True


def parse_variables(name: str, raw: object, from_body: bool) -> list[VariableCondition]:
    """A body's list of {name, operator, value}, or a query string's `name_operator_value,…`."""
    if from_body:
        if not isinstance(raw, list) or len(raw) > MAX_LIST_LENGTH:
            raise invalid(name, raw)
        return [_condition(name, item) for item in raw]
    if not isinstance(raw, str):
        raise invalid(name, raw)
    return [_from_query_string(name, part) for part in raw.split(",")]


def _condition(param: str, item: object) -> VariableCondition:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        raise BadUserRequest(f"{param}: every entry needs a 'name' (a string), an 'operator' and a 'value'")
    unknown = set(item) - {"name", "operator", "value"}
    if unknown:
        raise BadUserRequest(f"{param}: unknown property '{sorted(unknown)[0]}' in a variable filter")
    operator, value = item.get("operator"), item.get("value")
    if not isinstance(operator, str) or operator not in OPERATORS:  # a dict or list is unhashable: no `in` on it
        raise BadUserRequest(BAD_OPERATOR.format(operator=operator))
    if isinstance(value, (dict, list)):
        raise BadUserRequest(f"{param}: the value of variable filter '{item['name']}' must be a string, number, boolean or null")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not _finite(value):
        raise BadUserRequest(f"{param}: the value of variable filter '{item['name']}' is not a finite number a variable can hold")
    if operator in ORDERING and (value is None or isinstance(value, bool)):
        raise BadUserRequest(NO_ORDERING.format(label=ORDERING[operator]))
    if operator == "like" and (value is None or isinstance(value, bool)):
        raise BadUserRequest(NO_ORDERING.format(label="like"))
    if operator == "like" and not isinstance(value, str):
        raise BadUserRequest(LIKE_NEEDS_TEXT)
    return VariableCondition(item["name"], operator, value)


def _from_query_string(param: str, expression: str) -> VariableCondition:
    parts = expression.split("_")
    if len(parts) != 3 or not parts[0]:
        raise BadUserRequest(f"{param}: {GET_FORMAT}, got '{expression}'")
    # Camunda: "Values are always treated as String objects on server side" (a date excepted, below).
    return _condition(param, {"name": parts[0], "operator": parts[1], "value": parts[2]})


def variables_condition(
    model: type[Model], conditions: list[VariableCondition], *, names_ignore_case: bool = False, values_ignore_case: bool = False
) -> Q:
    """Instances that have, for every condition, a variable of that name whose value satisfies it."""
    result = Q()
    for condition in conditions:
        rows = model.objects.filter(process_instance_id=OuterRef("pk"))
        if names_ignore_case:
            rows = rows.annotate(upper_name=Upper("name")).filter(upper_name=condition.name.upper())
        else:
            rows = rows.filter(name=condition.name)
        if values_ignore_case and isinstance(condition.value, str):
            rows = rows.annotate(upper_text=Upper("text_value"))
        result &= Exists(rows.filter(_value_q(condition, values_ignore_case)))
    return result


def _value_q(condition: VariableCondition, ignore_case: bool) -> Q:
    """Camunda's typed condition: the variable has the value's type and its column compares (Commons.xml)."""
    op, value = condition.operator, condition.value
    if value is None:  # eq null: a null variable; neq null: any other value
        is_null = Q(type="Null") | Q(text_value__isnull=True, long_value__isnull=True, double_value__isnull=True)
        return is_null if op == "eq" else ~is_null
    if isinstance(value, bool):
        return _compare(op, Q(type="Boolean") & Q(long_value__isnull=False), "long_value", int(value))
    if isinstance(value, (int, float)):
        return _number(op, value)
    if condition.dates and op != "like" and _is_date(value):
        return _compare(op, Q(type="Date") & Q(text_value__isnull=False), "text_value", normalise_date(value))
    column, text = ("upper_text", value.upper()) if ignore_case else ("text_value", value)
    return _compare(op, Q(type="String") & Q(text_value__isnull=False), column, text)


def _number(op: str, value: int | float) -> Q:
    branches = Q(type="Double", double_value__isnull=False) & Q(**{f"double_value__{OPERATORS[op]}": float(value)})
    if float(value).is_integer():
        whole = int(value)
        for kind, bound in INTEGER_RANGES.items():
            if -bound <= whole < bound:
                branches |= Q(type=kind, long_value__isnull=False) & Q(**{f"long_value__{OPERATORS[op]}": whole})
    return ~branches if op == "neq" else branches


def _compare(op: str, typed: Q, column: str, value: object) -> Q:
    # neq is NOT(same type and equal): a variable of the name with another type matches it (Camunda's SQL).
    if op == "neq":
        return ~(typed & Q(**{f"{column}__exact": value}))
    return typed & Q(**{f"{column}__{OPERATORS[op]}": value})


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond a double
        return False


def _is_date(value: str) -> bool:
    try:
        parse_date(value)
    except ValueError:
        return False
    return True
