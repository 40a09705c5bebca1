"""The details page's pacing control: change a running batch's throttle (batches.pacing)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from batches.models import Batch, HistoricBatch
from batches.options import parse_rate
from batches.pacing import batch_set_throttle
from engine.errors import BadUserRequest
from engine.selectors import visible

RATE_FIELD = "maxItemsPerSecond"
NOT_A_NUMBER = f"{RATE_FIELD}: enter a number of items per second greater than 0 and at most 1000000, or leave it empty for no limit"
ENDED = "The batch has ended; its throttle cannot change any more."


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


@login_required
@require_POST
def batch_throttle(request: HttpRequest, batch_id: str) -> HttpResponse:
    if not request.user.has_perm("batches.change_batch"):
        raise PermissionDenied("You lack the permission batches.change_batch.")
    batch = visible(Batch, request.user).filter(id=batch_id).first()
    if batch is None:
        if not visible(HistoricBatch, request.user).filter(id=batch_id).exists():
            raise Http404("No such batch.")
        messages.error(request, ENDED)
        return redirect("batch-detail", batch_id=batch_id)
    try:
        rate = _rate(request.POST.get(RATE_FIELD, "").strip())
    except BadUserRequest as exc:
        context = {"message": str(exc), "batch_id": batch_id}
        return render(request, "cockpit/pacing_error.html", context, status=400)
    batch_set_throttle(batch=batch, max_items_per_second=rate, user_id=request.user.get_username())
    messages.success(request, f"Throttle set to {rate:g} items per second." if rate else "Throttle removed.")
    return redirect("batch-detail", batch_id=batch_id)
