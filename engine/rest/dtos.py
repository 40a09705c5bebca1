"""Rows to Camunda's JSON objects (camelCase field names, Camunda's date format)."""
from __future__ import annotations

from engine.models import (
    ActivityInstance,
    Deployment,
    HistoricProcessInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    UserOperationLogEntry,
)
from engine.query import format_date


def process_definition_dto(d: ProcessDefinition) -> dict:
    return {
        "id": d.id,
        "key": d.key,
        "category": d.category or "http://bpmn.io/schema/bpmn",
        "description": None,
        "name": d.name or None,
        "version": d.version,
        "resource": d.resource_name,
        "deploymentId": d.deployment_id,
        "diagram": None,
        "suspended": d.suspended,
        "tenantId": d.tenant_id,
        "versionTag": None,
        "historyTimeToLive": d.history_time_to_live,
        "startableInTasklist": True,
    }


def deployment_dto(d: Deployment, definitions: list[ProcessDefinition]) -> dict:
    return {
        "id": d.id,
        "name": d.name or None,
        "source": d.source or None,
        "deploymentTime": format_date(d.deployment_time),
        "tenantId": d.tenant_id,
        "links": [],
        "deployedProcessDefinitions": {p.id: process_definition_dto(p) for p in definitions} or None,
        "deployedCaseDefinitions": None,
        "deployedDecisionDefinitions": None,
        "deployedDecisionRequirementsDefinitions": None,
    }


def process_instance_dto(p: ProcessInstance) -> dict:
    return {
        "id": p.id,
        "definitionId": p.process_definition_id,
        "businessKey": p.business_key,
        "caseInstanceId": None,
        "ended": False,
        "suspended": p.suspended,
        "tenantId": p.tenant_id,
        "links": [],
    }


def historic_process_instance_dto(h: HistoricProcessInstance) -> dict:
    return {
        "id": h.id,
        "rootProcessInstanceId": h.id,
        "superProcessInstanceId": None,
        "superCaseInstanceId": None,
        "caseInstanceId": None,
        "processDefinitionName": h.process_definition_name or None,
        "processDefinitionKey": h.process_definition_key,
        "processDefinitionVersion": h.process_definition_version,
        "processDefinitionId": h.process_definition_id,
        "businessKey": h.business_key,
        "startTime": format_date(h.start_time),
        "endTime": format_date(h.end_time),
        "removalTime": format_date(h.removal_time),
        "durationInMillis": h.duration_in_millis,
        "startUserId": h.start_user_id,
        "startActivityId": h.start_activity_id,
        "deleteReason": h.delete_reason,
        "tenantId": h.tenant_id,
        "state": h.state,
        "restartedProcessInstanceId": h.restarted_process_instance_id,  # Camunda 7.22+
    }


def job_dto(j: Job) -> dict:
    return {
        "id": j.id,
        "jobDefinitionId": j.job_definition_id,
        "processInstanceId": j.process_instance_id,
        "processDefinitionId": j.process_definition_id,
        "processDefinitionKey": j.process_definition_key,
        "executionId": j.execution_id,
        "exceptionMessage": j.exception_message,
        "failedActivityId": j.failed_activity_id,
        "retries": j.retries,
        "dueDate": format_date(j.due_date),
        "suspended": j.suspended,
        "priority": j.priority,
        "tenantId": j.tenant_id,
        "createTime": format_date(j.create_time),
        "batchId": None,
    }


def job_definition_dto(d: JobDefinition) -> dict:
    definition = d.process_definition
    return {
        "id": d.id,
        "processDefinitionId": d.process_definition_id,
        "processDefinitionKey": definition.key if definition else None,
        "activityId": d.activity_id,
        "jobType": d.job_type,
        "jobConfiguration": d.job_configuration,
        "overridingJobPriority": d.overriding_job_priority,
        "suspended": d.suspended,
        "tenantId": d.tenant_id,
        "deploymentId": definition.deployment_id if definition else None,
    }


def incident_dto(i: Incident) -> dict:
    return {
        "id": i.id,
        "processDefinitionId": i.process_definition_id,
        "processInstanceId": i.process_instance_id,
        "executionId": i.execution_id,
        "incidentTimestamp": format_date(i.incident_timestamp),
        "incidentType": i.incident_type,
        "activityId": i.activity_id,
        "failedActivityId": i.activity_id,
        "causeIncidentId": i.id,
        "rootCauseIncidentId": i.id,
        "configuration": i.configuration,
        "tenantId": i.tenant_id,
        "incidentMessage": i.incident_message,
        "jobDefinitionId": i.job_definition_id,
        "annotation": i.annotation,
    }


def user_operation_dto(e: UserOperationLogEntry) -> dict:
    return {
        "id": e.id,
        "deploymentId": e.deployment_id,
        "processDefinitionId": e.process_definition_id,
        "processDefinitionKey": e.process_definition_key,
        "processInstanceId": e.process_instance_id,
        "executionId": e.execution_id,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "taskId": e.task_id,
        "jobId": e.job_id,
        "jobDefinitionId": e.job_definition_id,
        "batchId": e.batch_id,
        "userId": e.user_id,
        "timestamp": format_date(e.timestamp),
        "operationId": e.operation_id,
        "externalTaskId": None,
        "operationType": e.operation_type,
        "entityType": e.entity_type,
        "property": e.property,
        "orgValue": e.org_value,
        "newValue": e.new_value,
        "removalTime": format_date(e.removal_time),
        "rootProcessInstanceId": e.process_instance_id,
        "category": e.category,
        "annotation": e.annotation,
        "tenantId": e.tenant_id,
    }


def task_dto(t: ActivityInstance) -> dict:
    instance = t.process_instance
    return {
        "id": t.id,
        "name": t.activity_name or None,
        "assignee": None,
        "created": format_date(t.start_time),
        "executionId": t.id,
        "processInstanceId": t.process_instance_id,
        "processDefinitionId": instance.process_definition_id,
        "taskDefinitionKey": t.activity_id,
        "suspended": instance.suspended,
        "tenantId": instance.tenant_id,
    }


def external_task_dto(t) -> dict:
    """Camunda's ExternalTaskDto (the token is both the execution and the activity instance)."""
    return {
        "activityId": t.activity_id,
        "activityInstanceId": t.execution_id,
        "errorMessage": t.error_message,
        "executionId": t.execution_id,
        "id": t.id,
        "lockExpirationTime": format_date(t.lock_expiration_time),
        "createTime": format_date(t.create_time),
        "processDefinitionId": t.process_definition_id,
        "processDefinitionKey": t.process_definition_key,
        "processDefinitionVersionTag": None,
        "processInstanceId": t.process_instance_id,
        "retries": t.retries,
        "suspended": t.suspended,
        "workerId": t.worker_id,
        "topicName": t.topic_name,
        "tenantId": t.tenant_id,
        "priority": t.priority,
        "businessKey": t.business_key,
    }


def locked_external_task_dto(locked) -> dict:
    """Camunda's LockedExternalTaskDto of an engine.services.external_tasks.LockedTask.

    Camunda never fills `suspended` here (LockedExternalTaskDto.fromLockedExternalTask): always false,
    which is also true, since a suspended task is never fetched.
    """
    t = locked.task
    return {
        **external_task_dto(t),
        "errorDetails": t.error_details,
        "suspended": False,
        "variables": {
            name: {"type": value["type"], "value": value["value"], "valueInfo": {}} for name, value in locked.variables.items()
        },
        "extensionProperties": locked.extension_properties,
    }


# --- process variables (Camunda's VariableValueDto, VariableInstanceDto, HistoricVariableInstanceDto) ---


def variable_value_dto(row) -> dict:
    """{"type", "value", "valueInfo"}: Camunda's VariableValueDto of a stored variable (valueInfo is
    empty for every type this engine stores; Json values are their JSON text)."""
    from engine.variables import typed_value

    typed = typed_value(row)
    return {"type": typed["type"], "value": typed["value"], "valueInfo": {}}


def variable_instance_dto(v) -> dict:
    """A VariableInstance (select_related process_instance): every variable is the instance's own,
    so its execution, activity instance and scope are the instance."""
    return {
        "id": v.id,
        "name": v.name,
        **variable_value_dto(v),
        "processDefinitionId": v.process_instance.process_definition_id,
        "processInstanceId": v.process_instance_id,
        "executionId": v.process_instance_id,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "taskId": None,
        "batchId": None,
        "activityInstanceId": v.process_instance_id,
        "errorMessage": None,
        "tenantId": v.tenant_id,
    }


def historic_variable_instance_dto(h) -> dict:
    return {
        "id": h.id,
        "name": h.name,
        **variable_value_dto(h),
        "processDefinitionKey": h.process_definition_key,
        "processDefinitionId": h.process_definition_id,
        "processInstanceId": h.process_instance_id,
        "executionId": h.process_instance_id,
        "activityInstanceId": h.process_instance_id,
        "caseDefinitionKey": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "taskId": None,
        "errorMessage": None,
        "tenantId": h.tenant_id,
        "state": h.state,
        "createTime": format_date(h.create_time),
        "removalTime": format_date(h.removal_time),
        "rootProcessInstanceId": h.process_instance_id,
    }


def historic_job_log_dto(h) -> dict:
    """Camunda's HistoricJobLogDto. deploymentId comes from the view's annotation (the definition's)."""
    # Jobs without a process definition but with a job definition are batch jobs (seed, monitor,
    # execution): their job definition's configuration is the batch id, as Camunda's batchId.
    batch_id = h.job_definition_configuration if h.process_definition_id is None and h.job_definition_id else None
    return {
        "id": h.id,
        "timestamp": format_date(h.timestamp),
        "removalTime": format_date(h.removal_time),
        "jobId": h.job_id,
        "jobDueDate": format_date(h.job_due_date),
        "jobRetries": h.job_retries,
        "jobPriority": h.job_priority,
        "jobExceptionMessage": h.job_exception_message,
        # The executor records a failure with the failing activity; other log rows keep none.
        "failedActivityId": h.activity_id if h.failure_log else None,
        "jobDefinitionId": h.job_definition_id,
        "jobDefinitionType": h.job_definition_type,
        "jobDefinitionConfiguration": h.job_definition_configuration,
        "activityId": h.activity_id,
        "executionId": None,  # not kept by this engine's job log
        "processInstanceId": h.process_instance_id,
        "processDefinitionId": h.process_definition_id,
        "processDefinitionKey": h.process_definition_key,
        "deploymentId": getattr(h, "deployment_id", None),
        "rootProcessInstanceId": h.process_instance_id,  # no call activities: every instance is a root
        "tenantId": h.tenant_id,
        "hostname": h.hostname,
        "batchId": batch_id,
        "creationLog": h.creation_log,
        "failureLog": h.failure_log,
        "successLog": h.success_log,
        "deletionLog": h.deletion_log,
    }


def event_subscription_dto(e) -> dict:
    """Camunda's EventSubscriptionDto (an EventSubscription row)."""
    return {
        "id": e.id,
        "eventType": e.event_type,
        "eventName": e.event_name,
        "executionId": e.execution_id,
        "processInstanceId": e.process_instance_id,
        "activityId": e.activity_id,
        "createdDate": format_date(e.created_date),
        "tenantId": e.tenant_id,
    }
