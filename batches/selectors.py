"""Batch reads: query specs for batches, statistics and history, with Camunda's statistics arithmetic."""
from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from batches.models import BatchItem, HistoricBatch
from engine.models import Job
from engine.errors import BadUserRequest
from engine.query import Param, QuerySpec
from engine.selectors import TENANT_PARAMS


def _suspended(value: bool) -> Q:
    # Seed 002: true → only suspended batches, false → only active ones.
    return Q(suspended=value)


def _completed(value: bool) -> Q:
    return Q(end_time__isnull=not value)


def _final_state(name: str, raw: object, from_body: bool) -> str:
    """One of HistoricBatch.FINAL_STATES (completed, completed_with_failures, failed, canceled)."""
    if isinstance(raw, str) and raw.lower() in HistoricBatch.FINAL_STATES:
        return raw.lower()
    raise BadUserRequest(f"Cannot set query parameter '{name}' to value '{raw}': one of {', '.join(HistoricBatch.FINAL_STATES)}")


BATCH_PARAMS = {
    "batchId": Param("str", "id"),
    "type": Param("str", "type"),
    "suspended": Param("bool", _suspended),
    **TENANT_PARAMS,
}

BATCH = QuerySpec(
    params=BATCH_PARAMS,
    sort_fields={"batchId": "id", "tenantId": "tenant_id"},
    default_order=("id",),
)

BATCH_STATISTICS = QuerySpec(
    params={
        **BATCH_PARAMS,
        "createdBy": Param("str", "create_user_id"),
        "startedBefore": Param("date", "start_time__lte"),
        "startedAfter": Param("date", "start_time__gte"),
        "withFailures": Param("bool", lambda v: Q(failed_jobs__gt=0) if v else Q()),
        "withoutFailures": Param("bool", lambda v: Q(failed_jobs=0) if v else Q()),
    },
    sort_fields={"batchId": "id", "tenantId": "tenant_id", "startTime": "start_time"},
    default_order=("id",),
)

HISTORIC_BATCH = QuerySpec(
    params={
        "batchId": Param("str", "id"),
        "type": Param("str", "type"),
        "completed": Param("bool", _completed),
        "createdBy": Param("str", "create_user_id"),
        # Ours: the final state of an ended batch (any case), and the batches retrying a batch's items.
        "finalState": Param(_final_state, "final_state"),
        "retryOf": Param("str", "retry_of_id"),
        **TENANT_PARAMS,
    },
    sort_fields={"batchId": "id", "startTime": "start_time", "endTime": "end_time", "tenantId": "tenant_id"},
    default_order=("id",),
)


def _job_count(**filters) -> Coalesce:
    jobs = (
        Job.objects.filter(job_definition_id=OuterRef("batch_job_definition_id"), **filters)
        .order_by()
        .values("job_definition_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(jobs, output_field=IntegerField()), Value(0))


def with_statistics(queryset: QuerySet) -> QuerySet:
    """remainingJobs = not yet created + existing execution jobs; completed = total − remaining;
    failed = execution jobs without retries (Camunda's arithmetic)."""
    return queryset.annotate(existing_jobs=_job_count(), failed_jobs=_job_count(retries=0))  # Batch.remaining_jobs


def item_counts_for(batch_ids: list[str]) -> dict[str, dict[str, int]]:
    """Item counts by state from the historic batches' live counters (no item is counted)."""
    result: dict[str, dict[str, int]] = {i: {s: 0 for s in BatchItem.STATES} for i in batch_ids}
    rows = HistoricBatch.objects.filter(id__in=batch_ids).values_list(
        "id", "items_succeeded", "items_skipped", "items_failed", "items_pending"
    )
    for batch_id, succeeded, skipped, failed, pending in rows:
        result[batch_id] = {
            BatchItem.SUCCEEDED: succeeded or 0,
            BatchItem.SKIPPED: skipped or 0,
            BatchItem.FAILED: failed or 0,
            BatchItem.PENDING: pending or 0,
        }
    return result


def items_of(batch_id: str, *, state: str | None = None) -> QuerySet:
    items = BatchItem.objects.filter(batch_id=batch_id).order_by("seq")
    return items.filter(state=state) if state else items

