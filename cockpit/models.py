"""Wizard rows: the selection frozen when step 2 renders, and one submission per Execute click token."""
from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone


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


class ApiToken(models.Model):
    """A secret a REST client sends instead of a password (cockpit.auth). Only its SHA-256 is stored."""

    PREFIX = "cbt_"
    # last_used is written at most this often, so a busy client does not write on every call.
    TOUCH_SECONDS = 60

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters of the token, to tell tokens apart in lists (never enough to use it).
    hint = models.CharField(max_length=12)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…) of {self.user}"

    @staticmethod
    def hash_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user, name: str, expires=None) -> tuple["ApiToken", str]:
        """A new token for user: the row, and the token itself (shown once, never stored)."""
        token = cls.PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, name=name, key_hash=cls.hash_of(token), hint=token[:10], expires=expires)
        return row, token

    def usable(self, now) -> bool:
        return self.expires is None or self.expires > now

    def touch(self) -> None:
        now = timezone.now()
        if self.last_used is None or (now - self.last_used).total_seconds() >= self.TOUCH_SECONDS:
            type(self).objects.filter(pk=self.pk).update(last_used=now)
