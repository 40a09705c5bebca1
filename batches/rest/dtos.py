"""Batch rows to Camunda's BatchDto, BatchStatisticsDto and HistoricBatchDto (plus our extra fields)."""
from __future__ import annotations

from batches.models import Batch, BatchItem, HistoricBatch
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
    }


def item_dto(i: BatchItem) -> dict:
    return {
        "position": i.seq,
        "targetId": i.target_id,
        "state": i.state,
        "detail": i.detail,
        "updatedTime": format_date(i.updated_at),
    }
