"""Wait states that something outside the engine ends: message subscriptions and external tasks."""
from django.db import models

from engine.models.base import ID_LENGTH, new_id
from engine.models.runtime import ProcessInstance


class EventSubscription(models.Model):
    """A message the engine waits for (Camunda's ACT_RU_EVENT_SUBSCR).

    An instance's subscription belongs to a token (``execution_id``): an intermediate message catch
    event, a receive task, or a message boundary event on an active task (its ``activity_id`` is the
    boundary event's). A message start event subscribes its definition: no instance, and
    ``configuration`` holds the process definition id, as in Camunda.
    """

    MESSAGE = "message"

    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    event_type = models.CharField(max_length=32, default=MESSAGE)
    event_name = models.CharField(max_length=255, db_index=True)
    process_instance = models.ForeignKey(
        ProcessInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="event_subscriptions"
    )
    execution_id = models.CharField(max_length=ID_LENGTH, null=True, blank=True, db_index=True)
    activity_id = models.CharField(max_length=255, null=True, blank=True)
    process_definition_id = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    configuration = models.CharField(max_length=255, null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    created_date = models.DateTimeField()

    class Meta:
        ordering = ["created_date", "id"]
        indexes = [models.Index(fields=["event_type", "event_name"], name="event_subscr_name_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_name}"


class ExternalTask(models.Model):
    """A unit of work an external worker fetches, locks and completes (Camunda's ACT_RU_EXT_TASK)."""

    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    topic_name = models.CharField(max_length=255, db_index=True)
    worker_id = models.CharField(max_length=255, null=True, blank=True)
    lock_expiration_time = models.DateTimeField(null=True, blank=True)
    # None until a worker reports a failure, as in Camunda.
    retries = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    error_details = models.TextField(null=True, blank=True)
    suspended = models.BooleanField(default=False)
    priority = models.BigIntegerField(default=0)
    process_instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="external_tasks")
    # The token the task belongs to (Camunda's executionId and activityInstanceId).
    execution_id = models.CharField(max_length=ID_LENGTH, db_index=True)
    activity_id = models.CharField(max_length=255)
    process_definition_id = models.CharField(max_length=255)
    process_definition_key = models.CharField(max_length=255)
    business_key = models.CharField(max_length=255, null=True, blank=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    create_time = models.DateTimeField()

    class Meta:
        ordering = ["create_time", "id"]
        indexes = [models.Index(fields=["topic_name", "lock_expiration_time"], name="ext_task_fetch_idx")]

    def __str__(self) -> str:
        return f"{self.topic_name} {self.id}"
