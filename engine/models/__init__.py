"""Engine rows: definitions, runtime, jobs, history, tenants."""
from engine.models.base import new_id
from engine.models.definitions import Deployment, ProcessDefinition
from engine.models.events import EventSubscription, ExternalTask
from engine.models.history import (
    HistoricActivityInstance,
    HistoricIncident,
    HistoricJobLog,
    HistoricProcessInstance,
    UserOperationLogEntry,
)
from engine.models.jobs import Job, JobDefinition
from engine.models.runtime import ActivityInstance, Incident, ProcessInstance
from engine.models.tenants import Tenant
from engine.models.variables import HistoricVariableInstance, HistoricVariableUpdate, VariableInstance

__all__ = [
    "ActivityInstance",
    "Deployment",
    "EventSubscription",
    "ExternalTask",
    "HistoricActivityInstance",
    "HistoricIncident",
    "HistoricJobLog",
    "HistoricProcessInstance",
    "HistoricVariableInstance",
    "HistoricVariableUpdate",
    "Incident",
    "Job",
    "JobDefinition",
    "ProcessDefinition",
    "ProcessInstance",
    "Tenant",
    "UserOperationLogEntry",
    "VariableInstance",
    "new_id",
]
