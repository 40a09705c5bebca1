"""Batch rows: the runtime batch (Camunda's BatchDto), its history, and its frozen items."""
from django.db import models

from engine.models import new_id

ID = 64


class Batch(models.Model):
    """A running batch. It is deleted when the batch ends; its HistoricBatch stays."""

    id = models.CharField(max_length=ID, primary_key=True, default=new_id)
    type = models.CharField(max_length=64, db_index=True)
    total_jobs = models.PositiveIntegerField()
    jobs_created = models.PositiveIntegerField(default=0)
    batch_jobs_per_seed = models.PositiveIntegerField()
    invocations_per_batch_job = models.PositiveIntegerField()
    seed_job_definition_id = models.CharField(max_length=ID)
    monitor_job_definition_id = models.CharField(max_length=ID)
    batch_job_definition_id = models.CharField(max_length=ID, db_index=True)
    suspended = models.BooleanField(default=False)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    create_user_id = models.CharField(max_length=150, null=True, blank=True, db_index=True)
    start_time = models.DateTimeField(db_index=True)
    execution_start_time = models.DateTimeField(null=True, blank=True)
    # The validated operation payload the execution jobs apply (delete reason, retries, instructions...).
    configuration = models.JSONField(default=dict)
    total_items = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["start_time", "id"]
        # The create permission of each batch type comes from its operation (batches.apps).

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class HistoricBatch(models.Model):
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    CANCELED = "canceled"
    FINAL_STATES = [COMPLETED, COMPLETED_WITH_FAILURES, CANCELED]

    id = models.CharField(max_length=ID, primary_key=True)
    type = models.CharField(max_length=64, db_index=True)
    total_jobs = models.PositiveIntegerField()
    batch_jobs_per_seed = models.PositiveIntegerField()
    invocations_per_batch_job = models.PositiveIntegerField()
    seed_job_definition_id = models.CharField(max_length=ID)
    monitor_job_definition_id = models.CharField(max_length=ID)
    batch_job_definition_id = models.CharField(max_length=ID)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    create_user_id = models.CharField(max_length=150, null=True, blank=True, db_index=True)
    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField(null=True, blank=True, db_index=True)
    removal_time = models.DateTimeField(null=True, blank=True)
    execution_start_time = models.DateTimeField(null=True, blank=True)
    # Ours, beside Camunda's fields: how it ended and what happened to its items.
    final_state = models.CharField(max_length=32, null=True, blank=True, choices=[(s, s) for s in FINAL_STATES])
    total_items = models.PositiveIntegerField(default=0)
    items_succeeded = models.PositiveIntegerField(null=True, blank=True)
    items_skipped = models.PositiveIntegerField(null=True, blank=True)
    items_failed = models.PositiveIntegerField(null=True, blank=True)
    items_pending = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["start_time", "id"]
        verbose_name_plural = "historic batches"

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class BatchItem(models.Model):
    """One target of a batch (an instance or job id), with its result."""

    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    STATES = [PENDING, SUCCEEDED, SKIPPED, FAILED]

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(HistoricBatch, on_delete=models.CASCADE, related_name="items", db_constraint=True)
    seq = models.PositiveIntegerField()
    target_id = models.CharField(max_length=ID)
    state = models.CharField(max_length=16, default=PENDING, choices=[(s, s) for s in STATES])
    detail = models.TextField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "seq"]
        constraints = [models.UniqueConstraint(fields=["batch", "seq"], name="unique_item_position")]
        indexes = [
            models.Index(fields=["batch", "target_id"], name="item_target_idx"),
            models.Index(fields=["batch", "state"], name="item_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.target_id} ({self.state})"
