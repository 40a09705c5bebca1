"""Batch monitoring: running and ended batches with live progress, details, and the actions on a batch."""
from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from batches.models import Batch, BatchItem, HistoricBatch, WebhookDelivery
from batches.operations import REGISTRY
from batches.progress import progress_samples, progress_sparklines
from batches.selectors import item_counts_for, with_statistics
from batches.services import batch_delete, batch_set_suspended, historic_batch_delete
from cockpit.search import camunda_date
from cockpit.views.batch_columns import ENDED_SORTS, RUNNING_SORTS, SORT_ERROR, sort_links, sorted_by, user_names
from engine.errors import NotFound
from engine.models import HistoricJobLog, HistoricProcessInstance, Job, JobDefinition, ProcessInstance
from engine.query import parse_date
from engine.selectors import visible
from engine.services import job_actions

PAGE_SIZE = 20


def _page(request: HttpRequest, name: str) -> int:
    try:
        return max(1, int(request.GET.get(name, "1")))
    except ValueError:
        return 1


def _filters(request: HttpRequest) -> tuple[dict, dict[str, str]]:
    """createdBy, startedAfter/Before (datetime-local, UTC) and failures from the query string."""
    values: dict = {}
    errors: dict[str, str] = {}
    if request.GET.get("createdBy"):
        values["create_user_id"] = request.GET["createdBy"]
    for name, lookup in (("startedAfter", "start_time__gte"), ("startedBefore", "start_time__lte")):
        raw = request.GET.get(name, "").strip()
        if raw:
            try:
                values[lookup] = parse_date(camunda_date(raw))
            except ValueError:
                errors[name] = "Enter a date and time like 2026-11-22T14:00."
    return values, errors


def _without(request: HttpRequest, name: str) -> str:
    params = request.GET.copy()
    params.pop(name, None)
    return params.urlencode()


@login_required
@require_GET
def batch_list(request: HttpRequest) -> HttpResponse:
    values, errors = _filters(request)
    failures = request.GET.get("failures", "")
    running = with_statistics(visible(Batch, request.user)).filter(**values)
    if failures == "with":
        running = running.filter(failed_jobs__gt=0)
    elif failures == "without":
        running = running.filter(failed_jobs=0)
    ended = visible(HistoricBatch, request.user).filter(end_time__isnull=False, **values)
    if failures == "with":
        ended = ended.filter(items_failed__gt=0)
    elif failures == "without":
        ended = ended.filter(items_failed=0)
    final_state = request.GET.get("finalState", "")  # (h3) the ended batches of one final state
    if final_state and final_state not in HistoricBatch.FINAL_STATES:
        return HttpResponseBadRequest("finalState: one of " + ", ".join(HistoricBatch.FINAL_STATES))
    if final_state:
        ended = ended.filter(final_state=final_state)
    running = sorted_by(running, request.GET.get("sort", ""), RUNNING_SORTS, "-start")
    ended = sorted_by(ended, request.GET.get("ended_sort", ""), ENDED_SORTS, "-end")
    if running is None or ended is None:
        name, columns = ("sort", RUNNING_SORTS) if running is None else ("ended_sort", ENDED_SORTS)
        return HttpResponseBadRequest(f"{name}: " + SORT_ERROR.format(columns=", ".join(columns)))
    page, ended_page = _page(request, "page"), _page(request, "ended_page")
    running_rows = list(running[(page - 1) * PAGE_SIZE : page * PAGE_SIZE])
    ended_rows = list(ended[(ended_page - 1) * PAGE_SIZE : ended_page * PAGE_SIZE])
    counts = item_counts_for([b.id for b in running_rows])
    names = user_names([b.create_user_id for b in running_rows + ended_rows])
    for row in running_rows + ended_rows:
        row.user_name = names.get(row.create_user_id, "")
    sparklines = progress_sparklines([b.id for b in running_rows])
    context = {
        "running": [(b, _progress(counts[b.id], b.total_items), counts[b.id], sparklines.get(b.id)) for b in running_rows],
        "running_count": running.count(),
        "ended": [(h, _progress(_historic_counts(h), h.total_items)) for h in ended_rows],
        "ended_count": ended.count(),
        "page": page,
        "ended_page": ended_page,
        "page_size": PAGE_SIZE,
        "errors": errors,
        "params": request.GET,
        "query_string": request.GET.urlencode(),
        "running_pager": _without(request, "page"),
        "ended_pager": _without(request, "ended_page"),
        "sort_links": sort_links(request, "sort", "page", RUNNING_SORTS, "-start"),
        "ended_sort_links": sort_links(request, "ended_sort", "ended_page", ENDED_SORTS, "-end"),
    }
    template = "cockpit/batches.html#running" if request.htmx and request.htmx.target == "running" else "cockpit/batches.html"
    return render(request, template, context)


def _historic_counts(historic: HistoricBatch) -> dict[str, int]:
    return {
        BatchItem.SUCCEEDED: historic.items_succeeded or 0,
        BatchItem.SKIPPED: historic.items_skipped or 0,
        BatchItem.FAILED: historic.items_failed or 0,
        BatchItem.PENDING: historic.items_pending or 0,
    }


def _progress(counts: dict[str, int], total: int) -> int:
    done = counts[BatchItem.SUCCEEDED] + counts[BatchItem.SKIPPED] + counts[BatchItem.FAILED]
    return int(100 * done / total) if total else 100


def _historic_or_404(request: HttpRequest, batch_id: str) -> HistoricBatch:
    historic = visible(HistoricBatch, request.user).filter(id=batch_id).first()
    if historic is None:
        raise Http404(f"Batch with id '{batch_id}' does not exist")
    return historic


def _running(request: HttpRequest, batch_id: str) -> Batch | None:
    return with_statistics(visible(Batch, request.user)).filter(id=batch_id).first()


def _targets_instances(batch_type: str) -> bool:
    operation = REGISTRY.get(batch_type)
    return operation is not None and operation.target_model in (ProcessInstance, HistoricProcessInstance)


DETAIL_PAGE_SIZE = 50


def _paged(queryset: QuerySet, request: HttpRequest, name: str, *, count: int | None = None) -> dict:
    """One page of a details list; count when known already (the failed items' counter: no count of a million rows)."""
    number, count = _page(request, name), queryset.count() if count is None else count
    pages = max(1, -(-count // DETAIL_PAGE_SIZE))
    number = min(number, pages)
    rows = list(queryset[(number - 1) * DETAIL_PAGE_SIZE : number * DETAIL_PAGE_SIZE])
    base = _without(request, name)
    link = f"?{base}&{name}=" if base else f"?{name}="
    return {
        "rows": rows, "count": count, "page": number, "pages": pages,
        "previous": f"{link}{number - 1}" if number > 1 else None,
        "next": f"{link}{number + 1}" if number < pages else None,
    }


@login_required
@require_GET
def batch_detail(request: HttpRequest, batch_id: str) -> HttpResponse:
    # The runtime batch first: its completion deletes it and ends the historic batch in one commit, so
    # a batch read as gone has its end visible to the next read. Read the other way round, a
    # completion committing between the two reads rendered a page with neither a running batch (so
    # no refresh) nor a final state: stuck at "0 succeeded" although the batch had completed.
    batch = _running(request, batch_id)
    historic = _historic_or_404(request, batch_id)
    counts = _historic_counts(historic)  # live counters: no item is counted on each 2 s refresh
    done = counts[BatchItem.SUCCEEDED] + counts[BatchItem.SKIPPED] + counts[BatchItem.FAILED]
    started = historic.execution_start_time
    elapsed = ((historic.end_time or timezone.now()) - started).total_seconds() if started else 0
    throughput = done / elapsed if elapsed > 0 else None
    remaining = max(historic.total_items - done, 0)
    failed_jobs = Job.objects.filter(job_definition_id=historic.batch_job_definition_id, retries=0).order_by("create_time", "id")
    context = {
        "historic": historic,
        "batch": batch,
        "counts": counts,
        "done": done,
        "progress": _progress(counts, historic.total_items),
        "throughput": throughput,
        "eta_seconds": int(remaining / throughput) if throughput and batch and not batch.suspended else None,
        "failed_jobs": _paged(failed_jobs, request, "jobs_page"),
        "failed_items": _paged(
            BatchItem.objects.filter(batch_id=batch_id, state=BatchItem.FAILED).order_by("seq"), request, "items_page", count=counts[BatchItem.FAILED]
        ),
        # Items that are process instances (running or historic) link to the process instance page.
        "items_are_instances": _targets_instances(historic.type),
        "user_name": user_names([historic.create_user_id]).get(historic.create_user_id, ""),
        "query_string": request.GET.urlencode(),
        # Read only where the delivery log renders (not on the 2 s refresh of the live part).
        "deliveries_live": lambda: batch is not None
        or WebhookDelivery.objects.filter(batch_id=historic.id, state=WebhookDelivery.PENDING).exists(),
    }
    return render(request, _detail_template(request), context)


def _detail_template(request: HttpRequest) -> str:
    """The whole page, or for htmx the live part it refreshes (progress and actions, or the webhook log)."""
    parts = {"detail-live": "detail-live", "webhook-deliveries": "deliveries"}
    part = parts.get(request.htmx.target) if request.htmx else None
    return f"cockpit/batch_detail.html#{part}" if part else "cockpit/batch_detail.html"


@login_required
@require_GET
def batch_progress(request: HttpRequest, batch_id: str) -> JsonResponse:
    """The progress samples behind the details page's chart, polled while the batch runs."""
    historic = _historic_or_404(request, batch_id)
    return JsonResponse(
        {"id": historic.id, "running": historic.end_time is None, "totalItems": historic.total_items, "samples": progress_samples(historic)}
    )


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"You lack the permission {permission}.")


@login_required
@require_POST
def batch_suspend(request: HttpRequest, batch_id: str) -> HttpResponse:
    _require(request, "batches.change_batch")
    batch = visible(Batch, request.user).filter(id=batch_id).first()
    suspended = request.POST.get("suspended") == "true"
    if batch is None:
        messages.error(request, "The batch has ended; it cannot be suspended or activated any more.")
    else:
        batch_set_suspended(batch=batch, suspended=suspended, user_id=request.user.get_username())
        messages.success(request, f"Batch {'suspended' if suspended else 'activated'}.")
    return redirect("batch-detail", batch_id=batch_id)


@login_required
@require_POST
def batch_retry(request: HttpRequest, batch_id: str) -> HttpResponse:
    """Give one failed job (job_id) or every failed job of the batch one more retry."""
    _require(request, "engine.change_job")
    historic = _historic_or_404(request, batch_id)
    user_id = request.user.get_username()
    if request.POST.get("job_id"):  # as PUT /job/{id}/retries
        job = Job.objects.filter(job_definition_id=historic.batch_job_definition_id, retries=0, id=request.POST["job_id"]).first()
        count = 0
        if job is not None:
            job_actions.job_set_retries(job=job, retries=1, user_id=user_id)
            count = 1
    else:  # as PUT /job-definition/{batchJobDefinitionId}/retries
        definition = JobDefinition.objects.filter(id=historic.batch_job_definition_id).first()
        count = job_actions.job_definition_set_retries(definition=definition, retries=1, user_id=user_id) if definition else 0
    messages.success(request, f"Retrying {count} failed job{'s' if count != 1 else ''}.")
    return redirect("batch-detail", batch_id=batch_id)


@login_required
@require_http_methods(["GET", "POST"])
def job_delete(request: HttpRequest, batch_id: str, job_id: str) -> HttpResponse:
    _require(request, "engine.delete_job")
    historic = _historic_or_404(request, batch_id)
    job = Job.objects.filter(job_definition_id=historic.batch_job_definition_id, id=job_id).first()
    if job is None:
        messages.error(request, "That job does not exist any more.")
        return redirect("batch-detail", batch_id=batch_id)
    if request.method == "GET":
        return render(request, "cockpit/confirm_job_delete.html", {"historic": historic, "job": job})
    try:
        job_actions.job_delete(job=job, user_id=request.user.get_username())
    except NotFound:
        messages.error(request, "That job does not exist any more.")
        return redirect("batch-detail", batch_id=batch_id)
    messages.success(request, "Job deleted; its unfinished items stay unprocessed.")
    return redirect("batch-detail", batch_id=batch_id)


@login_required
@require_http_methods(["GET", "POST"])
def batch_remove(request: HttpRequest, batch_id: str) -> HttpResponse:
    _require(request, "batches.delete_batch")
    historic = _historic_or_404(request, batch_id)
    batch = visible(Batch, request.user).filter(id=batch_id).first()
    if batch is None:
        messages.error(request, "The batch has ended already.")
        return redirect("batch-detail", batch_id=batch_id)
    if request.method == "GET":
        return render(request, "cockpit/confirm_batch_delete.html", {"historic": historic})
    cascade = request.POST.get("cascade") == "true"
    batch_delete(batch=batch, cascade=cascade, user_id=request.user.get_username())
    if cascade:
        messages.success(request, f"Batch {batch_id} deleted together with its history.")
        return redirect("batches")
    messages.success(request, f"Batch {batch_id} deleted; its history is kept.")
    return redirect("batch-detail", batch_id=batch_id)


@login_required
@require_http_methods(["GET", "POST"])
def history_remove(request: HttpRequest, batch_id: str) -> HttpResponse:
    """Delete an ended batch's history (as DELETE /history/batch/{id}), after a confirmation page."""
    _require(request, "batches.delete_historicbatch")
    historic = _historic_or_404(request, batch_id)
    if historic.end_time is None:
        messages.error(request, "The batch is still running; delete the batch instead.")
        return redirect("batch-detail", batch_id=batch_id)
    if request.method == "GET":
        return render(request, "cockpit/confirm_history_delete.html", {"historic": historic})
    historic_batch_delete(historic=historic, user_id=request.user.get_username())
    messages.success(request, f"The history of batch {batch_id} is deleted.")
    return redirect("batches")


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def items_csv(request: HttpRequest, batch_id: str) -> StreamingHttpResponse:
    """The batch's items (all, or one state) as CSV, streamed so a million rows never sit in memory."""
    historic = _historic_or_404(request, batch_id)
    state = request.GET.get("state")
    items = BatchItem.objects.filter(batch_id=batch_id).order_by("seq")
    if state in BatchItem.STATES:
        items = items.filter(state=state)
    writer = csv.writer(_Echo())
    rows = items.values_list("seq", "target_id", "state", "detail", "updated_at").iterator(chunk_size=2000)

    def lines():
        if historic.reason:  # (h3) the batch's reason as a leading comment line, only when it has one
            yield "# reason: " + " ".join(historic.reason.split()) + "\r\n"
        yield writer.writerow(["position", "target_id", "state", "detail", "updated_at"])
        for seq, target, item_state, detail, updated in rows:
            yield writer.writerow([seq, target, item_state, detail or "", updated.isoformat() if updated else ""])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    suffix = f"-{state.lower()}" if state in BatchItem.STATES else ""
    response["Content-Disposition"] = f'attachment; filename="batch-{batch_id}-items{suffix}.csv"'
    return response




# --- the job log of a batch job ("show full log for this job") ------------------------------------------


def _log_kind(entry: HistoricJobLog) -> str:
    for kind in ("creation", "failure", "success", "deletion"):
        if getattr(entry, f"{kind}_log"):
            return kind
    return "—"


@login_required
@require_GET
def job_log(request: HttpRequest, batch_id: str, job_id: str) -> HttpResponse:
    """Every log entry of one of the batch's jobs (as GET /history/job-log?jobId=…): creation, each
    failure with its message and full stack trace, success or deletion; read-only."""
    _require(request, "engine.view_historicjoblog")
    historic = _historic_or_404(request, batch_id)
    definitions = [historic.seed_job_definition_id, historic.monitor_job_definition_id, historic.batch_job_definition_id]
    entries = list(
        visible(HistoricJobLog, request.user)
        .filter(job_id=job_id, job_definition_id__in=definitions)
        .order_by("timestamp", "id")
    )
    if not entries:
        raise Http404(f"No job log of job '{job_id}' in batch '{batch_id}'")
    job = visible(Job, request.user).filter(id=job_id, job_definition_id__in=definitions).first()
    context = {
        "historic": historic,
        "job_id": job_id,
        "job": job,
        "entries": [(entry, _log_kind(entry)) for entry in entries],
        "failures": sum(1 for entry in entries if entry.failure_log),
    }
    return render(request, "cockpit/job_log.html", context)
