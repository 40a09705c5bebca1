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
from engine.models import ExternalTask
from engine.rest import external_task_views as et

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

ExternalTaskList, ExternalTaskCount = query_resource(
    "ExternalTask", s.EXTERNAL_TASK, ExternalTask, dtos.external_task_dto, allow_post=True
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

# Message correlation and message subscriptions (engine.rest.message_views, engine.services.messages).
from engine.models import EventSubscription  # noqa: E402
from engine.rest import message_views  # noqa: E402

EventSubscriptionList, EventSubscriptionCount = query_resource(
    "EventSubscription", s.EVENT_SUBSCRIPTION, EventSubscription, dtos.event_subscription_dto
)
urlpatterns += [
    path("message", message_views.MessageCorrelate.as_view()),
    path("event-subscription", EventSubscriptionList.as_view()),
    path("event-subscription/count", EventSubscriptionCount.as_view()),
]

# Process variables: one instance's typed variables and the variable queries (engine.rest.variable_views).
from engine.rest import variable_views as vv  # noqa: E402

urlpatterns += [
    path("process-instance/<str:pk>/variables", vv.ProcessInstanceVariables.as_view()),
    path("process-instance/<str:pk>/variables/<str:name>", vv.ProcessInstanceVariable.as_view()),
    path("variable-instance", vv.VariableInstanceList.as_view()),
    path("variable-instance/count", vv.VariableInstanceCount.as_view()),
    path("variable-instance/<str:pk>", vv.VariableInstanceDetail.as_view()),
    path("history/variable-instance", vv.HistoricVariableInstanceList.as_view()),
    path("history/variable-instance/count", vv.HistoricVariableInstanceCount.as_view()),
    path("history/variable-instance/<str:pk>", vv.HistoricVariableInstanceDetail.as_view()),
]

# Job controls and the job log (engine.rest.job_views). First: its fixed segments (job/suspended,
# job-definition/suspended) must win over the {id} routes above.
from engine.rest import job_views  # noqa: E402

urlpatterns = job_views.urlpatterns + urlpatterns

# The external task API (engine/rest/external_task_views.py); POST external-task/retries-async is a batch route.
urlpatterns += [
    path("external-task", ExternalTaskList.as_view()),
    path("external-task/count", ExternalTaskCount.as_view()),
    path("external-task/fetchAndLock", et.ExternalTaskFetchAndLock.as_view()),
    path("external-task/topic-names", et.ExternalTaskTopicNames.as_view()),
    path("external-task/retries", et.ExternalTaskRetriesSync.as_view()),
    path("external-task/<str:pk>", et.ExternalTaskDetail.as_view()),
    path("external-task/<str:pk>/errorDetails", et.ExternalTaskErrorDetails.as_view()),
    path("external-task/<str:pk>/complete", et.ExternalTaskComplete.as_view()),
    path("external-task/<str:pk>/failure", et.ExternalTaskFailure.as_view()),
    path("external-task/<str:pk>/bpmnError", et.ExternalTaskBpmnError.as_view()),
    path("external-task/<str:pk>/extendLock", et.ExternalTaskExtendLock.as_view()),
    path("external-task/<str:pk>/lock", et.ExternalTaskLock.as_view()),
    path("external-task/<str:pk>/unlock", et.ExternalTaskUnlock.as_view()),
    path("external-task/<str:pk>/retries", et.ExternalTaskRetries.as_view()),
    path("external-task/<str:pk>/priority", et.ExternalTaskPriority.as_view()),
]

# History time to live, history cleanup and the cleanable process instance report (engine.rest.history_views);
# the batch report is routed in batches/rest/urls.py, before history/batch/{id}.
from engine.rest import history_views as hv  # noqa: E402

urlpatterns += [
    path("process-definition/<str:pk>/history-time-to-live", hv.ProcessDefinitionHistoryTimeToLive.as_view()),
    path("process-definition/key/<str:key>/history-time-to-live", hv.ProcessDefinitionHistoryTimeToLive.as_view()),
    path(
        "process-definition/key/<str:key>/tenant-id/<str:tenant_id>/history-time-to-live",
        hv.ProcessDefinitionHistoryTimeToLive.as_view(),
    ),
    path("history/cleanup", hv.HistoryCleanup.as_view()),
    path("history/cleanup/job", hv.HistoryCleanupJob.as_view()),
    path("history/cleanup/jobs", hv.HistoryCleanupJobs.as_view()),
    path("history/cleanup/configuration", hv.HistoryCleanupConfiguration.as_view()),
    path("history/process-definition/cleanable-process-instance-report", hv.CleanableProcessInstanceReport.as_view()),
    path("history/process-definition/cleanable-process-instance-report/count", hv.CleanableProcessInstanceReportCount.as_view()),
]
