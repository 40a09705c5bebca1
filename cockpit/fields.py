"""The wizard's fields: each kind (batches/operations/wizard.py) read from the URL into its payload value.

Simple kinds give one value; the composite editors (instructions, migration plan, variables) also give what
their shared partial shows (draft.editors[name]).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import QueryDict

from batches.operations.wizard import (
    CHECKBOX, DATETIME, INSTRUCTIONS, INTEGER, MIGRATION_PLAN, RADIO, SELECT, TEXT, VARIABLES, Field,
)
from cockpit import migration
from cockpit.search import camunda_date, date_filter
from engine.errors import BadUserRequest
from engine.variables import WRITABLE, parse_value

if TYPE_CHECKING:
    from cockpit.wizard import Draft

INSTRUCTION_ROWS = 3
LEFT_OUT = object()  # a value the payload does not carry at all


def field_values(fields: tuple[Field, ...], params: QueryDict, draft: Draft, user) -> dict:
    """The payload entries of the fields, in their order; errors go to draft.errors[field.name]."""
    values = {}
    for field in fields:
        value = _value(field, params, draft, user)
        if value is not LEFT_OUT:
            values[field.name] = value
    return values


def _value(field: Field, params: QueryDict, draft: Draft, user) -> object:
    raw = params.get(field.name, "").strip()
    if field.kind in (TEXT, INTEGER) and not raw and field.required:
        draft.errors[field.name] = field.required  # in the operator's words, not the serializer's
    if field.kind == TEXT:
        return raw or None
    if field.kind == CHECKBOX:
        return bool(raw)
    if field.kind == INTEGER:
        return _integer(raw)
    if field.kind == DATETIME:
        return date_filter(params, field.name, draft.errors) or LEFT_OUT
    if field.kind in (RADIO, SELECT):
        chosen = {value: payload for value, _label, payload in field.choices}.get(raw)
        if chosen is None and field.required:
            draft.errors[field.name] = field.required
        return chosen
    if field.kind == INSTRUCTIONS:
        return _instructions(field, params, draft)
    if field.kind == MIGRATION_PLAN:
        return _migration_plan(field, params, draft, user)
    if field.kind == VARIABLES:
        return _variables(field, params, draft)
    raise ValueError(field.kind)


def _integer(raw: str) -> int | str | None:
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return raw  # the serializer names the field and the problem


def instructions_of(params: QueryDict) -> list[dict]:
    instructions = []
    for kind, target in zip(params.getlist("ins_type"), params.getlist("ins_id"), strict=False):
        if not kind or not target:
            continue
        key = "transitionId" if kind == "startTransition" else "activityId"
        instructions.append({"type": kind, key: target})
    return instructions


def _instructions(field: Field, params: QueryDict, draft: Draft) -> list[dict]:
    rows = list(zip(params.getlist("ins_type"), params.getlist("ins_id"), strict=False))
    graph = draft.definition.graph if draft.definition is not None else {"activities": {}, "flows": {}}
    draft.editors[field.name] = {
        "rows": (rows + [("", "")] * INSTRUCTION_ROWS)[: max(INSTRUCTION_ROWS, len(rows))],
        "types": field.choices,
        "activities": sorted(graph["activities"]),
        "flows": sorted(graph["flows"]),
    }
    instructions = instructions_of(params)
    if not instructions and field.required and draft.definition is not None:
        draft.errors[field.name] = field.required
    return instructions


def _migration_plan(field: Field, params: QueryDict, draft: Draft, user) -> dict | None:
    """The plan from the search's version (source) to the chosen target: generated, or as edited."""
    source, target_id = draft.definition, params.get("target", "").strip()
    editor: dict = {"target": target_id, "targets": [], "rows": [], "edited": False}
    draft.editors[field.name] = editor
    if source is None:
        return None  # the version's own error says what to do
    editor["targets"] = list(migration.target_versions(source, user))
    target = migration.definition_of(target_id, user)
    error = migration.target_error(source, target, target_id)
    if error:
        draft.errors[field.name] = field.required if not target_id and field.required else error
        return None
    rows = migration.mapping_rows(params, source.id, target.id)
    plan = migration.plan_of(source, target, rows)
    editor.update(
        rows=migration.plan_rows(plan, rows),
        edited=rows is not None,
        hidden=migration.rows_params(source.id, target.id, rows) if rows is not None else [],
        edit_url=migration.page_url(source.id, target.id, rows, back=params.urlencode()),
    )
    editor["unmapped"] = migration.unmapped(source, editor["rows"])
    if any(row.failures for row in editor["rows"]):
        draft.errors[field.name] = migration.PLAN_INVALID
    return plan.dto()


# --- the typed variables editor ----------------------------------------------------------------

VARIABLE_ROWS = 1  # blank rows shown at least
VARIABLE_TYPE_HINTS = {
    "String": "text",
    "Integer": "a whole number",
    "Short": "a whole number (−32768 … 32767)",
    "Long": "a whole number",
    "Double": "a number, e.g. 2.5",
    "Boolean": "true or false",
    "Date": "UTC, e.g. 2026-11-22T14:00",
    "Json": 'JSON, e.g. {"a": 1}',
    "Null": "no value",
}
VARIABLE_NAME_MISSING = "Row {row}: enter the variable's name."
VARIABLE_TWICE = "Variable '{name}' is set twice; keep one row for it."
VARIABLE_VALUE_MISSING = "{name}: enter a value ({hint}), or choose the type Null."


def editor_error_key(field: Field) -> str:
    """Where the editor's errors go: not under the field's own name, which the search's variable
    filter uses for its errors ("variables"); the partial shows it as #error-<key>."""
    return f"{field.name}-editor"


def variable_rows_of(field: Field, params: QueryDict) -> list[tuple[str, str, str]]:
    """The editor's rows from the URL (<name>_name, <name>_type, <name>_value), without the one the
    operator removed (<name>_remove, without JavaScript), plus the blank rows asked for (<name>_rows)."""
    prefix = field.name
    names, types, values = (params.getlist(f"{prefix}_{part}") for part in ("name", "type", "value"))
    rows = [
        (name, types[i] if i < len(types) else "String", values[i] if i < len(values) else "")
        for i, name in enumerate(names)
    ]
    removed = params.get(f"{prefix}_remove", "")
    if removed.isdigit() and int(removed) < len(rows):
        del rows[int(removed)]
    wanted = params.get(f"{prefix}_rows", "")
    count = max(VARIABLE_ROWS, min(int(wanted), 100) if wanted.isdigit() else 0)
    filled = [row for row in rows if row[0].strip() or row[2].strip()]
    return filled + [("", "String", "")] * max(count - len(filled), 1)


def _variables(field: Field, params: QueryDict, draft: Draft) -> dict | object:
    """Camunda's {"name": {"value": …, "type": …}} from the rows, each value checked as the REST call
    checks it (engine.variables.parse_value), the error naming its row or variable."""
    rows = variable_rows_of(field, params)
    key = editor_error_key(field)
    editor = {
        "prefix": field.name,
        "rows": rows,
        "types": WRITABLE,
        "error_key": key,
        "error": "",
        "next_rows": len(rows) + 1,
    }
    draft.editors[field.name] = editor
    variables: dict = {}
    error = ""
    for number, (name, kind, raw) in enumerate(rows, start=1):
        name = name.strip()
        if not name:
            if raw.strip() and not error:
                error = VARIABLE_NAME_MISSING.format(row=number)
            continue
        if name in variables:
            error = error or VARIABLE_TWICE.format(name=name)
            continue
        kind = kind or "String"
        if kind not in ("String", "Null") and not raw.strip():
            error = error or VARIABLE_VALUE_MISSING.format(name=name, hint=VARIABLE_TYPE_HINTS.get(kind, kind))
            continue
        try:
            variables[name] = parse_value({"value": _raw_value(kind, raw), "type": kind}, name)
        except BadUserRequest as exc:
            error = error or f"{name}: {exc}"
    if not variables and not error and field.required:
        error = field.required
    if error:
        editor["error"] = draft.errors[key] = error
    return variables if variables or field.required else LEFT_OUT  # an optional, empty editor sends nothing


def _raw_value(kind: str, raw: str) -> object:
    """What the text box holds, as the REST call would carry it for the type."""
    if kind == "Null":
        return None
    if kind == "String":
        return raw
    text = raw.strip()
    if kind == "Date" and len(text) <= 19:  # the browser's datetime-local form, taken as UTC
        try:
            return camunda_date(text)
        except ValueError:
            pass
    return text  # Camunda's own date format too (with its zone), or an error naming the value


def editor_error_keys(draft: Draft) -> list[str]:
    """The error keys of the draft's composite editors that keep their errors apart (see editor_error_key)."""
    return [editor["error_key"] for editor in draft.editors.values() if "error_key" in editor]
