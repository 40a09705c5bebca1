"""Operator actions on jobs and job definitions: each change and its op-log entry in one transaction."""
from __future__ import annotations

from datetime import datetime

from django.db import transaction

from engine.errors import NotFound
from engine.models import Job, JobDefinition
from engine.services.jobs import jobs_delete, jobs_set_retries
from engine.services.oplog import epoch_millis, operation_log_write


def job_not_found(job_id: str) -> str:
    return f"Job with id {job_id} does not exist"


def _log_job(job: Job, operation_type: str, user_id: str | None, properties: dict | None = None) -> None:
    operation_log_write(
        user_id=user_id,
        operation_type=operation_type,
        entity_type="Job",
        properties=properties,
        job_id=job.id,
        job_definition_id=job.job_definition_id,
        process_instance_id=job.process_instance_id,
        process_definition_id=job.process_definition_id,
        process_definition_key=job.process_definition_key,
        tenant_id=job.tenant_id,
    )


def job_delete(*, job: Job, user_id: str | None) -> None:
    """DELETE /job/{id} (also the Cockpit's delete of a failed batch job)."""
    with transaction.atomic():
        if not jobs_delete(job_ids=[job.id]):
            raise NotFound(job_not_found(job.id))
        _log_job(job, "Delete", user_id)


def job_set_retries(*, job: Job, retries: int, user_id: str | None, due_date: datetime | None = None) -> None:
    """PUT /job/{id}/retries (also the Cockpit's retry of one failed batch job)."""
    with transaction.atomic():
        if job.id not in jobs_set_retries(job_ids=[job.id], retries=retries, due_date=due_date):
            raise NotFound(job_not_found(job.id))
        changes: dict = {"retries": (job.retries, retries)}
        if due_date is not None:  # Camunda logs dates as epoch milliseconds
            changes["dueDate"] = (epoch_millis(job.due_date), epoch_millis(due_date))
        _log_job(job, "SetJobRetries", user_id, changes)


def job_definition_set_retries(*, definition: JobDefinition, retries: int, user_id: str | None) -> int:
    """PUT /job-definition/{id}/retries: the failed jobs (no retries left) of the definition get retries.

    The Cockpit's "retry all failed jobs" of a batch and the admin action are this call on the
    batch's execution job definition. Returns how many jobs were given retries.
    """
    with transaction.atomic():
        failed = Job.objects.filter(job_definition=definition, retries=0).values_list("id", flat=True)
        changed = jobs_set_retries(job_ids=set(failed), retries=retries)
        operation_log_write(
            user_id=user_id,
            operation_type="SetJobRetries",
            entity_type="Job",
            properties={"retries": (None, retries)},
            job_definition_id=definition.id,
            process_definition_id=definition.process_definition_id,
            tenant_id=definition.tenant_id,
        )
    return len(changed)
