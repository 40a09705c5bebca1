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
    # Ours, beside Camunda's fields (batches.options): how the batch is paced and who hears of it.
    reason = models.TextField(null=True, blank=True)
    max_items_per_second = models.FloatField(null=True, blank=True)  # the throttle; None: unthrottled
    throttle_next_at = models.DateTimeField(null=True, blank=True)  # shared pacing state of all workers
    not_before = models.DateTimeField(null=True, blank=True)
    window_start = models.TimeField(null=True, blank=True)  # daily window, in window_time_zone
    window_end = models.TimeField(null=True, blank=True)
    window_time_zone = models.CharField(max_length=64, null=True, blank=True)
    webhook_url = models.URLField(max_length=2000, null=True, blank=True)
    retry_of_id = models.CharField(max_length=ID, null=True, blank=True)
    first_failure_at = models.DateTimeField(null=True, blank=True)  # when its first execution job failed

    class Meta:
        ordering = ["start_time", "id"]
        # The create permission of each batch type comes from its operation (batches.apps).

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    # Camunda's remainingJobs and completedJobs, from the existing_jobs that
    # batches.selectors.with_statistics annotates. (As SQL annotations, each repeated that count's
    # subquery for every batch: 4 subqueries a row instead of 2, and on PostgreSQL a plan cost
    # above jit_above_cost, so every statistics query paid ~20 ms of JIT compilation.)
    @property
    def remaining_jobs(self) -> int:
        return self.total_jobs - self.jobs_created + self.existing_jobs

    @property
    def completed_jobs(self) -> int:
        return self.total_jobs - self.remaining_jobs


class HistoricBatch(models.Model):
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    CANCELED = "canceled"
    FAILED = "failed"  # every item failed
    FINAL_STATES = [COMPLETED, COMPLETED_WITH_FAILURES, FAILED, CANCELED]

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
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)
    execution_start_time = models.DateTimeField(null=True, blank=True)
    # Ours, beside Camunda's fields: how it ended and what happened to its items.
    final_state = models.CharField(max_length=32, null=True, blank=True, choices=[(s, s) for s in FINAL_STATES])
    total_items = models.PositiveIntegerField(default=0)
    items_succeeded = models.PositiveIntegerField(null=True, blank=True)
    items_skipped = models.PositiveIntegerField(null=True, blank=True)
    items_failed = models.PositiveIntegerField(null=True, blank=True)
    items_pending = models.PositiveIntegerField(null=True, blank=True)
    # What was asked, kept after the runtime batch is gone: the validated payload, the selection as
    # given (ids count, queries) and our options (reason, throttle, schedule, webhook).
    request = models.JSONField(default=dict, blank=True)
    reason = models.TextField(null=True, blank=True)
    retry_of_id = models.CharField(max_length=ID, null=True, blank=True, db_index=True)
    # The client's Idempotency-Key header: the same key (per user) answers the first batch again.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        ordering = ["start_time", "id"]
        verbose_name_plural = "historic batches"
        constraints = [
            models.UniqueConstraint(
                fields=["create_user_id", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_batch_idempotency_key",
            )
        ]

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
    # No index of its own: the unique (batch, seq) index leads with the batch (on PostgreSQL a varchar
    # foreign key would get two, the plain one and a varchar_pattern_ops one for LIKE).
    batch = models.ForeignKey(HistoricBatch, on_delete=models.CASCADE, related_name="items", db_index=False)
    seq = models.PositiveIntegerField()
    target_id = models.CharField(max_length=ID)
    state = models.CharField(max_length=16, default=PENDING, choices=[(s, s) for s in STATES])
    detail = models.TextField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "seq"]
        constraints = [models.UniqueConstraint(fields=["batch", "seq"], name="unique_item_position")]
        # Every index costs each item a B-tree insert when the batch is created, and an index on state
        # costs each result a second one (a PENDING -> SUCCEEDED update moves the row in it): the
        # item writes are most of what a batch does beyond its operation's own (bench/RESULTS.md).
        # So: positions (the unique constraint: a job's range), targets (a chunk's results, and the
        # process instance page's "batches of this instance"), and only the failed items by state
        # (the details page, the items CSV and retries ask for those; the counts are the historic
        # batch's counters). Other states are read by position.
        indexes = [
            models.Index(fields=["target_id"], name="item_target_only_idx"),
            models.Index(fields=["batch", "seq"], condition=models.Q(state="FAILED"), name="item_failed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.target_id} ({self.state})"


class BatchProgressSample(models.Model):
    """Items done and remaining at one moment, written as chunks finish: the details page's chart."""

    id = models.BigAutoField(primary_key=True)
    batch = models.ForeignKey(HistoricBatch, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    done = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()

    class Meta:
        ordering = ["batch", "at", "id"]
        indexes = [models.Index(fields=["batch", "at"], name="sample_batch_at_idx")]


class WebhookDelivery(models.Model):
    """One event of a batch sent (or being sent) to a webhook URL, with its attempts."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATES = [PENDING, DELIVERED, FAILED]

    id = models.CharField(max_length=ID, primary_key=True, default=new_id)  # the event id the receiver sees
    batch = models.ForeignKey(HistoricBatch, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    url = models.URLField(max_length=2000)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, default=PENDING, choices=[(s, s) for s in STATES])
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["batch", "created_at"], name="delivery_batch_idx")]
        permissions = [("configure_webhook", "Can set the webhook URL of a batch")]
