"""The engine's one concurrency rule: lock the instance rows you change, in id order, before reading them.

Every writer of a process instance (batch chunks of every type, the job executor, the
single-instance REST calls) takes, inside its transaction and before it reads the state it
acts on:

1. a batch job its own job row (the executor holds it while the handler runs; a process job's
   row is one of its instance's jobs, so the executor takes it after the instance, as in 3.);
2. the ``ProcessInstance`` rows it changes, ``SELECT … FOR UPDATE`` ordered by id;
3. then the rows that belong to those instances (their jobs in id order, tokens, incidents,
   variables, history rows), which nobody changes without holding the instance;
4. batch rows last (``Batch`` then ``HistoricBatch``, see batches.execution).

A writer that finds an instance row missing once it holds the lock knows the instance has
ended: the row is deleted in the same transaction that closes its history. History-only
writers (deleting finished instances) lock the ``HistoricProcessInstance`` rows the same way.
One order for everyone means two writers queue instead of deadlocking, and no writer acts on
state another has changed since it read it (no lost update, no double termination). SQLite
has one writer at a time (immediate transactions), so there the rule holds by construction.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from engine.models import HistoricProcessInstance, Job, ProcessInstance


def instances_lock(instance_ids: Iterable[str]) -> set[str]:
    """Lock the running instances among instance_ids (id order); return the ids that still run."""
    ids = {i for i in instance_ids if i}
    if not ids:
        return set()
    _require_transaction()
    rows = ProcessInstance.objects.select_for_update().filter(id__in_ids=ids).order_by("id")
    return set(rows.values_list("id", flat=True))


def instance_lock(instance_id: str, *, related: tuple[str, ...] = ()) -> ProcessInstance | None:
    """Lock one running instance and read it (None if it does not run any more)."""
    _require_transaction()
    rows = ProcessInstance.objects.select_for_update(of=("self",)).filter(id=instance_id)
    if related:
        rows = rows.select_related(*related)
    return rows.first()


def historic_instances_lock(instance_ids: Iterable[str]) -> dict[str, object]:
    """Lock history rows (id order); return {id: end_time} of those that exist."""
    ids = {i for i in instance_ids if i}
    if not ids:
        return {}
    _require_transaction()
    rows = HistoricProcessInstance.objects.select_for_update().filter(id__in_ids=ids).order_by("id")
    return dict(rows.values_list("id", "end_time"))


def jobs_lock(job_ids: Iterable[str]) -> set[str]:
    """Lock jobs by the rule: first the instances they belong to, then the job rows (id order).

    Returns the ids of the jobs that still exist.
    """
    ids = {i for i in job_ids if i}
    if not ids:
        return set()
    _require_transaction()
    owners = Job.objects.filter(id__in_ids=ids, process_instance_id__isnull=False).values_list("process_instance_id", flat=True)
    instances_lock(set(owners))
    return set(Job.objects.select_for_update().filter(id__in_ids=ids).order_by("id").values_list("id", flat=True))


def _require_transaction() -> None:
    # A lock taken outside a transaction is released at once; that is always a programming error.
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("engine locks must be taken inside transaction.atomic()")
