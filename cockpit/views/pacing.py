"""The details page's pacing controls: change a running batch's throttle and schedule (batches.pacing)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from batches.models import Batch, HistoricBatch
from batches.options import parse_options, parse_rate
from batches.pacing import batch_set_schedule, batch_set_throttle
from cockpit.wizard_options import schedule_payload
from engine.errors import BadUserRequest
from engine.selectors import visible

RATE_FIELD = "maxItemsPerSecond"
NOT_A_NUMBER = f"{RATE_FIELD}: enter a number of items per second greater than 0 and at most 1000000, or leave it empty for no limit"
ENDED = "The batch has ended; its pacing cannot change any more."


def _rate(raw: str) -> float | None:
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadUserRequest(NOT_A_NUMBER) from None
    try:
        return parse_rate(value, RATE_FIELD)
    except BadUserRequest:  # the REST wording says "or null"; the form's empty field means that
        raise BadUserRequest(NOT_A_NUMBER) from None


def _running_batch(request: HttpRequest, batch_id: str) -> Batch | None:
    """The running batch the form changes; None (with a message) when it has ended; 404 when unknown."""
    if not request.user.has_perm("batches.change_batch"):
        raise PermissionDenied("You lack the permission batches.change_batch.")
    batch = visible(Batch, request.user).filter(id=batch_id).first()
    if batch is None:
        if not visible(HistoricBatch, request.user).filter(id=batch_id).exists():
            raise Http404("No such batch.")
        messages.error(request, ENDED)
    return batch


def _not_changed(request: HttpRequest, batch_id: str, what: str, message: str) -> HttpResponse:
    context = {"message": message, "batch_id": batch_id, "what": what}
    return render(request, "cockpit/pacing_error.html", context, status=400)


@login_required
@require_POST
def batch_throttle(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = _running_batch(request, batch_id)
    if batch is None:
        return redirect("batch-detail", batch_id=batch_id)
    try:
        rate = _rate(request.POST.get(RATE_FIELD, "").strip())
    except BadUserRequest as exc:
        return _not_changed(request, batch_id, "Throttle", str(exc))
    batch_set_throttle(batch=batch, max_items_per_second=rate, user_id=request.user.get_username())
    messages.success(request, f"Throttle set to {rate:g} items per second." if rate else "Throttle removed.")
    return redirect("batch-detail", batch_id=batch_id)


@login_required
@require_POST
def batch_schedule(request: HttpRequest, batch_id: str) -> HttpResponse:
    """Not before (UTC) and the daily window; empty fields clear them, as null does over REST."""
    batch = _running_batch(request, batch_id)
    if batch is None:
        return redirect("batch-detail", batch_id=batch_id)
    errors: dict[str, str] = {}
    payload = schedule_payload(request.POST, errors)
    try:
        if errors:
            raise BadUserRequest(next(iter(errors.values())))
        options = parse_options(payload)
    except BadUserRequest as exc:
        return _not_changed(request, batch_id, "Schedule", str(exc))
    window = (options.window_start, options.window_end, options.window_time_zone)
    batch_set_schedule(batch=batch, not_before=options.not_before, window=window, user_id=request.user.get_username())
    messages.success(request, "Schedule set." if payload else "Schedule removed: the batch works at any time.")
    return redirect("batch-detail", batch_id=batch_id)
