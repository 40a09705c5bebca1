"""Operator actions on jobs and job definitions: each change and its op-log entry in one transaction."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet

from engine.errors import BadUserRequest, NotFound
from engine.locking import jobs_lock
from engine.models import Job, JobDefinition, ProcessDefinition, ProcessInstance, UserOperationLogEntry
from engine.selectors import visible
from engine.services.jobs import (
    ACTIVATE_JOB_DEFINITION,
    SUSPEND_JOB_DEFINITION,
    job_create,
    jobs_delete,
    jobs_set_retries,
    jobs_set_suspended,
)
from engine.services.oplog import epoch_millis, operation_log_write
from engine.tenancy import visible_tenant_ids


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


# --- suspension of jobs and job definitions ----------------------------------------------------------
# Camunda's AbstractSetJobStateCmd / AbstractSetJobDefinitionStateCmd: the selected rows change state,
# one op-log entry (SuspendJob/ActivateJob on Job, SuspendJobDefinition/ActivateJobDefinition on
# JobDefinition) records property "suspensionState" with the new state's name, "suspended" or "active".
SUSPENSION_STATE = "suspensionState"


@dataclass(frozen=True)
class JobSelector:
    """Which jobs (or job definitions) a suspension acts on: exactly one of the ids, or a definition key
    (then optionally one tenant: tenant_set with tenant_id None means "without tenant")."""

    job_id: str | None = None
    job_definition_id: str | None = None
    process_instance_id: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    tenant_set: bool = False
    tenant_id: str | None = None

    def jobs(self, user) -> QuerySet:
        rows = _rows(Job, user)
        if self.job_id is not None:
            return rows.filter(id=self.job_id)
        if self.job_definition_id is not None:
            return rows.filter(job_definition_id=self.job_definition_id)
        if self.process_instance_id is not None:
            return rows.filter(process_instance_id=self.process_instance_id)
        if self.process_definition_id is not None:
            return rows.filter(process_definition_id=self.process_definition_id)
        return self._tenant(rows.filter(process_definition_key=self.process_definition_key))

    def job_definitions(self, user) -> QuerySet:
        rows = _rows(JobDefinition, user)
        if self.job_definition_id is not None:
            return rows.filter(id=self.job_definition_id)
        if self.process_definition_id is not None:
            return rows.filter(process_definition_id=self.process_definition_id)
        return self._tenant(rows.filter(process_definition__key=self.process_definition_key))

    def _tenant(self, rows: QuerySet) -> QuerySet:
        if not self.tenant_set:
            return rows
        return rows.filter(tenant_id__isnull=True) if self.tenant_id is None else rows.filter(tenant_id=self.tenant_id)

    def configuration(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}


@dataclass(frozen=True)
class TenantScope:
    """What a scheduled change may touch: the tenants its author could see (None: all) and tenant-less rows."""

    tenant_ids: list[str] | None


def _rows(model, user) -> QuerySet:
    """Rows of model the user (or a scheduled change's TenantScope) may see."""
    if isinstance(user, TenantScope):
        if user.tenant_ids is None:
            return model.objects.all()
        return model.objects.filter(Q(tenant_id__isnull=True) | Q(tenant_id__in=user.tenant_ids))
    return visible(model, user)


def _state(suspended: bool) -> str:
    return "suspended" if suspended else "active"


def _definition_context(process_definition_id: str | None) -> dict:
    definition = ProcessDefinition.objects.filter(id=process_definition_id).first() if process_definition_id else None
    if definition is None:
        return {}
    return {"process_definition_key": definition.key, "deployment_id": definition.deployment_id, "tenant_id": definition.tenant_id}


def _jobs_suspend(selector: JobSelector, suspended: bool, user) -> int:
    """Lock (engine.locking: instances, then job rows) and change the selected jobs; return how many."""
    ids = set(selector.jobs(user).values_list("id", flat=True))
    locked = jobs_lock(ids)
    jobs_set_suspended(Job.objects.filter(id__in_ids=locked), suspended=suspended)
    return len(locked)


def jobs_update_suspension(*, selector: JobSelector, suspended: bool, user, user_id: str | None) -> int:
    """PUT /job/{id}/suspended and PUT /job/suspended (also the admin actions on jobs)."""
    with transaction.atomic():
        changed = _jobs_suspend(selector, suspended, user)
        refs = {
            "job_id": selector.job_id,
            "job_definition_id": selector.job_definition_id,
            "process_instance_id": selector.process_instance_id,
            "process_definition_id": selector.process_definition_id,
            "process_definition_key": selector.process_definition_key,
        }
        # Camunda's logJobOperation fills the rest from the job, the job definition, the instance or
        # the definition, whichever the selection names (UserOperationLogContextEntryBuilder.inContextOf).
        if selector.job_id is not None:
            job = Job.objects.filter(id=selector.job_id).first()
            if job is not None:
                refs.update(
                    job_definition_id=job.job_definition_id, process_instance_id=job.process_instance_id,
                    process_definition_id=job.process_definition_id, process_definition_key=job.process_definition_key,
                    tenant_id=job.tenant_id,
                )
                refs.update({k: v for k, v in _definition_context(job.process_definition_id).items() if k == "deployment_id"})
        elif selector.job_definition_id is not None:
            refs.update(_job_definition_refs(selector.job_definition_id))
        elif selector.process_instance_id is not None:
            instance = ProcessInstance.objects.filter(id=selector.process_instance_id).first()
            if instance is not None:
                refs.update(process_definition_id=instance.process_definition_id, tenant_id=instance.tenant_id)
        elif selector.process_definition_id is not None:
            refs.update(_definition_context(selector.process_definition_id))
        operation_log_write(
            user_id=user_id,
            operation_type="SuspendJob" if suspended else "ActivateJob",
            entity_type="Job",
            properties={SUSPENSION_STATE: (None, _state(suspended))},
            **refs,
        )
    return changed


def _job_definition_refs(job_definition_id: str) -> dict:
    """The op-log references of a job definition: its process definition (key, deployment) and tenant."""
    definition = JobDefinition.objects.filter(id=job_definition_id).first()
    if definition is None:
        return {}
    context = _definition_context(definition.process_definition_id)
    return {
        **{k: v for k, v in context.items() if k != "tenant_id"},
        "process_definition_id": definition.process_definition_id,
        "tenant_id": definition.tenant_id,
    }


def _job_definitions_suspend(selector: JobSelector, suspended: bool, include_jobs: bool, user) -> int:
    # Jobs first (their instances, then their rows), the job definitions after: the order a batch's
    # suspension takes them in too (engine.locking; batches.services).
    if include_jobs:  # Camunda's next command: the jobs chosen by the same selector
        _jobs_suspend(selector, suspended, user)
    ids = list(selector.job_definitions(user).values_list("id", flat=True))
    JobDefinition.objects.filter(id__in_ids=set(ids)).update(suspended=suspended)
    return len(ids)


def job_definitions_update_suspension(
    *, selector: JobSelector, suspended: bool, include_jobs: bool, user, user_id: str | None,
    execution_date: datetime | None = None,
) -> int:
    """PUT /job-definition/{id}/suspended and PUT /job-definition/suspended (also the admin actions).

    With an execution date the change is a job due then (Camunda schedules a timer job); the op-log
    entry is written now, as Camunda writes it. Returns how many job definitions changed (0 when scheduled).
    """
    with transaction.atomic():
        changed = 0
        if execution_date is None:
            changed = _job_definitions_suspend(selector, suspended, include_jobs, user)
        else:
            job_create(
                job_type=SUSPEND_JOB_DEFINITION if suspended else ACTIVATE_JOB_DEFINITION,
                handler_configuration={
                    **selector.configuration(), "includeJobs": include_jobs,
                    # The change acts only on what its author could see when scheduling it.
                    "tenantIds": visible_tenant_ids(user),
                },
                due_date=execution_date,
                tenant_id=_scheduled_tenant(selector),
            )
        refs: dict = {
            "job_definition_id": selector.job_definition_id,
            "process_definition_id": selector.process_definition_id,
            "process_definition_key": selector.process_definition_key,
        }
        if selector.job_definition_id is not None:
            refs.update(_job_definition_refs(selector.job_definition_id))
        elif selector.process_definition_id is not None:
            refs.update(_definition_context(selector.process_definition_id))
        operation_log_write(
            user_id=user_id,
            operation_type="SuspendJobDefinition" if suspended else "ActivateJobDefinition",
            entity_type="JobDefinition",
            properties={SUSPENSION_STATE: (None, _state(suspended))},
            **refs,
        )
    return changed


def _scheduled_tenant(selector: JobSelector) -> str | None:
    if selector.job_definition_id is not None:
        return JobDefinition.objects.filter(id=selector.job_definition_id).values_list("tenant_id", flat=True).first()
    if selector.process_definition_id is not None:
        return ProcessDefinition.objects.filter(id=selector.process_definition_id).values_list("tenant_id", flat=True).first()
    return selector.tenant_id


def job_definition_suspension_run(job: Job) -> None:
    """The handler of a scheduled job-definition suspension (runs in the executor's transaction; no op log)."""
    config = dict(job.handler_configuration)
    include_jobs = bool(config.pop("includeJobs", False))
    tenants = config.pop("tenantIds", None)
    selector = JobSelector(**{k: config[k] for k in JobSelector.__dataclass_fields__ if k in config})
    _job_definitions_suspend(selector, job.job_type == SUSPEND_JOB_DEFINITION, include_jobs, TenantScope(tenants))


# --- priorities ----------------------------------------------------------------------------------


def job_not_found_for_priority(job_id: str) -> str:
    return f"No job found with id '{job_id}': job is null"  # Camunda's SetJobPriorityCmd (NotFoundException)


def job_definition_not_found_for_priority(definition_id: str) -> str:
    return f"Job definition with id '{definition_id}' does not exist: jobDefinition is null"  # SetJobDefinitionPriorityCmd


def job_set_priority(*, job: Job, priority: int, user_id: str | None) -> None:
    """PUT /job/{id}/priority: op log SetPriority on Job, property "priority" (old → new)."""
    with transaction.atomic():
        if job.id not in jobs_lock([job.id]):
            raise NotFound(job_not_found_for_priority(job.id))
        current = Job.objects.get(id=job.id)
        Job.objects.filter(id=job.id).update(priority=priority)
        operation_log_write(
            user_id=user_id,
            operation_type="SetPriority",
            entity_type="Job",
            properties={"priority": (current.priority, priority)},
            job_id=current.id,
            job_definition_id=current.job_definition_id,
            process_instance_id=current.process_instance_id,
            process_definition_id=current.process_definition_id,
            process_definition_key=current.process_definition_key,
            tenant_id=current.tenant_id,
            deployment_id=_definition_context(current.process_definition_id).get("deployment_id"),
        )


def job_definition_set_priority(
    *, definition: JobDefinition, priority: int | None, include_jobs: bool, user_id: str | None
) -> None:
    """PUT /job-definition/{id}/jobPriority: set (or with None clear) the overriding priority of the
    definition's new jobs; includeJobs also sets it on the existing jobs. Camunda's SetJobDefinitionPriorityCmd:
    one entry SetPriority on JobDefinition ("overridingPriority" old → new) and, with includeJobs, one
    SetPriority on Job ("priority" → new), both in one operation."""
    if priority is None and include_jobs:
        raise BadUserRequest(f"Cannot reset priority for job definition {definition.id} with includeJobs=true")
    with transaction.atomic():
        locked_jobs: set[str] = set()
        if include_jobs:  # jobs first (instances, then job rows), then the definition row (engine.locking)
            locked_jobs = jobs_lock(set(Job.objects.filter(job_definition_id=definition.id).values_list("id", flat=True)))
        current = JobDefinition.objects.select_for_update().filter(id=definition.id).first()
        if current is None:
            raise NotFound(job_definition_not_found_for_priority(definition.id))
        JobDefinition.objects.filter(id=definition.id).update(overriding_job_priority=priority)
        context = {
            "job_definition_id": current.id,
            "process_definition_id": current.process_definition_id,
            "tenant_id": current.tenant_id,
            **{k: v for k, v in _definition_context(current.process_definition_id).items() if k != "tenant_id"},
        }
        operation_id = operation_log_write(
            user_id=user_id,
            operation_type="SetPriority",
            entity_type="JobDefinition",
            properties={"overridingPriority": (current.overriding_job_priority, priority)},
            **context,
        )
        if include_jobs:
            Job.objects.filter(id__in_ids=locked_jobs).update(priority=priority)
            second = operation_log_write(
                user_id=user_id,
                operation_type="SetPriority",
                entity_type="Job",
                properties={"priority": (None, priority)},  # "old value is unknown" (Camunda)
                **context,
            )
            UserOperationLogEntry.objects.filter(operation_id=second).update(operation_id=operation_id)
