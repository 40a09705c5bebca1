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
from engine.models import ExternalTask


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


# --- external tasks (GET/POST /external-task, Camunda's ExternalTaskQueryDto) ---------------------


def _external_task_locked(value: bool) -> Q:
    from django.utils import timezone

    return Q(lock_expiration_time__isnull=False, lock_expiration_time__gt=timezone.now()) if value else Q()


def _external_task_not_locked(value: bool) -> Q:
    from django.utils import timezone

    return Q(lock_expiration_time__isnull=True) | Q(lock_expiration_time__lt=timezone.now()) if value else Q()


def _external_task_definition(lookup: str):
    return lambda value: Q(process_definition_id__in=ProcessDefinition.objects.filter(**{lookup: value}).values("id"))


def _external_task_variables(conditions, **ignore_case: bool) -> Q:
    """processVariables: the task's instance has, for every condition, a matching variable."""
    instances = ProcessInstance.objects.filter(f.variables(VariableInstance)(conditions, **ignore_case))
    return Q(process_instance_id__in=instances.values("pk"))


EXTERNAL_TASK = QuerySpec(
    params={
        "externalTaskId": Param("str", "id"),
        "externalTaskIdIn": Param("list", "id__in"),
        "activityId": Param("str", "activity_id"),
        "activityIdIn": Param("list", "activity_id__in"),
        "lockExpirationBefore": Param("date", "lock_expiration_time__lt"),
        "lockExpirationAfter": Param("date", "lock_expiration_time__gt"),
        "topicName": Param("str", "topic_name"),
        "locked": Param("bool", _external_task_locked),
        "notLocked": Param("bool", _external_task_not_locked),
        "executionId": Param("str", "execution_id"),
        "processInstanceId": Param("str", "process_instance_id"),
        "processInstanceIdIn": Param("list", "process_instance_id__in"),
        "processDefinitionKey": Param("str", "process_definition_key"),
        "processDefinitionKeyIn": Param("list", "process_definition_key__in"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionName": Param("str", _external_task_definition("name")),
        "processDefinitionNameLike": Param("str", _external_task_definition("name__like")),
        "active": Param("bool", f.flag(suspended=False)),
        "suspended": Param("bool", f.flag(suspended=True)),
        "withRetriesLeft": Param("bool", lambda v: Q(retries__isnull=True) | Q(retries__gt=0) if v else Q()),
        "noRetriesLeft": Param("bool", f.flag(retries=0)),
        "workerId": Param("str", "worker_id"),
        "tenantIdIn": Param("list", "tenant_id__in"),
        "priorityHigherThanOrEquals": Param("long", "priority__gte"),
        "priorityLowerThanOrEquals": Param("long", "priority__lte"),
        "processVariables": Param(parse_variables, _external_task_variables, uses=CASE),
        **VARIABLE_MODIFIERS,
    },
    sort_fields={
        "id": "id",
        "lockExpirationTime": "lock_expiration_time",
        "processInstanceId": "process_instance_id",
        "processDefinitionId": "process_definition_id",
        "processDefinitionKey": "process_definition_key",
        "tenantId": "tenant_id",
        "taskPriority": "priority",
        "createTime": "create_time",
    },
    default_order=("id",),
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
    "external-task": (EXTERNAL_TASK, ExternalTask),
}


# --- process variables: GET/POST /variable-instance, GET/POST /history/variable-instance -----------
# (Camunda's VariableInstanceQueryDto and HistoricVariableInstanceQueryDto.) Every variable of this
# engine belongs to a process instance: its execution, activity instance and variable scope are the
# instance itself, and no variable is local to a task, a case or (here) a batch.

from django.db.models import Exists, OuterRef  # noqa: E402
from django.db.models.functions import Upper  # noqa: E402

from engine.variable_filters import VariableCondition, _value_q  # noqa: E402
from engine.variables import TYPES as VARIABLE_TYPES  # noqa: E402


def _same_row(model, names_ignore_case: bool, values_ignore_case: bool) -> QuerySet:
    rows = model.objects.filter(pk=OuterRef("pk"))
    if names_ignore_case:
        rows = rows.annotate(upper_name=Upper("name"))
    if values_ignore_case:
        rows = rows.annotate(upper_text=Upper("text_value"))
    return rows


def variable_values(model):
    """variableValues: each condition on the variable row itself (its name and typed value)."""

    def apply(conditions, variableNamesIgnoreCase=False, variableValuesIgnoreCase=False) -> Q:
        rows = _same_row(model, bool(variableNamesIgnoreCase), bool(variableValuesIgnoreCase))
        for condition in conditions:
            name = Q(upper_name=condition.name.upper()) if variableNamesIgnoreCase else Q(name=condition.name)
            rows = rows.filter(name, _value_q(condition, bool(variableValuesIgnoreCase)))
        return Q(Exists(rows))

    return apply


def variable_filter_list(name: str, raw: object, from_body: bool):
    """parse_variables, refusing an operator that is not text as Camunda refuses an unknown one (a dict
    or list there would not even be comparable)."""
    if from_body and isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and not isinstance(item.get("operator"), (str, type(None))):
                raise BadUserRequest(f"Invalid variable comparator specified: {item['operator']}")
    return parse_variables(name, raw, from_body)


variable_filter_list.documents_as = parse_variables  # engine.rest.schema documents it as parse_variables


def _scalar(name: str, raw: object, from_body: bool) -> object:
    """A historic query's variableValue: text in a query string, any JSON scalar in a body."""
    if isinstance(raw, (dict, list)) or (not from_body and not isinstance(raw, str)):
        raise BadUserRequest(f"Cannot set query parameter '{name}' to value '{raw}'")
    return raw


def historic_variable_value(value, variableName=None, variableValuesIgnoreCase=False) -> Q:
    # Camunda's variableValueEquals(variableName, value): the value as sent (a string stays a string).
    condition = VariableCondition(variableName or "", "eq", value, dates=False)
    rows = _same_row(HistoricVariableInstance, False, bool(variableValuesIgnoreCase))
    return Q(Exists(rows.filter(_value_q(condition, bool(variableValuesIgnoreCase)))))


def historic_variable_name(lookup: str):
    """variableName / variableNameLike; variableNamesIgnoreCase compares upper-cased (Camunda's mapping)."""

    def apply(value: str, variableNamesIgnoreCase=False) -> Q:
        if not variableNamesIgnoreCase:
            return Q(**{f"name__{lookup}": value})
        rows = _same_row(HistoricVariableInstance, True, False).filter(**{f"upper_name__{lookup}": value.upper()})
        return Q(Exists(rows))

    return apply


def variable_types(values: list[str]) -> Q:
    # Camunda compares lower(VAR_TYPE_) with the lower-cased names.
    wanted = {v.lower() for v in values}
    return Q(type__in=[t for t in VARIABLE_TYPES if t.lower() in wanted])


def check_historic_variables(values: dict[str, object]) -> None:
    if "variableValue" in values and values.get("variableName") is None:
        raise BadUserRequest(
            "Only a single variable value parameter specified: variable name and value are required to be able "
            "to query after a specific variable value."
        )


VARIABLE_INSTANCE = QuerySpec(
    params={
        "variableName": Param("str", "name"),
        "variableNameLike": Param("str", f.like("name")),
        "variableValues": Param(
            variable_filter_list, variable_values(VariableInstance), uses=("variableNamesIgnoreCase", "variableValuesIgnoreCase")
        ),
        **VARIABLE_MODIFIERS,
        "processInstanceIdIn": Param("list", "process_instance_id__in"),
        "executionIdIn": Param("list", "process_instance_id__in"),
        "variableScopeIdIn": Param("list", "process_instance_id__in"),
        "activityInstanceIdIn": Param("list", "process_instance_id__in"),
        "taskIdIn": Param("list", f.no_instance),
        "caseExecutionIdIn": Param("list", f.no_instance),
        "caseInstanceIdIn": Param("list", f.no_instance),
        "tenantIdIn": Param("list", "tenant_id__in"),
    },
    sort_fields={
        "variableName": "name",
        "variableType": "type",
        "activityInstanceId": "process_instance_id",
        "tenantId": "tenant_id",
    },
    default_order=("id",),
    # Camunda keeps a set-variables batch's variables as variables of the batch; here they are
    # part of the batch's configuration, so no variable row answers batchIdIn.
    unsupported=frozenset({"batchIdIn"}),
)

HISTORIC_VARIABLE_INSTANCE = QuerySpec(
    params={
        "processInstanceId": Param("str", "process_instance_id"),
        "processInstanceIdIn": Param("list", "process_instance_id__in"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition_key"),
        "variableName": Param("str", historic_variable_name("exact"), uses=("variableNamesIgnoreCase",)),
        "variableNameLike": Param("str", historic_variable_name("like"), uses=("variableNamesIgnoreCase",)),
        "variableNameIn": Param("list", "name__in"),
        "variableValue": Param(_scalar, historic_variable_value, uses=("variableName", "variableValuesIgnoreCase")),
        **VARIABLE_MODIFIERS,
        "variableTypeIn": Param("list", variable_types),
        "executionIdIn": Param("list", "process_instance_id__in"),
        "activityInstanceIdIn": Param("list", "process_instance_id__in"),
        "taskIdIn": Param("list", f.no_instance),
        "caseInstanceId": Param("str", f.no_instance),
        "caseExecutionIdIn": Param("list", f.no_instance),
        "caseActivityIdIn": Param("list", f.no_instance),
        # Applied by the view: without it, variables removed from their instance (DELETED) are left out.
        "includeDeleted": Param("bool", f.modifier),
        **TENANT_PARAMS,
    },
    sort_fields={"instanceId": "process_instance_id", "variableName": "name", "tenantId": "tenant_id"},
    default_order=("id",),
    check=check_historic_variables,
)


# --- GET/POST /history/job-log (Camunda's HistoricJobLogQueryDto) ------------------------------------


def _job_log_deployment(value: str) -> Q:
    # The log rows name the process definition; its deployment is the definition's.
    return Q(process_definition_id__in=ProcessDefinition.objects.filter(deployment_id=value).values("id"))


HISTORIC_JOB_LOG = QuerySpec(
    params={
        "logId": Param("str", "id"),
        "jobId": Param("str", "job_id"),
        "jobExceptionMessage": Param("str", "job_exception_message"),
        "jobDefinitionId": Param("str", "job_definition_id"),
        "jobDefinitionType": Param("str", "job_definition_type"),
        "jobDefinitionConfiguration": Param("str", "job_definition_configuration"),
        "activityIdIn": Param("list", "activity_id__in"),
        "processInstanceId": Param("str", "process_instance_id"),
        "processDefinitionId": Param("str", "process_definition_id"),
        "processDefinitionKey": Param("str", "process_definition_key"),
        "deploymentId": Param("str", _job_log_deployment),
        # Camunda applies these only when true (false is no filter).
        "creationLog": Param("bool", f.flag(creation_log=True)),
        "failureLog": Param("bool", f.flag(failure_log=True)),
        "successLog": Param("bool", f.flag(success_log=True)),
        "deletionLog": Param("bool", f.flag(deletion_log=True)),
        "jobPriorityHigherThanOrEquals": Param("long", "job_priority__gte"),
        "jobPriorityLowerThanOrEquals": Param("long", "job_priority__lte"),
        "hostname": Param("str", "hostname"),
        **TENANT_PARAMS,
    },
    sort_fields={
        "timestamp": "timestamp",
        "jobId": "job_id",
        "jobDueDate": "job_due_date",
        "jobRetries": "job_retries",
        "jobPriority": "job_priority",
        "jobDefinitionId": "job_definition_id",
        "activityId": "activity_id",
        "processInstanceId": "process_instance_id",
        "processDefinitionId": "process_definition_id",
        "processDefinitionKey": "process_definition_key",
        "deploymentId": "deployment_id",  # annotated by the view (engine.rest.job_views)
        # Camunda's sequence counter of a job's log events; here their time, then their id.
        "occurrence": "timestamp",
        "tenantId": "tenant_id",
        "hostname": "hostname",
    },
    default_order=("timestamp", "id"),
    # The log rows keep no execution id and no failed activity id of their own.
    unsupported=frozenset({"executionIdIn", "failedActivityIdIn"}),
)


# --- message subscriptions: GET /event-subscription (+count), Camunda's EventSubscriptionQueryDto --------

from engine.models import EventSubscription  # noqa: E402


def event_subscription_tenants(ids: list[str], includeEventSubscriptionsWithoutTenantId: bool = False) -> Q:  # noqa: N803 (Camunda's name)
    return Q(tenant_id__in=ids) | Q(tenant_id__isnull=True) if includeEventSubscriptionsWithoutTenantId else Q(tenant_id__in=ids)


EVENT_SUBSCRIPTION = QuerySpec(
    params={
        "eventSubscriptionId": Param("str", "id"),
        "eventName": Param("str", "event_name"),
        "eventType": Param("str", "event_type"),
        "executionId": Param("str", "execution_id"),
        "processInstanceId": Param("str", "process_instance_id"),
        "activityId": Param("str", "activity_id"),
        "tenantIdIn": Param("list", event_subscription_tenants, uses=("includeEventSubscriptionsWithoutTenantId",)),
        "withoutTenantId": Param("bool", f.without_tenant),
        "includeEventSubscriptionsWithoutTenantId": Param("bool", f.modifier),
    },
    sort_fields={"created": "created_date", "tenantId": "tenant_id"},
    default_order=("id",),
)
RESOURCES["event-subscription"] = (EVENT_SUBSCRIPTION, EventSubscription)
