"""URL routes of the engine REST API (mounted at /engine-rest/)."""
from django.urls import path

from engine import selectors as s
from engine.models import (
    HistoricProcessInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    UserOperationLogEntry,
)
from engine.rest import definition_views, dtos, views
from engine.rest.base import query_resource

DefinitionList, DefinitionCount = query_resource(
    "ProcessDefinition", s.PROCESS_DEFINITION, ProcessDefinition, dtos.process_definition_dto
)
InstanceList, InstanceCount = query_resource(
    "ProcessInstance", s.PROCESS_INSTANCE, ProcessInstance, dtos.process_instance_dto, allow_post=True
)
HistoricList, HistoricCount = query_resource(
    "HistoricProcessInstance",
    s.HISTORIC_PROCESS_INSTANCE,
    HistoricProcessInstance,
    dtos.historic_process_instance_dto,
    allow_post=True,
)
JobList, JobCount = query_resource("Job", s.JOB, Job, dtos.job_dto, allow_post=True)
JobDefinitionList, JobDefinitionCount = query_resource(
    "JobDefinition", s.JOB_DEFINITION, JobDefinition, dtos.job_definition_dto, related=("process_definition",)
)
IncidentList, IncidentCount = query_resource("Incident", s.INCIDENT, Incident, dtos.incident_dto)
OperationList, OperationCount = query_resource(
    "UserOperation", s.USER_OPERATION, UserOperationLogEntry, dtos.user_operation_dto
)

urlpatterns = [
    path("process-definition", DefinitionList.as_view()),
    path("process-definition/count", DefinitionCount.as_view()),
    path("process-definition/key/<str:key>/start", views.ProcessDefinitionStart.as_view()),
    path("process-definition/key/<str:key>/tenant-id/<str:tenant_id>/start", views.ProcessDefinitionStart.as_view()),
    path("process-definition/<str:pk>/xml", definition_views.ProcessDefinitionXml.as_view()),
    path("process-definition/<str:pk>/statistics", definition_views.ProcessDefinitionStatistics.as_view()),
    path("process-definition/<str:pk>", views.ProcessDefinitionDetail.as_view()),
    path("deployment/create", views.DeploymentCreate.as_view()),
    path("process-instance", InstanceList.as_view()),
    path("process-instance/count", InstanceCount.as_view()),
    path("process-instance/<str:pk>", views.ProcessInstanceDetail.as_view()),
    path("process-instance/<str:pk>/suspended", views.ProcessInstanceSuspended.as_view()),
    path("process-instance/<str:pk>/modification", views.ProcessInstanceModification.as_view()),
    path("task", views.TaskList.as_view()),
    path("task/<str:pk>/complete", views.TaskComplete.as_view()),
    path("history/process-instance", HistoricList.as_view()),
    path("history/process-instance/count", HistoricCount.as_view()),
    path("history/process-instance/<str:pk>", views.HistoricProcessInstanceDetail.as_view()),
    path("job", JobList.as_view()),
    path("job/count", JobCount.as_view()),
    path("job/<str:pk>", views.JobDetail.as_view()),
    path("job/<str:pk>/retries", views.JobRetries.as_view()),
    path("job/<str:pk>/stacktrace", views.JobStacktrace.as_view()),
    path("job-definition", JobDefinitionList.as_view()),
    path("job-definition/count", JobDefinitionCount.as_view()),
    path("job-definition/<str:pk>", views.JobDefinitionDetail.as_view()),
    path("job-definition/<str:pk>/retries", views.JobDefinitionRetries.as_view()),
    path("incident", IncidentList.as_view()),
    path("incident/count", IncidentCount.as_view()),
    path("history/user-operation", OperationList.as_view()),
    path("history/user-operation/count", OperationCount.as_view()),
]
