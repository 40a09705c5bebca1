"""Django admin for batches, their history and items; actions suspend, activate and retry failed jobs."""
from django.contrib import admin, messages
from django.db.models import QuerySet

from batches.models import Batch, BatchItem, BatchProgressSample, HistoricBatch, WebhookDelivery
from batches.services import batch_set_suspended
from engine.admin import ReadOnlyAdmin
from engine.models import JobDefinition
from engine.services.job_actions import job_definition_set_retries


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "create_user_id", "start_time", "jobs_created", "total_jobs", "total_items", "suspended", "tenant_id"]
    list_filter = ["type", "suspended", "tenant_id"]
    search_fields = ["id", "create_user_id"]
    actions = ["suspend", "activate", "retry_failed_jobs"]

    def has_change_permission(self, request, obj=None) -> bool:
        # Needed for the actions below; the change form itself shows every field read-only.
        return request.user.has_perm("batches.change_batch")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.action(description="Suspend selected batches", permissions=["change"])
    def suspend(self, request, queryset: QuerySet) -> None:
        self._set_suspended(request, queryset, True)

    @admin.action(description="Activate selected batches", permissions=["change"])
    def activate(self, request, queryset: QuerySet) -> None:
        self._set_suspended(request, queryset, False)

    def _set_suspended(self, request, queryset: QuerySet, suspended: bool) -> None:
        changed = 0
        for batch in queryset.filter(suspended=not suspended):
            batch_set_suspended(batch=batch, suspended=suspended, user_id=request.user.get_username())
            changed += 1
        verb = "Suspended" if suspended else "Activated"
        self.message_user(request, f"{verb} {changed} batch(es).", messages.SUCCESS)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("engine.change_job")  # as PUT /job-definition/{id}/retries

    @admin.action(description="Retry the failed jobs of selected batches", permissions=["retry"])
    def retry_failed_jobs(self, request, queryset: QuerySet) -> None:
        # The same service as PUT /job-definition/{batchJobDefinitionId}/retries and the Cockpit.
        definitions = JobDefinition.objects.filter(id__in=queryset.values("batch_job_definition_id"))
        user_id = request.user.get_username()
        count = sum(job_definition_set_retries(definition=d, retries=1, user_id=user_id) for d in definitions)
        self.message_user(request, f"Gave {count} failed job(s) one more retry.", messages.SUCCESS)


@admin.register(HistoricBatch)
class HistoricBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "create_user_id", "start_time", "end_time", "final_state", "total_items", "items_failed", "removal_time"]
    list_filter = ["type", "final_state", "tenant_id"]
    search_fields = ["id", "create_user_id"]


@admin.register(BatchItem)
class BatchItemAdmin(ReadOnlyAdmin):
    list_display = ["batch", "seq", "target_id", "state", "detail", "updated_at"]
    list_filter = ["state"]
    search_fields = ["=batch__id", "=target_id"]
    show_full_result_count = False
    list_select_related = ["batch"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The webhook delivery log (batches.notifications): read only, written by the delivery jobs."""

    list_display = ["id", "batch", "event", "url", "state", "attempts", "last_status_code", "created_at", "delivered_at"]
    list_filter = ["state", "event"]
    search_fields = ["=id", "=batch__id", "url"]
    date_hierarchy = "created_at"
    list_select_related = ["batch"]


@admin.register(BatchProgressSample)
class BatchProgressSampleAdmin(ReadOnlyAdmin):
    """The progress samples behind the details page's chart (batches.progress): read only."""

    list_display = ["batch", "at", "done", "remaining"]
    search_fields = ["=batch__id"]
    show_full_result_count = False
    list_select_related = ["batch"]
