"""Migration plans as Cockpit edits them: versions to choose from, the mapping rows and their failures."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse

from engine.models import ProcessDefinition
from engine.selectors import visible
from engine.services.migration import MIGRATABLE, Instruction, MigrationPlan, plan_generate, plan_report

# The mapping travels in the URL as parallel lists (one row each); "mapping=edited" says the operator
# edited it, otherwise the plan is generated for the two versions.
SOURCE_PARAM, TARGET_PARAM, EDITED_PARAM = "map_source", "map_target", "mapping"
EMPTY_ROWS = 1  # blank rows offered for adding an instruction without JavaScript
CHOOSE_SOURCE = "Choose the version to migrate from."
CHOOSE_TARGET = "Choose the version to migrate to."
SAME_VERSION = "Choose another version than the source."
OTHER_PROCESS = "Choose a version of the same process (and tenant) as the source."
UNKNOWN_VERSION = "There is no such version (or it is not visible to you)."
PLAN_INVALID = "The mapping is not valid; correct the instructions marked in red."
PLAN_VALID = "The mapping is valid."
NOTHING_MAPPED = "Map at least one activity before choosing the instances."
TARGET_OF_NOTHING = "Choose the target activity of {source}."


def versions(user) -> QuerySet:
    return visible(ProcessDefinition, user).order_by("key", "tenant_id", "-version")


def target_versions(source: ProcessDefinition, user) -> QuerySet:
    """The versions a source may migrate to: the same key and tenant, any other version."""
    return versions(user).filter(key=source.key, tenant_id=source.tenant_id).exclude(id=source.id)


def definition_of(definition_id: str, user) -> ProcessDefinition | None:
    return visible(ProcessDefinition, user).filter(id=definition_id).first() if definition_id else None


def target_error(source: ProcessDefinition, target: ProcessDefinition | None, target_id: str) -> str:
    """Why target_id cannot be the source's target ("" when it can)."""
    if not target_id:
        return CHOOSE_TARGET
    if target is None:
        return UNKNOWN_VERSION
    if target.id == source.id:
        return SAME_VERSION
    if target.key != source.key or target.tenant_id != source.tenant_id:
        return OTHER_PROCESS
    return ""


def mapping_rows(params: QueryDict, source_id: str, target_id: str) -> list[tuple[str, str]] | None:
    """The mapping edited for these two versions (rows without a source dropped), or None.

    An edit made for another pair of versions (the operator changed one since) does not count.
    """
    if params.get(EDITED_PARAM) != edited_mark(source_id, target_id):
        return None
    pairs = zip(params.getlist(SOURCE_PARAM), params.getlist(TARGET_PARAM), strict=False)
    return [(source.strip(), target.strip()) for source, target in pairs if source.strip()]


def edited_mark(source_id: str, target_id: str) -> str:
    return f"{source_id}>{target_id}"


def rows_params(source_id: str, target_id: str, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The URL parameters that carry an edited mapping."""
    pairs = [(EDITED_PARAM, edited_mark(source_id, target_id))]
    for source, target in rows:
        pairs += [(SOURCE_PARAM, source), (TARGET_PARAM, target)]
    return pairs


def plan_of(source: ProcessDefinition, target: ProcessDefinition, rows: list[tuple[str, str]] | None) -> MigrationPlan:
    """The plan of the two versions: the edited rows, or the generated instructions."""
    if rows is None:
        plan = plan_generate(source, target)
        # By source activity id: the same order on every database (PostgreSQL's JSON reorders the graph).
        plan.instructions.sort(key=lambda instruction: instruction.source)
        return plan
    return MigrationPlan(source=source, target=target, instructions=[Instruction(s, t) for s, t in rows if t])


@dataclass
class MappingRow:
    source: str
    target: str
    failures: list[str] = field(default_factory=list)


def plan_rows(plan: MigrationPlan, rows: list[tuple[str, str]] | None) -> list[MappingRow]:
    """One row per instruction with its failures (Camunda's report); a row without target is a failure too."""
    failures: dict[tuple[str, str], list[str]] = {}
    for entry in plan_report(plan)["instructionReports"]:
        key = (entry["instruction"]["sourceActivityIds"][0], entry["instruction"]["targetActivityIds"][0])
        failures.setdefault(key, entry["failures"])
    pairs = rows if rows is not None else [(i.source, i.target) for i in plan.instructions]
    result = []
    for source, target in pairs:
        row = MappingRow(source, target, list(failures.get((source, target), [])))
        if not target:
            row.failures.append(TARGET_OF_NOTHING.format(source=source))
        result.append(row)
    return result


def activities(definition: ProcessDefinition, *, migratable_only: bool = False) -> list[dict]:
    """The definition's activities by id, for the mapping's selects (id, name, type)."""
    nodes = definition.graph["activities"]
    return [
        {"id": activity_id, "name": node.get("name") or "", "type": node["type"]}
        for activity_id, node in sorted(nodes.items())
        if not migratable_only or node["type"] in MIGRATABLE
    ]


def unmapped(source: ProcessDefinition, rows: list[MappingRow]) -> list[str]:
    """Source activities that can hold a token but have no instruction: their instances would fail."""
    mapped = {row.source for row in rows}
    return [a["id"] for a in activities(source, migratable_only=True) if a["id"] not in mapped]


def page_url(source_id: str, target_id: str, rows: list[tuple[str, str]] | None, back: str = "") -> str:
    """The migration page for two versions (and an edited mapping); back: the wizard's query string."""
    pairs = [("source", source_id), ("target", target_id)]
    if rows is not None:
        pairs += rows_params(source_id, target_id, rows)
    if back:
        pairs.append(("back", back))
    return f"{reverse('migration')}?{urlencode(pairs)}"


def wizard_url(source: ProcessDefinition, target: ProcessDefinition, rows: list[tuple[str, str]], back: str = "") -> str:
    """Step 1 of the wizard with this plan as a migration's: the search is the source version's instances.

    back: the wizard's query string the operator came from (its search is kept, the plan replaced).
    """
    kept = [(k, v) for k, v in QueryDict(back).lists() if k not in WIZARD_PLAN_PARAMS] if back else []
    pairs = [(k, v) for k, values in kept for v in values] or [("key", source.key)]
    pairs = [("op", "migrate"), *pairs, ("version", source.id), ("target", target.id)]
    return f"{reverse('wizard')}?{urlencode(pairs + rows_params(source.id, target.id, rows))}"


WIZARD_PLAN_PARAMS = {"op", "version", "target", EDITED_PARAM, SOURCE_PARAM, TARGET_PARAM, "page"}
