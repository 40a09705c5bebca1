"""Tenants and which users belong to them."""
from django.conf import settings
from django.db import models


class Tenant(models.Model):
    id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=255)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="tenants", blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id
