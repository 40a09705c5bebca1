"""The wizard's search form as a Camunda instance query (runtime or historic), and the instances it finds."""
from __future__ import annotations

import math
import re
from datetime import datetime
from itertools import zip_longest
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.http import QueryDict

from engine.errors import BadUserRequest
from engine.models import HistoricProcessInstance, ProcessDefinition, ProcessInstance
from engine.selectors import HISTORIC_PROCESS_INSTANCE, PROCESS_INSTANCE, query, visible
from engine.variable_filters import OPERATORS

if TYPE_CHECKING:
    from cockpit.wizard import WizardOperation

VARIABLE_ROWS = 2
# The engine's operators (Camunda's names are sent), shown as symbols.
SYMBOLS = {"eq": "=", "neq": "≠", "gt": ">", "gteq": "≥", "lt": "<", "lteq": "≤"}
VARIABLE_OPERATORS = [(key, SYMBOLS.get(key, key)) for key in OPERATORS]
INCIDENT_TYPES = ["failedJob"]
DATE_HINT = "Enter a date and time like 2026-11-22T14:00."
VARIABLE_NAME_MISSING = "Enter the name of the variable."
NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def camunda_date(value: str) -> str:
    """An <input type=datetime-local> value (taken as UTC) in Camunda's date format."""
    parsed = datetime.fromisoformat(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def typed_value(raw: str) -> object:
    """A value typed in the wizard: a number if it reads as one, true/false as booleans, else a string.

    Double quotes around it force a string: "1000" (with the quotes) is the text 1000.
    """
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    # A number beyond a double's range stays text: JSON and the database could not carry it.
    if NUMBER.fullmatch(text) and math.isfinite(float(text)):
        return int(text) if text.lstrip("-").isdigit() else float(text)
    return text


def search_query(op: WizardOperation, params: QueryDict, definition: ProcessDefinition | None, errors: dict) -> dict:
    """The filter form in Camunda query parameter names (runtime or historic query)."""
    get = lambda name: params.get(name, "").strip()  # noqa: E731
    history = op.scope == "history"
    found: dict = {"finished": True} if history else {}
    if get("key"):
        found["processDefinitionKey"] = get("key")
    if definition is not None:
        found["processDefinitionId"] = definition.id
    elif op.version_required:
        errors["version"] = op.version_required
    if get("businessKey"):
        found["processInstanceBusinessKeyLike" if history else "businessKeyLike"] = f"%{get('businessKey')}%"
    if get("activity") and not history:
        found["activityIdIn"] = [get("activity")]
    if get("tenant"):
        found["tenantIdIn"] = [get("tenant")]
    state = get("state")
    if state and state in ({"completed", "externallyTerminated"} if history else {"active", "suspended"}):
        found[state] = True
    if params.get("withIncident") and not history:
        found["withIncident"] = True
    if get("incidentType"):
        found["incidentType"] = get("incidentType")
    for name in ("startedAfter", "startedBefore"):
        value = date_filter(params, name, errors)
        if value:
            found[name] = value
    variables = _variables(op, params, errors)
    if variables:
        found["variables"] = variables
    return found


def date_filter(params: QueryDict, name: str, errors: dict) -> str | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return camunda_date(value)
    except ValueError:
        errors[name] = DATE_HINT
        return None


def variable_rows(params: QueryDict) -> list[tuple[str, str, str]]:
    """The variable filter rows of the form: (name, operator, value), padded to VARIABLE_ROWS."""
    columns = (params.getlist("var_name"), params.getlist("var_op"), params.getlist("var_value"))
    rows = list(zip_longest(*columns, fillvalue=""))
    return (rows + [("", "eq", "")] * VARIABLE_ROWS)[: max(VARIABLE_ROWS, len(rows))]


def _variables(op: WizardOperation, params: QueryDict, errors: dict) -> list[dict]:
    """Camunda's variables filter; checked with the query's own spec, so the message is the REST API's."""
    conditions = []
    for name, operator, value in variable_rows(params):
        if not name.strip():
            if value.strip():
                errors["variables"] = VARIABLE_NAME_MISSING
            continue
        conditions.append({"name": name.strip(), "operator": operator or "eq", "value": typed_value(value)})
    if conditions and "variables" not in errors:
        spec = HISTORIC_PROCESS_INSTANCE if op.scope == "history" else PROCESS_INSTANCE
        try:
            spec.parse({"variables": conditions}, from_body=True)
        except BadUserRequest as exc:
            errors["variables"] = str(exc)
    return conditions


def instances(op: WizardOperation, found: dict, user) -> QuerySet:
    """The instances the search finds, read as the batch will read the same query (in_batch)."""
    if op.scope == "history":
        return query(HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance, user, found, from_body=True, in_batch=True)
    rows = query(PROCESS_INSTANCE, ProcessInstance, user, found, from_body=True, in_batch=True)
    return rows.select_related("process_definition")


def instance_count(op: WizardOperation, payload: dict, found: dict, user) -> int:
    """How many instances the payload selects: its visible ids, or what its query finds."""
    ids = payload.get(op.ids_name)
    if ids is not None:
        model = HistoricProcessInstance if op.scope == "history" else ProcessInstance
        return visible(model, user).filter(id__in_ids=set(ids)).count()
    return instances(op, found, user).order_by().count()
