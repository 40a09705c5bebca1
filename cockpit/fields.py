"""The wizard's fields: each kind (batches/operations/wizard.py) read from the URL into its payload value.

Simple kinds give one value; the composite editors (instructions, migration plan) also give what
their shared partial shows (draft.editors[name]).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import QueryDict

from batches.operations.wizard import (
    CHECKBOX, DATETIME, INSTRUCTIONS, INTEGER, MIGRATION_PLAN, RADIO, SELECT, TEXT, Field,
)
from cockpit import migration
from cockpit.search import date_filter

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
    return instructions_of(params)


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
