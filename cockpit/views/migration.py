"""The migration page: two versions side by side, the mapping to edit and validate, then the wizard's steps."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from batches.operations import REGISTRY
from cockpit import migration
from engine.bpmn_layout import with_diagram
from engine.models import ProcessDefinition

MIGRATION = REGISTRY["instance-migration"]
NO_PERMISSION = "You may not migrate process instances (permission {permission})."
VALIDATE_URL = "/engine-rest/migration/validate"  # the live report: the REST API's own validation
VALIDATION_FAILED = "The mapping could not be validated just now; use Validate."
MAX_BACK = 8000  # the wizard's query string carried along; a longer one is dropped, not an error


@login_required
@require_GET
def migration_page(request: HttpRequest) -> HttpResponse:
    """GET only: every state is in the URL; "Next" hands a valid plan to the wizard's search and confirm steps."""
    user = request.user
    if not user.has_perm(MIGRATION.permission):
        raise PermissionDenied(NO_PERMISSION.format(permission=MIGRATION.permission))
    params = request.GET
    source_id, target_id = params.get("source", "").strip(), params.get("target", "").strip()
    back = params.get("back", "")[:MAX_BACK]
    source, target = migration.definition_of(source_id, user), migration.definition_of(target_id, user)
    errors = {}
    if source_id and source is None:
        errors["source"] = migration.UNKNOWN_VERSION
    elif source is not None and (target_id or params.get("action") in ("validate", "next")):
        errors["target"] = migration.target_error(source, target, target_id)
    context = {
        "versions": migration.versions(user),
        "source": source,
        "target": target if source is not None and not errors.get("target") else None,
        "source_value": source_id,
        "target_value": target_id,
        "targets": migration.target_versions(source, user) if source is not None else [],
        "errors": errors,
        "back": back,
        "validate_url": VALIDATE_URL,
    }
    if context["target"] is not None:
        response = _mapping(request, context, source, target)
        if response is not None:
            return response
    return render(request, "cockpit/migration.html", context)


def _mapping(request: HttpRequest, context: dict, source: ProcessDefinition, target: ProcessDefinition):
    """Fill the mapping into the context; for "Next" with a valid plan, the redirect to the wizard."""
    rows = migration.mapping_rows(request.GET, source.id, target.id)
    plan = migration.plan_of(source, target, rows)
    mapping = migration.plan_rows(plan, rows)
    problem = migration.PLAN_INVALID if any(row.failures for row in mapping) else "" if mapping else migration.NOTHING_MAPPED
    if request.GET.get("action") == "next" and not problem:
        pairs = [(row.source, row.target) for row in mapping]
        return redirect(migration.wizard_url(source, target, pairs, back=context["back"]))
    if problem:
        context["errors"]["mapping"] = problem
    context.update(
        rows=mapping,
        edited=rows is not None,
        empty_rows=range(migration.EMPTY_ROWS),
        edited_mark=migration.edited_mark(source.id, target.id),
        source_activities=migration.activities(source),
        target_activities=migration.activities(target),
        source_ids=set(source.graph["activities"]),
        target_ids=set(target.graph["activities"]),
        unmapped=migration.unmapped(source, mapping),
        plan_valid=migration.PLAN_VALID,
        diagrams={
            "source": {"xml": with_diagram(source.bpmn_xml), "processKey": source.key},
            "target": {"xml": with_diagram(target.bpmn_xml), "processKey": target.key},
            "sourceProcessDefinitionId": source.id,
            "targetProcessDefinitionId": target.id,
            "migratable": [a["id"] for a in migration.activities(source, migratable_only=True)],
            "messages": {
                "invalid": migration.PLAN_INVALID, "nothing": migration.NOTHING_MAPPED, "valid": migration.PLAN_VALID,
                "noTarget": migration.TARGET_OF_NOTHING, "failed": VALIDATION_FAILED,
            },
        },
    )
    return None
