"""The three wizard steps: define (GET, state in the URL), confirm (GET) and execute (POST), results."""
from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from batches.services import batch_create
from cockpit.models import WizardSubmission
from cockpit.wizard import ERROR_FIELDS, INSTRUCTION_ROWS, OPERATIONS, allowed_operations, build_draft, matches
from engine.errors import EngineError
from engine.rest.errors import drf_message
from engine.models import ProcessDefinition
from engine.services.modification import INSTRUCTION_TYPES
from engine.selectors import visible
from engine.tenancy import visible_tenant_ids
from rest_framework.exceptions import ValidationError

PAGE_SIZE = 20


def _step1_url(query_string: str) -> str:
    return reverse("wizard") + (f"?{query_string}" if query_string else "")


@login_required
@require_GET
def define(request: HttpRequest) -> HttpResponse:
    draft = build_draft(request.GET, request.user)
    page = _page_number(request)
    found = matches(draft, request.user)
    rows = list(found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]) if draft.op else []
    match_count = found.count() if draft.op else 0
    context = {
        "draft": draft,
        "operations": allowed_operations(request.user),
        "rows": rows,
        "rows_ids": {row.id for row in rows},
        "match_count": match_count,
        "page": page,
        "has_next_page": match_count > page * PAGE_SIZE,
        "instruction_types": INSTRUCTION_TYPES,
        "selected_ids": set(request.GET.getlist("id")),
        "keys": visible(ProcessDefinition, request.user).values_list("key", flat=True).distinct().order_by("key"),
        "versions": visible(ProcessDefinition, request.user).order_by("key", "-version"),
        "tenants": visible_tenant_ids(request.user),
        "instruction_rows": _instruction_rows(request),
        "activities": _activities(draft.definition),
        "query_string": request.GET.urlencode(),
        "field_errors": [(name, draft.errors.get(name, "")) for name in ERROR_FIELDS],
    }
    return render(request, _template(request), context)


def _template(request: HttpRequest) -> str:
    """The whole page, or for htmx the part it asked for (the live results, or the form body)."""
    if not request.htmx:
        return "cockpit/wizard.html"
    return "cockpit/wizard.html#live" if request.htmx.target == "live" else "cockpit/wizard.html#wizard-body"


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _instruction_rows(request: HttpRequest) -> list[tuple[str, str]]:
    rows = list(zip(request.GET.getlist("ins_type"), request.GET.getlist("ins_id"), strict=False))
    return (rows + [("", "")] * INSTRUCTION_ROWS)[:INSTRUCTION_ROWS]


def _activities(definition: ProcessDefinition | None) -> dict[str, list[str]]:
    if definition is None:
        return {"activities": [], "flows": []}
    return {"activities": sorted(definition.graph["activities"]), "flows": sorted(definition.graph["flows"])}


@login_required
@require_GET
def confirm(request: HttpRequest) -> HttpResponse:
    draft = build_draft(request.GET, request.user)
    if not draft.valid:
        return redirect(_step1_url(request.GET.urlencode()))
    return render(
        request,
        "cockpit/confirm.html",
        {
            "draft": draft,
            "payload_json": json.dumps(draft.payload, indent=2),
            "token": uuid.uuid4().hex,
            "back_url": _step1_url(request.GET.urlencode()),
            "query_string": request.GET.urlencode(),
        },
    )


@login_required
@require_POST
def execute(request: HttpRequest) -> HttpResponse:
    """Create the batch from exactly the payload shown, through the REST endpoint's service."""
    token = request.POST.get("token", "")
    op = OPERATIONS.get(request.POST.get("op", ""))
    if not token or len(token) > 64 or op is None:
        return HttpResponseBadRequest("token and op are required")
    existing = WizardSubmission.objects.filter(token=token, user=request.user).first()
    if existing:  # a second click on Execute: show what the first one did
        return redirect("wizard-result", token=token)
    submission = WizardSubmission(
        token=token, user=request.user, operation=op.key, path=op.path, params=request.POST.get("params", "")[:8000]
    )
    try:
        payload = json.loads(request.POST.get("payload", ""))
        with transaction.atomic():
            if op not in allowed_operations(request.user):
                raise PermissionError(f"You may not {op.verb} instances (permission {op.operation.permission}).")
            batch = batch_create(operation=op.operation, payload=payload, user=request.user)
            submission.batch_id = batch.id
            submission.save(force_insert=True)
    except IntegrityError:  # the same token committed by a concurrent click
        return redirect("wizard-result", token=token)
    except (ValueError, EngineError, ValidationError, PermissionError) as exc:
        submission.error = _error_text(exc)
        submission.save(force_insert=True)
    return redirect("wizard-result", token=token)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return drf_message(exc.detail)
    if isinstance(exc, json.JSONDecodeError):
        return "The payload is not valid JSON."
    return str(exc)


@login_required
@require_GET
def result(request: HttpRequest, token: str) -> HttpResponse:
    submission = get_object_or_404(WizardSubmission, token=token, user=request.user)
    return render(
        request,
        "cockpit/result.html",
        {"submission": submission, "op": OPERATIONS.get(submission.operation), "back_url": _step1_url(submission.params)},
    )
