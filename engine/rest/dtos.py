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
        "historyTimeToLive": None,
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
        "removalTime": None,
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
