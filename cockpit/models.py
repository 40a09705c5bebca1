"""Wizard submissions: one row per Execute click token, so a double click creates one batch."""
from django.conf import settings
from django.db import models


class WizardSubmission(models.Model):
    token = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created = models.DateTimeField(auto_now_add=True)
    operation = models.CharField(max_length=32)
    path = models.CharField(max_length=255)
    # The step-1 query string, for the way back from the results page.
    params = models.TextField(blank=True)
    batch_id = models.CharField(max_length=64, null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.operation} by {self.user_id}: {self.batch_id or self.error}"
