"""Batch rows to Camunda's BatchDto, BatchStatisticsDto and HistoricBatchDto (plus our extra fields)."""
from __future__ import annotations

from batches.models import Batch, BatchItem, HistoricBatch
from batches.options import window_json
from engine.query import format_date


def batch_dto(b: Batch) -> dict:
    return {
        "id": b.id,
        "type": b.type,
        "totalJobs": b.total_jobs,
        "jobsCreated": b.jobs_created,
        "batchJobsPerSeed": b.batch_jobs_per_seed,
        "invocationsPerBatchJob": b.invocations_per_batch_job,
        "seedJobDefinitionId": b.seed_job_definition_id,
        "monitorJobDefinitionId": b.monitor_job_definition_id,
        "batchJobDefinitionId": b.batch_job_definition_id,
        "suspended": b.suspended,
        "tenantId": b.tenant_id,
        "createUserId": b.create_user_id,
        "startTime": format_date(b.start_time),
        "executionStartTime": format_date(b.execution_start_time),
        # Ours, after Camunda's fields (batches.options): how the batch is paced, why, and what it retries.
        "reason": b.reason,
        "maxItemsPerSecond": b.max_items_per_second,
        "notBefore": format_date(b.not_before),
        "window": window_json(b.window_start, b.window_end, b.window_time_zone),
        "retryOf": b.retry_of_id,
    }


def item_counts_dto(counts: dict[str, int], total: int) -> dict:
    return {
        "totalItems": total,
        "itemsSucceeded": counts[BatchItem.SUCCEEDED],
        "itemsSkipped": counts[BatchItem.SKIPPED],
        "itemsFailed": counts[BatchItem.FAILED],
        "itemsPending": counts[BatchItem.PENDING],
    }


def statistics_dto(b: Batch, counts: dict[str, int]) -> dict:
    return {
        **batch_dto(b),
        "remainingJobs": b.remaining_jobs,
        "completedJobs": b.completed_jobs,
        "failedJobs": b.failed_jobs,
        **item_counts_dto(counts, b.total_items),
    }


def historic_batch_dto(h: HistoricBatch) -> dict:
    return {
        "id": h.id,
        "type": h.type,
        "totalJobs": h.total_jobs,
        "batchJobsPerSeed": h.batch_jobs_per_seed,
        "invocationsPerBatchJob": h.invocations_per_batch_job,
        "seedJobDefinitionId": h.seed_job_definition_id,
        "monitorJobDefinitionId": h.monitor_job_definition_id,
        "batchJobDefinitionId": h.batch_job_definition_id,
        "tenantId": h.tenant_id,
        "createUserId": h.create_user_id,
        "startTime": format_date(h.start_time),
        "endTime": format_date(h.end_time),
        "removalTime": format_date(h.removal_time),
        "executionStartTime": format_date(h.execution_start_time),
        "finalState": h.final_state,
        "totalItems": h.total_items,
        "itemsSucceeded": h.items_succeeded,
        "itemsSkipped": h.items_skipped,
        "itemsFailed": h.items_failed,
        "itemsPending": h.items_pending,
        **historic_provenance_dto(h),
    }


def historic_provenance_dto(h: HistoricBatch) -> dict:
    """Ours: what was asked (the payload and our options), why, and which batch it retries."""
    return {"reason": h.reason, "retryOf": h.retry_of_id, "request": h.request or None}


def batch_dto_from_history(h: HistoricBatch) -> dict:
    """A BatchDto-shaped body for an ended batch (an idempotent creation answered after the batch ended):
    every job was created and it is no longer suspended."""
    return {
        "id": h.id,
        "type": h.type,
        "totalJobs": h.total_jobs,
        "jobsCreated": h.total_jobs,
        "batchJobsPerSeed": h.batch_jobs_per_seed,
        "invocationsPerBatchJob": h.invocations_per_batch_job,
        "seedJobDefinitionId": h.seed_job_definition_id,
        "monitorJobDefinitionId": h.monitor_job_definition_id,
        "batchJobDefinitionId": h.batch_job_definition_id,
        "suspended": False,
        "tenantId": h.tenant_id,
        "createUserId": h.create_user_id,
        "startTime": format_date(h.start_time),
        "executionStartTime": format_date(h.execution_start_time),
        **_options_from_history(h),
    }


def _options_from_history(h: HistoricBatch) -> dict:
    """Our BatchDto fields (batch_dto) as the batch was created: batch_create records its options."""
    options = (h.request or {}).get("options") or {}
    return {
        "reason": h.reason,
        "maxItemsPerSecond": options.get("maxItemsPerSecond"),
        "notBefore": options.get("notBefore"),
        "window": options.get("window"),
        "retryOf": h.retry_of_id,
    }


def item_dto(i: BatchItem) -> dict:
    return {
        "position": i.seq,
        "targetId": i.target_id,
        "state": i.state,
        "detail": i.detail,
        "updatedTime": format_date(i.updated_at),
    }
