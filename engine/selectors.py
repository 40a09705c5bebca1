"""Reads: the query specs of each resource and the tenant-filtered querysets they apply to."""
from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Exists, OuterRef, Q, QuerySet

from engine.models import (
    ActivityInstance,
    HistoricProcessInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    UserOperationLogEntry,
)
from engine.query import Param, QuerySpec
from engine.tenancy import tenant_q


def _like(field: str):
    return lambda qs, v: qs.filter(**{f"{field}__contains": v.strip("%")})


def _flag(**lookup):
    return lambda qs, v: qs.filter(**lookup) if v else qs


def _without_tenant(qs: QuerySet, value: bool) -> QuerySet:
    return qs.filter(tenant_id__isnull=True) if value else qs


def _has_incident(field: str = "pk"):
    def apply(qs: QuerySet, value: bool) -> QuerySet:
        if not value:
            return qs
        return qs.filter(Exists(Incident.objects.filter(process_instance_id=OuterRef(field))))

    return apply


def _active_activity(qs: QuerySet, ids: list[str]) -> QuerySet:
    return qs.filter(Exists(ActivityInstance.objects.filter(process_instance_id=OuterRef("pk"), activity_id__in=ids)))


def _latest_version(qs: QuerySet, value: bool) -> QuerySet:
    if not value:
        return qs
    from django.db.models import Max

    latest = ProcessDefinition.objects.values("key", "tenant_id").annotate(v=Max("version"))
    condition = Q(pk__in=[])
    for row in latest:
        condition |= Q(key=row["key"], tenant_id=row["tenant_id"], version=row["v"])
    return qs.filter(condition)


TENANT_PARAMS = {
    "tenantIdIn": Param("list", "tenant_id__in"),
    "withoutTenantId": Param("bool", _without_tenant),
}

PROCESS_DEFINITION = QuerySpec(
    params={
        "processDefinitionId": Param("str", "id"),
        "processDefinitionIdIn": Param("list", "id__in"),
        "key": Param("str", "key"),
        "keysIn": Param("list", "key__in"),
        "keyLike": Param("str", _like("key")),
        "name": Param("str", "name"),
        "nameLike": Param("str", _like("name")),
        "version": Param("int", "version"),
        "latestVersion": Param("bool", _latest_version),
        "deploymentId": Param("str", "deployment_id"),
        "suspended": Param("bool", _flag(suspended=True)),
        "active": Param("bool", _flag(suspended=False)),
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
)

PROCESS_INSTANCE = QuerySpec(
    params={
        "processInstanceIds": Param("list", "id__in"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition__key"),
        "processDefinitionKeyIn": Param("list", "process_definition__key__in"),
        "processDefinitionKeyNotIn": Param("list", lambda qs, v: qs.exclude(process_definition__key__in=v)),
        "deploymentId": Param("str", "process_definition__deployment_id"),
        "businessKey": Param("str", "business_key"),
        "businessKeyLike": Param("str", _like("business_key")),
        "activityIdIn": Param("list", _active_activity),
        "suspended": Param("bool", _flag(suspended=True)),
        "active": Param("bool", _flag(suspended=False)),
        "withIncident": Param("bool", _has_incident()),
        "incidentId": Param("str", lambda qs, v: qs.filter(Exists(Incident.objects.filter(process_instance_id=OuterRef("pk"), id=v)))),
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
)

HISTORIC_PROCESS_INSTANCE = QuerySpec(
    params={
        "processInstanceId": Param("str", "id"),
        "processInstanceIds": Param("list", "id__in"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition_key"),
        "processDefinitionKeyIn": Param("list", "process_definition_key__in"),
        "processDefinitionKeyNotIn": Param("list", lambda qs, v: qs.exclude(process_definition_key__in=v)),
        "processDefinitionName": Param("str", "process_definition_name"),
        "processInstanceBusinessKey": Param("str", "business_key"),
        "processInstanceBusinessKeyLike": Param("str", _like("business_key")),
        "finished": Param("bool", _flag(end_time__isnull=False)),
        "unfinished": Param("bool", _flag(end_time__isnull=True)),
        "withIncidents": Param("bool", _has_incident()),
        "startedBefore": Param("date", "start_time__lte"),
        "startedAfter": Param("date", "start_time__gte"),
        "finishedBefore": Param("date", "end_time__lte"),
        "finishedAfter": Param("date", "end_time__gte"),
        "startedBy": Param("str", "start_user_id"),
        "state": Param("str", "state"),
        "active": Param("bool", _flag(state=HistoricProcessInstance.ACTIVE)),
        "suspended": Param("bool", _flag(state=HistoricProcessInstance.SUSPENDED)),
        "completed": Param("bool", _flag(state=HistoricProcessInstance.COMPLETED)),
        "externallyTerminated": Param("bool", _flag(state=HistoricProcessInstance.EXTERNALLY_TERMINATED)),
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
)

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
        "withRetriesLeft": Param("bool", _flag(retries__gt=0)),
        "noRetriesLeft": Param("bool", _flag(retries=0)),
        "withException": Param("bool", _flag(exception_message__isnull=False)),
        "exceptionMessage": Param("str", "exception_message"),
        "executable": Param("bool", _flag(retries__gt=0, suspended=False)),
        "active": Param("bool", _flag(suspended=False)),
        "suspended": Param("bool", _flag(suspended=True)),
        **TENANT_PARAMS,
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
)

JOB_DEFINITION = QuerySpec(
    params={
        "jobDefinitionId": Param("str", "id"),
        "activityIdIn": Param("list", "activity_id__in"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition__key"),
        "jobType": Param("str", "job_type"),
        "jobConfiguration": Param("str", "job_configuration"),
        "active": Param("bool", _flag(suspended=False)),
        "suspended": Param("bool", _flag(suspended=True)),
        "withOverridingJobPriority": Param("bool", _flag(overriding_job_priority__isnull=False)),
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
)

INCIDENT = QuerySpec(
    params={
        "incidentId": Param("str", "id"),
        "incidentType": Param("str", "incident_type"),
        "incidentMessage": Param("str", "incident_message"),
        "incidentMessageLike": Param("str", _like("incident_message")),
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
    },
    sort_fields={"timestamp": "timestamp"},
    default_order=("timestamp", "id"),
)


def visible(model, user) -> QuerySet:
    """Every row of model the user may read (tenant filter)."""
    return model.objects.filter(tenant_q(user))


def query(spec: QuerySpec, model, user, data: Mapping, *, from_body: bool) -> QuerySet:
    """Filtered and ordered rows of model for a GET query string or a POST query body."""
    values = spec.parse(data, from_body=from_body)
    order = spec.ordering(data, from_body=from_body)
    return spec.filter(visible(model, user), values).order_by(*order)


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
