"""Reads: the query specs of each resource and the tenant-filtered querysets they apply to."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from django.db.models import Q, QuerySet

from engine import filters as f
from engine.errors import BadUserRequest
from engine.models import (
    HistoricIncident,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    UserOperationLogEntry,
    VariableInstance,
)
from engine.query import Param, QuerySpec, parse_conditions
from engine.variable_filters import parse_variables
from engine.tenancy import tenant_q


TENANT_PARAMS = {
    "tenantIdIn": Param("list", "tenant_id__in"),
    "withoutTenantId": Param("bool", f.without_tenant),
}

PROCESS_DEFINITION = QuerySpec(
    params={
        "processDefinitionId": Param("str", "id"),
        "processDefinitionIdIn": Param("list", "id__in"),
        "key": Param("str", "key"),
        "keysIn": Param("list", "key__in"),
        "keyLike": Param("str", f.like("key")),
        "name": Param("str", "name"),
        "nameLike": Param("str", f.like("name")),
        "version": Param("int", "version"),
        "latestVersion": Param("bool", f.latest_version),
        "deploymentId": Param("str", "deployment_id"),
        "suspended": Param("bool", f.flag(suspended=True)),
        "active": Param("bool", f.flag(suspended=False)),
        **TENANT_PARAMS,
    },
    sort_fields={
        "id": "id",
        "key": "key",
        "name": "name",
        "version": "version",
        "category": "category",
        "deploymentId": "deployment_id",
        "tenantId": "tenant_id",
    },
    default_order=("key", "version", "id"),
    unsupported=frozenset({
        "category", "categoryLike", "resourceName", "resourceNameLike", "incidentId", "incidentType",
        "incidentMessage", "incidentMessageLike", "startableBy", "versionTag", "versionTagLike", "withoutVersionTag",
        "startableInTasklist", "notStartableInTasklist", "startablePermissionCheck", "includeProcessDefinitionsWithoutTenantId",
        "deployedAfter", "deployedAt",
    }),
)

VARIABLE_MODIFIERS = {
    "variableNamesIgnoreCase": Param("bool", f.modifier),
    "variableValuesIgnoreCase": Param("bool", f.modifier),
}
CASE = ("variableNamesIgnoreCase", "variableValuesIgnoreCase")

# GET/POST /process-instance (Camunda's ProcessInstanceQueryDto; research: Camunda 7.20–7.24).
PROCESS_INSTANCE = QuerySpec(
    params={
        "processInstanceIds": Param("list", "id__in"),
        "businessKey": Param("str", "business_key"),
        "businessKeyLike": Param("str", f.like("business_key")),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition__key"),
        "processDefinitionKeyIn": Param("list", "process_definition__key__in"),
        "processDefinitionKeyNotIn": Param("list", f.not_in("process_definition__key")),
        "deploymentId": Param("str", "process_definition__deployment_id"),
        "activityIdIn": Param("list", f.active_activities),
        # suspended and active both true: suspended wins, as in Camunda's ProcessInstanceQueryImpl.
        "active": Param("bool", lambda v, suspended=False: Q(suspended=False) if v and not suspended else Q(), uses=("suspended",)),
        "suspended": Param("bool", f.flag(suspended=True)),
        "withIncident": Param("bool", lambda v: f.exists(Incident) if v else Q()),
        "incidentId": Param("str", f.incident(Incident, "id")),
        "incidentType": Param("str", f.incident(Incident, "incident_type")),
        "incidentMessage": Param("str", f.incident(Incident, "incident_message")),
        "incidentMessageLike": Param("str", f.incident(Incident, "incident_message", "__like")),
        # No call activities and no CMMN: every instance is a root and a leaf, none has a super or sub instance.
        "rootProcessInstances": Param("bool", f.every_instance),
        "leafProcessInstances": Param("bool", f.every_instance),
        "rootProcessInstanceId": Param("str", "id"),
        "superProcessInstance": Param("str", f.no_instance),
        "subProcessInstance": Param("str", f.no_instance),
        "caseInstanceId": Param("str", f.no_instance),
        "superCaseInstance": Param("str", f.no_instance),
        "subCaseInstance": Param("str", f.no_instance),
        "processDefinitionWithoutTenantId": Param("bool", f.flag(process_definition__tenant_id__isnull=True)),
        "variables": Param(parse_variables, f.variables(VariableInstance), uses=CASE),
        **VARIABLE_MODIFIERS,
        # Ours, beside Camunda's parameters: the wizard's started before/after filters on running instances.
        "startedBefore": Param("date", "start_time__lte"),
        "startedAfter": Param("date", "start_time__gte"),
        **TENANT_PARAMS,
    },
    sort_fields={
        "instanceId": "id",
        "definitionKey": "process_definition__key",
        "definitionId": "process_definition_id",
        "tenantId": "tenant_id",
        "businessKey": "business_key",
    },
    default_order=("id",),
    or_queries=True,
)

HISTORIC_STATES = {
    "active": HistoricProcessInstance.ACTIVE,
    "suspended": HistoricProcessInstance.SUSPENDED,
    "completed": HistoricProcessInstance.COMPLETED,
    "externallyTerminated": HistoricProcessInstance.EXTERNALLY_TERMINATED,
    "internallyTerminated": HistoricProcessInstance.INTERNALLY_TERMINATED,
}


def check_historic(values: dict[str, object]) -> None:
    """Camunda's usage errors of the historic query (HistoricProcessInstanceQueryImpl)."""
    states = [name for name in HISTORIC_STATES if values.get(name) is True]
    if len(states) > 1:
        raise BadUserRequest(
            f"Already querying for historic process instance with another state: {HISTORIC_STATES[states[0]]} is not empty"
        )
    if values.get("rootProcessInstances") is True and values.get("superProcessInstanceId"):
        raise BadUserRequest("Invalid query usage: cannot set both rootProcessInstances and superProcessInstanceId")


HISTORIC_PROCESS_INSTANCE = QuerySpec(
    params={
        "processInstanceId": Param("str", "id"),
        "processInstanceIds": Param("list", "id__in"),
        "processInstanceIdNotIn": Param("list", f.not_in("id")),
        "rootProcessInstanceId": Param("str", "id"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition_key"),
        "processDefinitionKeyIn": Param("list", "process_definition_key__in"),
        "processDefinitionKeyNotIn": Param("list", f.not_in("process_definition_key")),
        "processDefinitionName": Param("str", "process_definition_name"),
        "processDefinitionNameLike": Param("str", f.like("process_definition_name")),
        "processInstanceBusinessKey": Param("str", "business_key"),
        "processInstanceBusinessKeyIn": Param("list", "business_key__in"),
        "processInstanceBusinessKeyLike": Param("str", f.like("business_key")),
        "rootProcessInstances": Param("bool", f.every_instance),
        "superProcessInstanceId": Param("str", f.no_instance),
        "subProcessInstanceId": Param("str", f.no_instance),
        "superCaseInstanceId": Param("str", f.no_instance),
        "subCaseInstanceId": Param("str", f.no_instance),
        "caseInstanceId": Param("str", f.no_instance),
        "finished": Param("bool", f.flag(end_time__isnull=False)),
        "unfinished": Param("bool", f.flag(end_time__isnull=True)),
        "withJobsRetrying": Param("bool", f.jobs_retrying),
        "withIncidents": Param("bool", lambda v: f.exists(HistoricIncident) if v else Q()),
        "withRootIncidents": Param("bool", lambda v: f.exists(HistoricIncident) if v else Q()),  # every incident is a root cause here
        "incidentIdIn": Param("list", f.incident(HistoricIncident, "id", "__in")),
        "incidentType": Param("str", f.incident(HistoricIncident, "incident_type")),
        "incidentStatus": Param("str", f.incident_status),
        "incidentMessage": Param("str", f.incident(HistoricIncident, "incident_message")),
        "incidentMessageLike": Param("str", f.incident(HistoricIncident, "incident_message", "__like")),
        "startedBefore": Param("date", "start_time__lte"),
        "startedAfter": Param("date", "start_time__gte"),
        "finishedBefore": Param("date", "end_time__lte"),
        "finishedAfter": Param("date", "end_time__gte"),
        "executedActivityAfter": Param("date", f.executed_activity_between("gte")),
        "executedActivityBefore": Param("date", f.executed_activity_between("lte")),
        "executedJobAfter": Param("date", f.executed_job_between("gte")),
        "executedJobBefore": Param("date", f.executed_job_between("lte")),
        "startedBy": Param("str", "start_user_id"),
        "executedActivityIdIn": Param("list", f.executed_activities),
        "activeActivityIdIn": Param("list", f.open_activities),
        "activityIdIn": Param("list", f.active_activities),
        **{name: Param("bool", f.flag(state=state)) for name, state in HISTORIC_STATES.items()},
        "variables": Param(parse_variables, f.variables(HistoricVariableInstance), uses=CASE),
        **VARIABLE_MODIFIERS,
        **TENANT_PARAMS,
    },
    sort_fields={
        "instanceId": "id",
        "definitionId": "process_definition_id",
        "definitionKey": "process_definition_key",
        "definitionName": "process_definition_name",
        "definitionVersion": "process_definition_version",
        "businessKey": "business_key",
        "startTime": "start_time",
        "endTime": "end_time",
        "duration": "duration_in_millis",
        "tenantId": "tenant_id",
    },
    default_order=("id",),
    or_queries=True,
    check=check_historic,
)


def check_jobs(values: dict[str, object]) -> None:
    if values.get("timers") is True and values.get("messages") is True:
        raise BadUserRequest("Parameter timers cannot be used together with parameter messages.")


# GET/POST /job (Camunda's JobQueryDto). Every job of this engine is a message job (async
# continuations and batch jobs); none is a timer.
JOB = QuerySpec(
    params={
        "jobId": Param("str", "id"),
        "jobIds": Param("list", "id__in"),
        "jobDefinitionId": Param("str", "job_definition_id"),
        "processInstanceId": Param("str", "process_instance_id"),
        "processInstanceIds": Param("list", "process_instance_id__in"),
        "executionId": Param("str", "execution_id"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition_key"),
        "activityId": Param("str", "activity_id"),
        "withRetriesLeft": Param("bool", f.flag(retries__gt=0)),
        "executable": Param("bool", f.executable_jobs),
        "timers": Param("bool", lambda v: Q(pk__in=[]) if v else Q()),
        "messages": Param("bool", f.modifier),
        "dueDates": Param(parse_conditions("due date"), f.job_dates("due_date")),
        "createTimes": Param(parse_conditions("create time"), f.job_dates("create_time")),
        "withException": Param("bool", f.flag(exception_message__isnull=False)),
        "exceptionMessage": Param("str", "exception_message"),
        "failedActivityId": Param("str", "failed_activity_id"),
        "noRetriesLeft": Param("bool", f.flag(retries=0)),
        "active": Param("bool", f.flag(suspended=False)),
        "suspended": Param("bool", f.flag(suspended=True)),
        "priorityLowerThanOrEquals": Param("long", "priority__lte"),
        "priorityHigherThanOrEquals": Param("long", "priority__gte"),
        "acquired": Param("bool", f.acquired_jobs),
        "tenantIdIn": Param("list", f.job_tenants, uses=("includeJobsWithoutTenantId",)),
        "includeJobsWithoutTenantId": Param("bool", f.modifier),
        "withoutTenantId": Param("bool", f.without_tenant),
    },
    sort_fields={
        "jobId": "id",
        "executionId": "execution_id",
        "processInstanceId": "process_instance_id",
        "processDefinitionId": "process_definition_id",
        "processDefinitionKey": "process_definition_key",
        "jobPriority": "priority",
        "jobRetries": "retries",
        "jobDueDate": "due_date",
        "tenantId": "tenant_id",
    },
    default_order=("id",),
    check=check_jobs,
)

JOB_DEFINITION = QuerySpec(
    params={
        "jobDefinitionId": Param("str", "id"),
        "activityIdIn": Param("list", "activity_id__in"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition__key"),
        "jobType": Param("str", "job_type"),
        "jobConfiguration": Param("str", "job_configuration"),
        "active": Param("bool", f.flag(suspended=False)),
        "suspended": Param("bool", f.flag(suspended=True)),
        "withOverridingJobPriority": Param("bool", f.flag(overriding_job_priority__isnull=False)),
        **TENANT_PARAMS,
    },
    sort_fields={
        "jobDefinitionId": "id",
        "activityId": "activity_id",
        "processDefinitionId": "process_definition_id",
        "processDefinitionKey": "process_definition__key",
        "jobType": "job_type",
        "jobConfiguration": "job_configuration",
        "tenantId": "tenant_id",
    },
    default_order=("id",),
    unsupported=frozenset({"includeJobDefinitionsWithoutTenantId"}),
)

INCIDENT = QuerySpec(
    params={
        "incidentId": Param("str", "id"),
        "incidentType": Param("str", "incident_type"),
        "incidentMessage": Param("str", "incident_message"),
        "incidentMessageLike": Param("str", f.like("incident_message")),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processInstanceId": Param("str", "process_instance_id"),
        "executionId": Param("str", "execution_id"),
        "activityId": Param("str", "activity_id"),
        "configuration": Param("str", "configuration"),
        "jobDefinitionIdIn": Param("list", "job_definition_id__in"),
        "tenantIdIn": Param("list", "tenant_id__in"),
    },
    sort_fields={
        "incidentId": "id",
        "incidentMessage": "incident_message",
        "incidentTimestamp": "incident_timestamp",
        "incidentType": "incident_type",
        "executionId": "execution_id",
        "activityId": "activity_id",
        "processInstanceId": "process_instance_id",
        "processDefinitionId": "process_definition_id",
        "configuration": "configuration",
        "tenantId": "tenant_id",
    },
    default_order=("incident_timestamp", "id"),
)

USER_OPERATION = QuerySpec(
    params={
        "deploymentId": Param("str", "deployment_id"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition_key"),
        "processInstanceId": Param("str", "process_instance_id"),
        "executionId": Param("str", "execution_id"),
        "taskId": Param("str", "task_id"),
        "jobId": Param("str", "job_id"),
        "jobDefinitionId": Param("str", "job_definition_id"),
        "batchId": Param("str", "batch_id"),
        "userId": Param("str", "user_id"),
        "operationId": Param("str", "operation_id"),
        "operationType": Param("str", "operation_type"),
        "entityType": Param("str", "entity_type"),
        "entityTypeIn": Param("list", "entity_type__in"),
        "category": Param("str", "category"),
        "categoryIn": Param("list", "category__in"),
        "property": Param("str", "property"),
        "afterTimestamp": Param("date", "timestamp__gt"),
        "beforeTimestamp": Param("date", "timestamp__lt"),
        # No CMMN and no external tasks in this engine: no entry refers to one.
        **{name: Param("str", f.no_instance) for name in ("caseDefinitionId", "caseInstanceId", "caseExecutionId", "externalTaskId")},
    },
    sort_fields={"timestamp": "timestamp"},
    default_order=("timestamp", "id"),
)


def visible(model, user) -> QuerySet:
    """Every row of model the user may read (tenant filter)."""
    return model.objects.filter(tenant_q(user))


def query(spec: QuerySpec, model, user, data: Mapping, *, from_body: bool, in_batch: bool = False) -> QuerySet:
    """Filtered and ordered rows of model for a GET query string or a POST query body.

    in_batch: the query is nested in a batch request (processInstanceQuery, …), where Camunda
    leaves variable values that look like dates as strings (research: ConditionQueryParameterDto).
    """
    values = spec.parse(data, from_body=from_body)
    if in_batch:
        values = without_date_values(values)
    order = spec.ordering(data, from_body=from_body)
    return spec.filter(visible(model, user), values).order_by(*order)


def without_date_values(values: dict[str, object]) -> dict[str, object]:
    result = dict(values)
    if "variables" in result:
        result["variables"] = [replace(c, dates=False) for c in result["variables"]]
    if "orQueries" in result:
        result["orQueries"] = [without_date_values(group) for group in result["orQueries"]]
    return result


def process_instances(user, data: Mapping, *, from_body: bool = True) -> QuerySet:
    return query(PROCESS_INSTANCE, ProcessInstance, user, data, from_body=from_body)


def historic_process_instances(user, data: Mapping, *, from_body: bool = True) -> QuerySet:
    return query(HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance, user, data, from_body=from_body)


def jobs(user, data: Mapping, *, from_body: bool = True) -> QuerySet:
    return query(JOB, Job, user, data, from_body=from_body)


RESOURCES = {
    "process-definition": (PROCESS_DEFINITION, ProcessDefinition),
    "process-instance": (PROCESS_INSTANCE, ProcessInstance),
    "history/process-instance": (HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance),
    "job": (JOB, Job),
    "job-definition": (JOB_DEFINITION, JobDefinition),
    "incident": (INCIDENT, Incident),
    "history/user-operation": (USER_OPERATION, UserOperationLogEntry),
}
