"""Django admin for every engine model; rows whose edits would break invariants are read-only."""
from django.contrib import admin

from engine import models as m


class ReadOnlyAdmin(admin.ModelAdmin):
    """Runtime and history rows change only through engine services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["id", "name"]
    search_fields = ["id", "name"]
    filter_horizontal = ["members"]


@admin.register(m.Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "tenant_id", "deployment_time"]
    search_fields = ["id", "name"]
    list_filter = ["tenant_id"]


@admin.register(m.ProcessDefinition)
class ProcessDefinitionAdmin(ReadOnlyAdmin):
    list_display = ["id", "key", "version", "name", "tenant_id", "suspended", "history_time_to_live"]
    list_filter = ["key", "tenant_id", "suspended"]
    search_fields = ["id", "key", "name"]


@admin.register(m.ProcessInstance)
class ProcessInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "process_definition", "business_key", "tenant_id", "suspended", "start_time"]
    list_filter = ["suspended", "tenant_id", "process_definition__key"]
    search_fields = ["id", "business_key"]
    list_select_related = ["process_definition"]
    show_full_result_count = False


@admin.register(m.ActivityInstance)
class ActivityInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "activity_id", "activity_type", "process_instance", "start_time"]
    list_filter = ["activity_type"]
    search_fields = ["id", "activity_id", "process_instance__id"]
    show_full_result_count = False


@admin.register(m.Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["id", "incident_type", "activity_id", "process_instance", "incident_timestamp", "tenant_id"]
    list_filter = ["incident_type", "tenant_id"]
    search_fields = ["id", "incident_message", "configuration"]


@admin.register(m.JobDefinition)
class JobDefinitionAdmin(ReadOnlyAdmin):
    list_display = ["id", "job_type", "activity_id", "process_definition", "suspended", "tenant_id"]
    list_filter = ["job_type", "suspended", "tenant_id"]
    search_fields = ["id", "activity_id", "job_configuration"]
    # As PUT /job-definition/{id}/suspended with includeJobs=true (engine.services.job_actions).
    actions = ["suspend_with_jobs", "activate_with_jobs"]

    def has_suspend_permission(self, request) -> bool:
        return request.user.has_perm("engine.change_jobdefinition") and request.user.has_perm("engine.change_job")

    @admin.action(description="Suspend selected job definitions and their jobs", permissions=["suspend"])
    def suspend_with_jobs(self, request, queryset) -> None:
        self._set_suspended(request, queryset, True)

    @admin.action(description="Activate selected job definitions and their jobs", permissions=["suspend"])
    def activate_with_jobs(self, request, queryset) -> None:
        self._set_suspended(request, queryset, False)

    def _set_suspended(self, request, queryset, suspended: bool) -> None:
        from engine.services.job_actions import JobSelector, job_definitions_update_suspension

        for definition_id in queryset.values_list("id", flat=True):
            job_definitions_update_suspension(
                selector=JobSelector(job_definition_id=definition_id), suspended=suspended, include_jobs=True,
                user=request.user, user_id=request.user.get_username(),
            )
        self.message_user(request, f"{'Suspended' if suspended else 'Activated'} the selected job definition(s) and their jobs.")


@admin.register(m.Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "job_type", "activity_id", "retries", "suspended", "due_date", "lock_owner", "exception_message"]
    list_filter = ["job_type", "suspended", "retries", "tenant_id"]
    search_fields = ["id", "process_instance__id", "exception_message"]
    show_full_result_count = False
    # As PUT /job/{id}/suspended (engine.services.job_actions).
    actions = ["suspend_jobs", "activate_jobs"]

    def has_suspend_permission(self, request) -> bool:
        return request.user.has_perm("engine.change_job")

    @admin.action(description="Suspend selected jobs", permissions=["suspend"])
    def suspend_jobs(self, request, queryset) -> None:
        self._set_suspended(request, queryset, True)

    @admin.action(description="Activate selected jobs", permissions=["suspend"])
    def activate_jobs(self, request, queryset) -> None:
        self._set_suspended(request, queryset, False)

    def _set_suspended(self, request, queryset, suspended: bool) -> None:
        from engine.services.job_actions import JobSelector, jobs_update_suspension

        for job_id in queryset.values_list("id", flat=True):
            jobs_update_suspension(
                selector=JobSelector(job_id=job_id), suspended=suspended, user=request.user, user_id=request.user.get_username()
            )
        self.message_user(request, f"{'Suspended' if suspended else 'Activated'} the selected job(s).")


@admin.register(m.HistoricProcessInstance)
class HistoricProcessInstanceAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "process_definition_key", "process_definition_version", "business_key", "state", "start_time", "end_time",
        "removal_time",
    ]
    list_filter = ["state", "process_definition_key", "tenant_id"]
    search_fields = ["id", "business_key"]
    show_full_result_count = False


@admin.register(m.HistoricActivityInstance)
class HistoricActivityInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "activity_id", "activity_type", "process_instance_id", "start_time", "end_time", "canceled"]
    list_filter = ["activity_type", "canceled"]
    search_fields = ["id", "activity_id", "process_instance_id"]
    show_full_result_count = False


@admin.register(m.HistoricJobLog)
class HistoricJobLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "job_id", "job_definition_type", "timestamp", "creation_log", "failure_log", "success_log", "deletion_log"]
    list_filter = ["job_definition_type", "failure_log", "success_log"]
    search_fields = ["job_id", "process_instance_id"]
    show_full_result_count = False


@admin.register(m.UserOperationLogEntry)
class UserOperationLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "user_id", "operation_type", "entity_type", "property", "org_value", "new_value"]
    list_filter = ["operation_type", "entity_type", "category"]
    search_fields = ["user_id", "operation_id", "process_instance_id", "batch_id"]


@admin.register(m.VariableInstance)
class VariableInstanceAdmin(ReadOnlyAdmin):
    list_display = ["name", "type", "text_value", "long_value", "double_value", "process_instance_id"]
    list_filter = ["type"]
    search_fields = ["=name", "=process_instance__id"]
    show_full_result_count = False


@admin.register(m.HistoricVariableInstance)
class HistoricVariableInstanceAdmin(ReadOnlyAdmin):
    list_display = ["name", "type", "text_value", "long_value", "double_value", "process_instance_id", "state"]
    list_filter = ["type", "state"]
    search_fields = ["=name", "=process_instance_id"]
    show_full_result_count = False


@admin.register(m.HistoricVariableUpdate)
class HistoricVariableUpdateAdmin(ReadOnlyAdmin):
    list_display = ["name", "type", "text_value", "long_value", "double_value", "revision", "initial", "process_instance_id", "time"]
    list_filter = ["type", "initial"]
    search_fields = ["=name", "=process_instance_id"]
    show_full_result_count = False


@admin.register(m.HistoricIncident)
class HistoricIncidentAdmin(ReadOnlyAdmin):
    list_display = ["id", "incident_type", "state", "activity_id", "process_instance_id", "create_time", "end_time"]
    list_filter = ["incident_type", "state", "tenant_id"]
    search_fields = ["=id", "=process_instance_id", "incident_message"]
    show_full_result_count = False


@admin.register(m.ExternalTask)
class ExternalTaskAdmin(ReadOnlyAdmin):
    """External tasks; the actions are the REST calls' services (PUT /external-task/{id}/retries, /unlock)."""

    list_display = ["id", "topic_name", "activity_id", "worker_id", "lock_expiration_time", "retries", "suspended", "priority", "tenant_id"]
    list_filter = ["topic_name", "suspended", "tenant_id"]
    search_fields = ["=id", "=process_instance__id", "=worker_id", "error_message"]
    show_full_result_count = False
    actions = ["give_one_retry", "unlock"]

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("engine.change_externaltask")

    @admin.action(description="Give selected external tasks one retry (resolves their incidents)", permissions=["retry"])
    def give_one_retry(self, request, queryset) -> None:
        from engine.services.external_tasks import external_task_set_retries

        for task_id in queryset.values_list("id", flat=True):
            external_task_set_retries(task_id=task_id, retries=1, user=request.user, user_id=request.user.get_username())
        self.message_user(request, "Gave the selected external task(s) one retry.")

    @admin.action(description="Unlock selected external tasks", permissions=["retry"])
    def unlock(self, request, queryset) -> None:
        from engine.services.external_tasks import external_task_unlock

        for task_id in queryset.values_list("id", flat=True):
            external_task_unlock(task_id=task_id, user=request.user, user_id=request.user.get_username())
        self.message_user(request, "Unlocked the selected external task(s).")


@admin.register(m.EventSubscription)
class EventSubscriptionAdmin(ReadOnlyAdmin):
    """Message subscriptions: of tokens (catch events, receive tasks, boundary events) and of the latest
    versions' message start events (no instance; configuration is the definition). Messages are sent
    with POST /engine-rest/message or a correlate-message batch."""

    list_display = ["id", "event_type", "event_name", "activity_id", "process_instance_id", "execution_id", "tenant_id", "created_date"]
    list_filter = ["event_type", "tenant_id"]
    search_fields = ["=id", "event_name", "=process_instance__id", "=execution_id", "=configuration"]
    show_full_result_count = False
