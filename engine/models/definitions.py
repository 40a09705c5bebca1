"""Deployments and the versioned process definitions parsed from their BPMN."""
from django.db import models

from engine.models.base import ID_LENGTH, new_id


class Deployment(models.Model):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=255, blank=True)
    deployment_time = models.DateTimeField()
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-deployment_time"]

    def __str__(self) -> str:
        return self.name or self.id


class ProcessDefinition(models.Model):
    id = models.CharField(max_length=255, primary_key=True)
    key = models.CharField(max_length=255, db_index=True)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=255, blank=True)
    resource_name = models.CharField(max_length=255)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="definitions")
    tenant_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    suspended = models.BooleanField(default=False)
    # Days the history of its instances is kept after the removal-time base (camunda:historyTimeToLive).
    history_time_to_live = models.PositiveIntegerField(null=True, blank=True)
    bpmn_xml = models.TextField()
    # The parsed flow graph (activities and sequence flows) the engine walks.
    graph = models.JSONField()

    class Meta:
        ordering = ["key", "version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version", "tenant_id"], name="unique_definition_version"),
        ]

    def __str__(self) -> str:
        return self.id

    def activity(self, activity_id: str) -> dict | None:
        return self.graph["activities"].get(activity_id)

    def flow(self, flow_id: str) -> dict | None:
        return self.graph["flows"].get(flow_id)
