"""Incidents and their history: every incident that goes is closed in HistoricIncident in the same statement set."""
from __future__ import annotations

from django.db.models import DateTimeField, QuerySet, Value
from django.utils import timezone

from engine.models import HistoricIncident, Incident

# Camunda's Incident.EXTERNAL_TASK_HANDLER_TYPE: an external task whose retries ran out (configuration: its id).
FAILED_EXTERNAL_TASK = "failedExternalTask"


def historic_incident_for(incident: Incident) -> HistoricIncident:
    return HistoricIncident(
        id=incident.id,
        incident_type=incident.incident_type,
        incident_message=incident.incident_message,
        create_time=incident.incident_timestamp,
        process_instance_id=incident.process_instance_id,
        process_definition_id=incident.process_definition_id,
        execution_id=incident.execution_id,
        activity_id=incident.activity_id,
        configuration=incident.configuration,
        job_definition_id=incident.job_definition_id,
        tenant_id=incident.tenant_id,
    )


def incident_record(incident: Incident) -> Incident:
    """Insert an incident with its open history row."""
    incident.save(force_insert=True)
    historic_incident_for(incident).save(force_insert=True)
    return incident


def incidents_remove(incidents: QuerySet, *, resolved: bool) -> None:
    """Delete the incidents of a queryset; their history ends as resolved (retries given) or deleted."""
    now = Value(timezone.now(), output_field=DateTimeField())
    state = HistoricIncident.RESOLVED if resolved else HistoricIncident.DELETED
    HistoricIncident.objects.filter(id__in=incidents.order_by().values("id"), state=HistoricIncident.OPEN).update(
        state=state, end_time=now
    )
    incidents._raw_delete(incidents.db)
