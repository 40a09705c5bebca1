"""Django admin for the wizard's rows: confirmed selections waiting for Execute, and Execute submissions."""
from django.contrib import admin

from cockpit.models import ConfirmedSelection, WizardSubmission


@admin.register(ConfirmedSelection)
class ConfirmedSelectionAdmin(admin.ModelAdmin):
    # The targets are not shown: a selection may hold 100k of them.
    list_display = ["token", "user", "operation", "count", "created"]
    list_filter = ["operation"]
    search_fields = ["token", "user__username"]
    readonly_fields = ["token", "user", "operation", "payload", "params", "count", "created"]


@admin.register(WizardSubmission)
class WizardSubmissionAdmin(admin.ModelAdmin):
    list_display = ["token", "user", "operation", "batch_id", "error", "created"]
    list_filter = ["operation"]
    search_fields = ["token", "batch_id", "user__username"]
    readonly_fields = ["token", "user", "operation", "path", "params", "batch_id", "error", "created"]
