"""Retry a batch's failed (or skipped) items as a new batch, from its details page."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from batches.models import HistoricBatch
from batches.retry import batch_retry_items
from engine.errors import BadUserRequest, NotAuthorized
from engine.selectors import visible


@login_required
@require_POST
def batch_items_retry(request: HttpRequest, batch_id: str) -> HttpResponse:
    historic = visible(HistoricBatch, request.user).filter(id=batch_id).first()
    if historic is None:
        raise Http404("No such batch")
    state = request.POST.get("state", "FAILED")
    try:
        batch = batch_retry_items(historic=historic, state=state, user=request.user)
    except NotAuthorized as exc:
        raise PermissionDenied(str(exc)) from exc
    except BadUserRequest as exc:
        messages.error(request, str(exc))
        return redirect("batch-detail", batch_id=batch_id)
    messages.success(request, f"Batch {batch.id} retries the {state.lower()} items of batch {batch_id}.")
    return redirect("batch-detail", batch_id=batch.id)
