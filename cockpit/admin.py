"""Django admin for the wizard's rows (confirmed selections, Execute submissions) and REST API tokens."""
from django.contrib import admin, messages

from cockpit.models import ApiToken, ConfirmedSelection, WizardSubmission
from cockpit.throttle import ThrottledAdminLoginForm

admin.site.login_form = ThrottledAdminLoginForm  # failed logins lock out (cockpit.throttle)


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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Issue a token by adding a row (it is shown once, in the message); revoke one by deleting it."""

    list_display = ["name", "user", "hint", "created", "expires", "last_used"]
    search_fields = ["name", "user__username"]
    fields = ["user", "name", "expires", "hint", "created", "last_used"]
    readonly_fields = ["hint", "created", "last_used"]
    autocomplete_fields = ["user"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        row, token = ApiToken.issue(user=obj.user, name=obj.name, expires=obj.expires)
        obj.pk, obj.hint, obj.key_hash = row.pk, row.hint, row.key_hash
        messages.warning(request, f"The new API token, shown only now: {token}")
