"""Wizard rows: the selection frozen when step 2 renders, and one submission per Execute click token."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import QuerySet


class ConfirmedSelection(models.Model):
    """What the confirm page counted: its payload and its targets, frozen until Execute consumes them.

    The token is the confirm page's one-time Execute token; only its user may execute it.
    """

    token = models.CharField(max_length=64, primary_key=True)
    # Database-level like its targets' key (Django wants one kind of cascade along a chain).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.DB_CASCADE)
    operation = models.CharField(max_length=32)
    # The exact REST payload Execute sends through the endpoint's service.
    payload = models.JSONField()
    # The step-1 query string, for the way back and for the instance count of job operations.
    params = models.TextField(blank=True)
    count = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.operation} of {self.count} by {self.user_id}"

    def targets(self) -> QuerySet:
        """The frozen target ids, as a subquery (never loaded into Python)."""
        return ConfirmedTarget.objects.filter(selection_id=self.token).values("target_id")


class ConfirmedTarget(models.Model):
    """One frozen target id of a confirmed selection."""

    id = models.BigAutoField(primary_key=True)
    # Deleted by the database with its selection: an expired 100k selection is one DELETE, not 100k rows in
    # Python. No index of its own: the (selection, target_id) index serves it.
    selection = models.ForeignKey(ConfirmedSelection, on_delete=models.DB_CASCADE, related_name="+", db_index=False)
    target_id = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["selection", "target_id"], name="confirmed_target_idx")]

    def __str__(self) -> str:
        return self.target_id


class WizardSubmission(models.Model):
    token = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created = models.DateTimeField(auto_now_add=True)
    operation = models.CharField(max_length=32)
    path = models.CharField(max_length=255)
    # The step-1 query string, for the way back from the results page.
    params = models.TextField(blank=True)
    batch_id = models.CharField(max_length=64, null=True, blank=True)
    # Set when the operation ran synchronously instead of as a batch (a small migration): how many it moved.
    instances = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.operation} by {self.user_id}: {self.batch_id or self.error}"
