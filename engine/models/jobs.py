"""Job definitions and jobs: the durable truth the job executor works off."""
from django.db import models

from engine.models.base import ID_LENGTH, new_id
from engine.models.definitions import ProcessDefinition
from engine.models.runtime import ProcessInstance


class JobDefinition(models.Model):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    process_definition = models.ForeignKey(
        ProcessDefinition, null=True, blank=True, on_delete=models.CASCADE, related_name="job_definitions"
    )
    activity_id = models.CharField(max_length=255, null=True, blank=True)
    job_type = models.CharField(max_length=64)
    job_configuration = models.CharField(max_length=255, blank=True)
    suspended = models.BooleanField(default=False)
    overriding_job_priority = models.BigIntegerField(null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.job_type} {self.id}"


class Job(models.Model):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    job_definition = models.ForeignKey(
        JobDefinition, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    # Names the handler that runs the job (see engine.services.jobs.register_job_handler).
    job_type = models.CharField(max_length=64)
    handler_configuration = models.JSONField(default=dict, blank=True)
    process_instance = models.ForeignKey(
        ProcessInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    process_definition_id = models.CharField(max_length=255, null=True, blank=True)
    process_definition_key = models.CharField(max_length=255, null=True, blank=True)
    execution_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    activity_id = models.CharField(max_length=255, null=True, blank=True)
    failed_activity_id = models.CharField(max_length=255, null=True, blank=True)
    retries = models.IntegerField(default=3)
    due_date = models.DateTimeField(null=True, blank=True)
    lock_owner = models.CharField(max_length=255, null=True, blank=True)
    lock_expiration_time = models.DateTimeField(null=True, blank=True)
    exception_message = models.TextField(null=True, blank=True)
    exception_stacktrace = models.TextField(null=True, blank=True)
    suspended = models.BooleanField(default=False)
    priority = models.BigIntegerField(default=0)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    create_time = models.DateTimeField()
    # When a q2 task for this job was last put on the broker; the sweep re-sends lost ones.
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["create_time", "id"]
        indexes = [
            models.Index(fields=["suspended", "retries", "due_date"], name="job_due_idx"),
            models.Index(fields=["lock_expiration_time"], name="job_lock_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_type} {self.id}"
