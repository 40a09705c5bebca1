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
    list_display = ["id", "key", "version", "name", "tenant_id", "suspended"]
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


@admin.register(m.Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "job_type", "activity_id", "retries", "suspended", "due_date", "lock_owner", "exception_message"]
    list_filter = ["job_type", "suspended", "retries", "tenant_id"]
    search_fields = ["id", "process_instance__id", "exception_message"]
    show_full_result_count = False


@admin.register(m.HistoricProcessInstance)
class HistoricProcessInstanceAdmin(ReadOnlyAdmin):
    list_display = ["id", "process_definition_key", "process_definition_version", "business_key", "state", "start_time", "end_time"]
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
