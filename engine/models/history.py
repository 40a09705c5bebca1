"""History rows: process instances, activity instances, the job log and the user operation log."""
from django.db import models

from engine.models.base import ID_LENGTH, new_id


class HistoricProcessInstance(models.Model):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    EXTERNALLY_TERMINATED = "EXTERNALLY_TERMINATED"
    INTERNALLY_TERMINATED = "INTERNALLY_TERMINATED"
    STATES = [ACTIVE, SUSPENDED, COMPLETED, EXTERNALLY_TERMINATED, INTERNALLY_TERMINATED]

    id = models.CharField(max_length=ID_LENGTH, primary_key=True)
    business_key = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    process_definition_id = models.CharField(max_length=255, db_index=True)
    process_definition_key = models.CharField(max_length=255, db_index=True)
    process_definition_name = models.CharField(max_length=255, blank=True)
    process_definition_version = models.PositiveIntegerField()
    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField(null=True, blank=True, db_index=True)
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)
    duration_in_millis = models.BigIntegerField(null=True, blank=True)
    start_user_id = models.CharField(max_length=150, null=True, blank=True)
    start_activity_id = models.CharField(max_length=255, null=True, blank=True)
    delete_reason = models.TextField(null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    state = models.CharField(max_length=32, choices=[(s, s) for s in STATES], db_index=True)
    # Set on an instance started by a restart: the finished instance it restarted (Camunda 7.16+).
    restarted_process_instance_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)

    class Meta:
        ordering = ["start_time", "id"]

    def __str__(self) -> str:
        return self.id


class HistoricActivityInstance(models.Model):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    activity_id = models.CharField(max_length=255)
    activity_name = models.CharField(max_length=255, blank=True)
    activity_type = models.CharField(max_length=64)
    process_definition_id = models.CharField(max_length=255)
    process_instance_id = models.CharField(max_length=ID_LENGTH, db_index=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    duration_in_millis = models.BigIntegerField(null=True, blank=True)
    canceled = models.BooleanField(default=False)
    tenant_id = models.CharField(max_length=64, null=True, blank=True)
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["start_time", "id"]

    def __str__(self) -> str:
        return f"{self.activity_id}@{self.process_instance_id}"


class HistoricJobLog(models.Model):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    timestamp = models.DateTimeField()
    job_id = models.CharField(max_length=ID_LENGTH, db_index=True)
    job_due_date = models.DateTimeField(null=True, blank=True)
    job_retries = models.IntegerField()
    job_priority = models.BigIntegerField(default=0)
    job_exception_message = models.TextField(null=True, blank=True)
    exception_stacktrace = models.TextField(null=True, blank=True)
    job_definition_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    job_definition_type = models.CharField(max_length=64, null=True, blank=True)
    job_definition_configuration = models.CharField(max_length=255, null=True, blank=True)
    activity_id = models.CharField(max_length=255, null=True, blank=True)
    process_instance_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    process_definition_id = models.CharField(max_length=255, null=True, blank=True)
    process_definition_key = models.CharField(max_length=255, null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True)
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)
    hostname = models.CharField(max_length=255, null=True, blank=True)
    creation_log = models.BooleanField(default=False)
    failure_log = models.BooleanField(default=False)
    success_log = models.BooleanField(default=False)
    deletion_log = models.BooleanField(default=False)

    class Meta:
        ordering = ["timestamp", "id"]

    def __str__(self) -> str:
        return f"job log {self.job_id}"


class UserOperationLogEntry(models.Model):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    operation_id = models.CharField(max_length=ID_LENGTH, db_index=True)
    user_id = models.CharField(max_length=150, null=True, blank=True, db_index=True)
    timestamp = models.DateTimeField(db_index=True)
    operation_type = models.CharField(max_length=64, db_index=True)
    entity_type = models.CharField(max_length=64, db_index=True)
    category = models.CharField(max_length=64, null=True, blank=True)
    property = models.CharField(max_length=64, null=True, blank=True)
    org_value = models.TextField(null=True, blank=True)
    new_value = models.TextField(null=True, blank=True)
    deployment_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    process_definition_id = models.CharField(max_length=255, null=True, blank=True)
    process_definition_key = models.CharField(max_length=255, null=True, blank=True)
    process_instance_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    execution_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    task_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    job_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    job_definition_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    batch_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    annotation = models.TextField(null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True)
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["timestamp", "id"]

    def __str__(self) -> str:
        return f"{self.operation_type} {self.entity_type} by {self.user_id}"


class HistoricIncident(models.Model):
    """An incident's history: open while the incident exists, then resolved or deleted (Camunda's ACT_HI_INCIDENT)."""

    OPEN = "open"
    RESOLVED = "resolved"
    DELETED = "deleted"
    STATES = [OPEN, RESOLVED, DELETED]

    id = models.CharField(max_length=ID_LENGTH, primary_key=True)
    incident_type = models.CharField(max_length=64)
    incident_message = models.TextField(blank=True)
    create_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=[(s, s) for s in STATES], default=OPEN)
    process_instance_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    process_definition_id = models.CharField(max_length=255, null=True, blank=True)
    execution_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    activity_id = models.CharField(max_length=255, null=True, blank=True)
    configuration = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    job_definition_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True)
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["create_time", "id"]

    def __str__(self) -> str:
        return f"{self.incident_type} {self.id} ({self.state})"
