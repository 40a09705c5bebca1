"""The three wizard steps: define (GET, state in the URL), confirm (GET) and execute (POST), results."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError

from batches.services import SelectionDrift, batch_create
from cockpit.fields import editor_error_keys
from cockpit.confirmation import (
    CONFIRMATION_GONE,
    confirm_context,
    selection_consume,
    selection_execute_now,
    selection_freeze,
    selection_lock,
    selection_of,
    selection_renew,
    typed_error,
)
from cockpit.models import ConfirmedSelection, WizardSubmission
from cockpit.search import INCIDENT_TYPES, VARIABLE_OPERATORS, variable_rows
from cockpit.wizard_options import form_context
from cockpit.wizard import ERROR_FIELDS, OPERATIONS, Draft, allowed_operations, build_draft, matches
from engine.errors import EngineError
from engine.models import ProcessDefinition
from engine.rest.errors import drf_message
from engine.selectors import visible
from engine.tenancy import visible_tenant_ids

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
        "form_fields": _form_fields(draft),
        "selected_ids": set(request.GET.getlist("id")),
        "keys": visible(ProcessDefinition, request.user).values_list("key", flat=True).distinct().order_by("key"),
        "versions": visible(ProcessDefinition, request.user).order_by("key", "-version"),
        "tenants": visible_tenant_ids(request.user),
        "variable_rows": variable_rows(request.GET),
        "variable_operators": VARIABLE_OPERATORS,
        "incident_types": INCIDENT_TYPES,
        "query_string": request.GET.urlencode(),
        "field_errors": [(name, draft.shown_errors.get(name, "")) for name in ERROR_FIELDS],
        "options": form_context(request.GET, draft.op.operation.type if draft.op else None, request.user, draft.errors),
    }
    # Composite editors keep their errors under their own key (cockpit.fields.editor_error_key).
    context["field_errors"] += [(key, draft.shown_errors.get(key, "")) for key in editor_error_keys(draft)]
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


def _form_fields(draft: Draft) -> list[dict]:
    """The operation's fields as the template renders them: the field, its value, error and editor."""
    if draft.op is None:
        return []
    return [
        {
            "field": f,
            "value": draft.params.get(f.name, ""),
            "error": draft.shown_errors.get(f.name, ""),
            "editor": _editor_shown(draft, draft.editors.get(f.name)),
            "partial": f"cockpit/_editor_{f.kind.replace('-', '_')}.html",
        }
        for f in draft.op.fields
    ]


def _editor_shown(draft: Draft, editor: dict | None) -> dict | None:
    """An editor that carries its own error (the variables editor) shows it only once it was sent."""
    if editor and editor.get("error_key") and editor["error_key"] not in draft.shown_errors:
        return {**editor, "error": ""}
    return editor


@login_required
@require_GET
def confirm(request: HttpRequest) -> HttpResponse:
    """Step 2: freeze what the payload selects now; Execute runs on exactly that or says what changed."""
    draft = build_draft(request.GET, request.user)
    if not draft.valid:
        return redirect(_step1_url(request.GET.urlencode()))
    params = request.GET.urlencode()
    try:
        selection = selection_freeze(op=draft.op, payload=draft.payload, params=params, user=request.user)
    except (EngineError, ValidationError):  # step 1 shows the reason next to its field
        return redirect(_step1_url(params))
    return _confirm_page(request, selection)


def _confirm_page(request: HttpRequest, selection: ConfirmedSelection, **extra) -> HttpResponse:
    """The confirm page; also Execute's answer when it needs a second confirmation (200, so htmx swaps it)."""
    context = confirm_context(selection, request.user, **extra)
    context.update(back_url=_step1_url(selection.params), query_string=selection.params)
    return render(request, "cockpit/confirm.html", context)


@login_required
@require_POST
def execute(request: HttpRequest) -> HttpResponse:
    """Create the batch from the confirmed payload, through the REST endpoint's service, on the confirmed set."""
    token = request.POST.get("token", "")
    if not token or len(token) > 64:
        return HttpResponseBadRequest("token is required")
    selection = selection_of(token, request.user)
    if selection is None:
        return _spent(request, token)
    typed = request.POST.get("typed_count", "")[:64]
    error = typed_error(selection, typed)
    if error:
        return _confirm_page(request, selection, typed=typed, error=error)
    try:
        return _create(request, selection)
    except SelectionDrift as drift:
        return _renewed(request, selection, drift)


def _spent(request: HttpRequest, token: str) -> HttpResponse:
    """A token without its selection: a second click shows what the first did; else it expired or is not yours."""
    if WizardSubmission.objects.filter(token=token, user=request.user).exists():
        return redirect("wizard-result", token=token)
    back_url = _step1_url(request.POST.get("params", "")[:8000])
    return render(request, "cockpit/result.html", {"error": CONFIRMATION_GONE, "back_url": back_url}, status=409)


def _renewed(request: HttpRequest, selection: ConfirmedSelection, drift: SelectionDrift) -> HttpResponse:
    """Nothing was created: freeze the selection again and ask for a second confirmation."""
    try:
        fresh = selection_renew(selection, request.user)
    except (EngineError, ValidationError) as exc:
        context = {"error": _error_text(exc), "back_url": _step1_url(selection.params)}
        return render(request, "cockpit/result.html", context)
    return _confirm_page(request, fresh, drift=drift)


def _create(request: HttpRequest, selection: ConfirmedSelection) -> HttpResponse:
    op = OPERATIONS[selection.operation]
    token = selection.token
    submission = WizardSubmission(
        token=token, user=request.user, operation=op.key, path=op.path, params=selection.params
    )
    try:
        with transaction.atomic():
            if not selection_lock(selection):  # a concurrent click used it while this one waited
                return _spent(request, token)
            if op not in allowed_operations(request.user):
                raise PermissionError(f"You may not {op.verb} instances (permission {op.operation.permission}).")
            if op.executes_now(selection.count):
                submission.path = op.rest_path(selection.payload, now=True)
                submission.instances = selection_execute_now(selection, request.user)
            else:
                batch = batch_create(
                    operation=op.operation,
                    payload=selection.payload,
                    user=request.user,
                    confirmed_targets=selection.targets(),
                )
                submission.batch_id = batch.id
            submission.save(force_insert=True)
            selection_consume(selection)
    except IntegrityError:  # the same token committed by a concurrent click
        return redirect("wizard-result", token=token)
    except (ValueError, EngineError, ValidationError, PermissionError) as exc:
        submission.error = _error_text(exc)
        _record_error(submission, selection)
    return redirect("wizard-result", token=token)


def _record_error(submission: WizardSubmission, selection: ConfirmedSelection) -> None:
    try:
        with transaction.atomic():
            submission.save(force_insert=True)
            selection_consume(selection)
    except IntegrityError:  # a concurrent click recorded this token first
        pass


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return drf_message(exc.detail)
    return str(exc)


@login_required
@require_GET
def result(request: HttpRequest, token: str) -> HttpResponse:
    submission = get_object_or_404(WizardSubmission, token=token, user=request.user)
    return render(
        request,
        "cockpit/result.html",
        {
            "submission": submission,
            "error": submission.error,
            "op": OPERATIONS.get(submission.operation),
            "back_url": _step1_url(submission.params),
            "target_url": _target_url(submission),
            "ran_now": submission.operation in OPERATIONS and OPERATIONS[submission.operation].spec.sync_path == submission.path,
        },
    )


def _target_url(submission: WizardSubmission) -> str:
    """After a migration that ran at once: the target version's page (its instances are there now)."""
    target = QueryDict(submission.params).get("target", "")
    if submission.instances is None or not target:
        return ""
    return reverse("definition", args=[target])
