"""In-process notifications of a batch's life (webhooks listen here too).

batch_event(sender=HistoricBatch, batch_id=str, event=str) is sent after the transaction that
caused it commits, once per transition:
  "completed", "completed_with_failures", "failed" (every item failed), "canceled": the batch ended;
  "first_failed_job": an execution job of the batch failed for the first time.
"""
from django.db import transaction
from django.dispatch import Signal

batch_event = Signal()

ENDED_EVENTS = ("completed", "completed_with_failures", "failed", "canceled")
EVENTS = (*ENDED_EVENTS, "first_failed_job")


def batch_event_on_commit(batch_id: str, event: str) -> None:
    from batches.models import HistoricBatch

    transaction.on_commit(lambda: batch_event.send(sender=HistoricBatch, batch_id=batch_id, event=event))
