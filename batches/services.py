"""Batch lifecycle writes an operator starts: create (frozen selection), suspend, activate, delete."""
from __future__ import annotations

import math

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations import REGISTRY
from batches.operations.base import BatchOperation, Selection
from batches.operations.removal_time import batch_removal_time_at_start, historic_batches_rows_delete
from batches.execution import MONITOR_JOB, SEED_JOB, batch_end, batch_runtime_remove, job_definition_ids
from batches.selection import items_insert
from batches.options import parse_options, strip_options
from engine.errors import BadUserRequest, NotAuthorized
from engine.models import Job, JobDefinition, new_id
from engine.services.jobs import job_create, jobs_set_suspended
from engine.services.oplog import operation_log_write
from engine.tenancy import visible_tenant_ids


def batch_defaults(batch_type: str) -> tuple[int, int]:
    """(batchJobsPerSeed, invocationsPerBatchJob): the type's environment override, else the operation's
    own default, else the global setting (0 or unset means "not given")."""
    per_type = settings.BATCH["PER_TYPE"].get(batch_type, {})
    operation = REGISTRY.get(batch_type)
    per_seed = per_type.get("JOBS_PER_SEED") or getattr(operation, "jobs_per_seed", None) or settings.BATCH["JOBS_PER_SEED"]
    invocations = (
        per_type.get("INVOCATIONS_PER_JOB")
        or getattr(operation, "invocations_per_job", None)
        or settings.BATCH["INVOCATIONS_PER_JOB"]
    )
    return per_seed, invocations


# --- creation ------------------------------------------------------------------------------


class SelectionDrift(Exception):
    """The selection resolves to other targets than the operator confirmed; the batch was not created."""

    def __init__(self, confirmed: int, now: int, added: int, removed: int) -> None:
        super().__init__(f"{confirmed} confirmed, {now} match now (+{added}, -{removed})")
        self.confirmed, self.now, self.added, self.removed = confirmed, now, added, removed


def batch_create(
    *,
    operation: BatchOperation,
    payload: object,
    user,
    confirmed_targets: QuerySet | None = None,
    idempotency_key: str | None = None,
    retry_of: str | None = None,
    retried_items: QuerySet | None = None,
) -> Batch:
    """Validate, freeze the selection as items, create the job definitions and the seed job.

    payload: the REST payload: the operation's fields and our options (batches.options).
    confirmed_targets: the target ids the operator confirmed (a one-column queryset); see _freeze_items.
    idempotency_key: the client's Idempotency-Key; the REST view answers an existing batch first.
    retry_of: the batch whose failed or skipped items this batch retries.
    retried_items: items of the batch retried (a BatchItem queryset): their targets, copied in the
        database in their order, replace the operation's selection (a retry runs on exactly these).
    """
    if not isinstance(payload, dict):
        raise BadUserRequest("Request body must be a JSON object")
    options = parse_options(payload)
    if options.webhook_url and not user.has_perm("batches.configure_webhook"):
        raise NotAuthorized("webhookUrl: you lack the permission batches.configure_webhook to set a webhook")
    if not options.reason and operation.type in settings.BATCH.get("REQUIRE_REASON", ()):
        raise BadUserRequest(f"reason: a reason is required for {operation.type} batches (setting BATCH_REQUIRE_REASON)")
    data = operation.validate(strip_options(payload), user)
    per_seed, invocations = batch_defaults(operation.type)
    now = timezone.now()
    with transaction.atomic():
        batch = Batch(
            id=new_id(),
            type=operation.type,
            total_jobs=0,
            batch_jobs_per_seed=per_seed,
            invocations_per_batch_job=invocations,
            create_user_id=user.get_username(),
            start_time=now,
            configuration={**operation.configuration(data), "tenantIds": visible_tenant_ids(user)},
            retry_of_id=retry_of,
            **options.model_fields(),
        )
        history = _create_history(batch)
        HistoricBatch.objects.filter(id=history.id).update(
            request={"payload": json_safe(strip_options(payload)), "options": options.as_json(), "path": operation.path},
            reason=options.reason,
            retry_of_id=retry_of,
            idempotency_key=idempotency_key,
        )
        selection = Selection(copied=retried_items) if retried_items is not None else operation.selection(data, user)
        total = _freeze_items(batch.id, operation, selection, confirmed_targets)
        batch.total_items = total
        batch.total_jobs = math.ceil(total / invocations)
        batch.tenant_id = _tenant_of(operation, data, batch.id)
        definitions = _create_job_definitions(batch)
        batch.save(force_insert=True)
        HistoricBatch.objects.filter(id=history.id).update(
            total_jobs=batch.total_jobs, total_items=total, tenant_id=batch.tenant_id, **definitions,
            items_pending=total, items_succeeded=0, items_skipped=0, items_failed=0,
        )
        job_create(
            job_type=SEED_JOB,
            job_definition=JobDefinition.objects.get(id=batch.seed_job_definition_id),
            handler_configuration={"batchId": batch.id},
            tenant_id=batch.tenant_id,
        )
        operation_type, entity_type, properties = operation.operation_log(data, total)
        if options.reason:  # ours: the operator's reason, beside the operation's own properties
            properties = {**properties, "reason": (None, options.reason)}
        operation_log_write(
            user_id=batch.create_user_id,
            operation_type=operation_type,
            entity_type=entity_type,
            properties=properties,
            batch_id=batch.id,
            annotation=batch.configuration.get("annotation") or options.reason,
            tenant_id=batch.tenant_id,
            **operation.operation_log_refs(data),
        )
    return batch


def json_safe(value: object) -> object:
    """The payload as JSON can store it (it came from JSON, or from the wizard's JSON payload)."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _freeze_items(
    batch_id: str, operation: BatchOperation, selection: Selection, confirmed_targets: QuerySet | None
) -> int:
    """Insert the items; refuse an empty selection, and one that is not what the operator confirmed.

    Both refusals raise inside the creation's transaction, so nothing of the batch is written.
    """
    total = items_insert(batch_id, selection)
    if confirmed_targets is not None:
        _check_drift(batch_id, total, confirmed_targets)
    if total == 0:
        raise BadUserRequest(operation.empty_message)
    return total


def _check_drift(batch_id: str, total: int, confirmed_targets: QuerySet) -> None:
    """Compare the items with the confirmed targets in the database (both hold distinct ids)."""
    confirmed = confirmed_targets.count()
    both = BatchItem.objects.filter(batch_id=batch_id, target_id__in=confirmed_targets).count()
    if both != total or both != confirmed:
        raise SelectionDrift(confirmed=confirmed, now=total, added=total - both, removed=confirmed - both)


def _create_history(batch: Batch) -> HistoricBatch:
    # The items reference the historic batch, so it is written first (ids are filled in below).
    return HistoricBatch.objects.create(
        id=batch.id,
        type=batch.type,
        total_jobs=0,
        batch_jobs_per_seed=batch.batch_jobs_per_seed,
        invocations_per_batch_job=batch.invocations_per_batch_job,
        seed_job_definition_id="",
        monitor_job_definition_id="",
        batch_job_definition_id="",
        create_user_id=batch.create_user_id,
        start_time=batch.start_time,
        removal_time=batch_removal_time_at_start(batch.type, batch.start_time),  # start strategy only
    )


def _tenant_of(operation: BatchOperation, data: dict, batch_id: str) -> str | None:
    tenant = operation.tenant_id(data)
    if tenant is not True:
        return tenant
    # Otherwise: the tenant every target shares, if they share one: one target's tenant, then whether
    # any target has another (exclude() keeps the NULLs), which stops at the first. Unordered: with the
    # model's ordering, a DISTINCT on tenant_id also took in start_time and id, so two targets of one
    # tenant always differed and the batch got no tenant, which shares it with every tenant; with
    # some plans it also sorted every target (4.9 s at 650k on PostgreSQL, bench/creation.py).
    targets = operation.target_model.objects.filter(
        pk__in=BatchItem.objects.filter(batch_id=batch_id).values("target_id")
    ).order_by()
    first = targets.values_list("tenant_id", flat=True).first()
    if first is None or targets.exclude(tenant_id=first).exists():
        return None
    return first


def _create_job_definitions(batch: Batch) -> dict[str, str]:
    ids = {}
    for field, job_type in [
        ("seed_job_definition_id", SEED_JOB),
        ("monitor_job_definition_id", MONITOR_JOB),
        ("batch_job_definition_id", batch.type),
    ]:
        definition = JobDefinition.objects.create(job_type=job_type, job_configuration=batch.id, tenant_id=batch.tenant_id)
        setattr(batch, field, definition.id)
        ids[field] = definition.id
    return ids


def _lock_jobs(batch: Batch) -> None:
    """Wait for the batch's running jobs (their rows are locked while they run), before the batch row.

    That is the order a running chunk takes its locks in: its job row, then the batch row. An
    operator action that took the batch row first and then waited for a chunk's job row deadlocked
    with that chunk on PostgreSQL (tests/batches/test_locking.py).
    """
    list(Job.objects.select_for_update().filter(job_definition_id__in=job_definition_ids(batch)).values_list("id", flat=True))


def _deadlock_retried(action) -> None:
    """Run an operator action; if PostgreSQL still picks it as a deadlock victim, run it again.

    The remaining case: a seed job commits new jobs while the action waits, and a worker starts one
    of them. The second attempt sees and waits for that job too.
    """
    for attempt in range(3):
        try:
            return action()
        except OperationalError as exc:
            if connection.in_atomic_block or attempt == 2 or getattr(exc.__cause__, "sqlstate", None) != "40P01":
                raise


def batch_set_suspended(*, batch: Batch, suspended: bool, user_id: str | None) -> None:
    _deadlock_retried(lambda: _set_suspended(batch, suspended, user_id))


def _set_suspended(batch: Batch, suspended: bool, user_id: str | None) -> None:
    with transaction.atomic():
        _lock_jobs(batch)
        Batch.objects.filter(id=batch.id).update(suspended=suspended)
        definitions = job_definition_ids(batch)
        JobDefinition.objects.filter(id__in=definitions).update(suspended=suspended)
        jobs_set_suspended(Job.objects.filter(job_definition_id__in=definitions), suspended=suspended)
        operation_log_write(
            user_id=user_id,
            operation_type="SuspendBatch" if suspended else "ActivateBatch",
            entity_type="Batch",
            properties={"suspensionState": (None, "suspended" if suspended else "active")},
            batch_id=batch.id,
            tenant_id=batch.tenant_id,
        )


def batch_delete(*, batch: Batch, cascade: bool, user_id: str | None) -> None:
    """Stop a batch. Work already done stays; cascade also removes its history, job log and items."""
    _deadlock_retried(lambda: _delete(batch, cascade, user_id))


def _delete(batch: Batch, cascade: bool, user_id: str | None) -> None:
    with transaction.atomic():
        _lock_jobs(batch)
        locked = Batch.objects.select_for_update().filter(id=batch.id).first()
        if locked is None:
            return
        if cascade:
            batch_runtime_remove(locked)  # its jobs' deletion log rows go with the history below
            historic_batches_rows_delete({locked.id})
        else:
            batch_end(locked, canceled=True)
        operation_log_write(
            user_id=user_id,
            operation_type="Delete",
            entity_type="Batch",
            properties={"cascadeToHistory": (None, cascade)},
            batch_id=locked.id,
            tenant_id=locked.tenant_id,
        )


def historic_batch_delete(*, historic: HistoricBatch, user_id: str | None) -> None:
    if historic.end_time is None:
        raise BadUserRequest(f"Historic batch with id '{historic.id}' belongs to a running batch; delete the batch instead")
    with transaction.atomic():
        historic_batches_rows_delete({historic.id})
        operation_log_write(
            user_id=user_id, operation_type="DeleteHistory", entity_type="Batch", batch_id=historic.id, tenant_id=historic.tenant_id
        )
