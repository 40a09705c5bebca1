"""Runtime state: process instances, their tokens (activity instances) and incidents."""
from django.db import models

from engine.models.base import ID_LENGTH, new_id
from engine.models.definitions import ProcessDefinition


class ProcessInstance(models.Model):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    process_definition = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="instances")
    business_key = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    suspended = models.BooleanField(default=False, db_index=True)
    start_time = models.DateTimeField(db_index=True)
    start_user_id = models.CharField(max_length=150, null=True, blank=True)

    class Meta:
        ordering = ["start_time", "id"]

    def __str__(self) -> str:
        return self.id


class ActivityInstance(models.Model):
    """A token: an activity that is active now (waiting user task, service task with its job, join)."""

    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    process_instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="tokens")
    activity_id = models.CharField(max_length=255)
    activity_type = models.CharField(max_length=64)
    activity_name = models.CharField(max_length=255, blank=True)
    start_time = models.DateTimeField()

    class Meta:
        ordering = ["start_time", "id"]
        indexes = [models.Index(fields=["activity_id", "process_instance"], name="token_activity_idx")]

    def __str__(self) -> str:
        return f"{self.activity_id}@{self.process_instance_id}"


class Incident(models.Model):
    FAILED_JOB = "failedJob"

    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    incident_type = models.CharField(max_length=64, default=FAILED_JOB)
    incident_timestamp = models.DateTimeField()
    incident_message = models.TextField(blank=True)
    process_instance = models.ForeignKey(
        ProcessInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents"
    )
    process_definition_id = models.CharField(max_length=255, null=True, blank=True)
    execution_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    activity_id = models.CharField(max_length=255, null=True, blank=True)
    # For failedJob incidents: the id of the failed job.
    configuration = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    job_definition_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    annotation = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["incident_timestamp", "id"]

    def __str__(self) -> str:
        return f"{self.incident_type} {self.id}"
