"""Runtime statistics of a process definition per activity: tokens, failed jobs and incidents."""
from __future__ import annotations

from django.db.models import Count

from engine.models import ActivityInstance, Incident, Job, ProcessDefinition, ProcessInstance
from engine.selectors import visible


def activity_statistics(definition: ProcessDefinition, user, *, incident_type: str | None = None) -> list[dict]:
    """Per activity with a token, a failed job or an incident in the definition's running instances
    the user may see: {"id", "instances", "failedJobs", "incidents": [{"incidentType", "incidentCount"}]}.

    One GROUP BY query per count; incident_type keeps only incidents of that type. Sorted by activity id.
    """
    instances = visible(ProcessInstance, user).filter(process_definition_id=definition.id)
    tokens = (
        ActivityInstance.objects.filter(process_instance__in=instances)
        .values("activity_id").annotate(n=Count("id")).order_by()
    )
    failed = (
        visible(Job, user).filter(process_instance__in=instances, retries=0)
        .values("activity_id").annotate(n=Count("id")).order_by()
    )
    incidents = visible(Incident, user).filter(process_instance__in=instances)
    if incident_type is not None:
        incidents = incidents.filter(incident_type=incident_type)
    incident_counts = incidents.values("activity_id", "incident_type").annotate(n=Count("id")).order_by()
    result: dict[str, dict] = {}

    def row(activity_id: str | None) -> dict:
        return result.setdefault(activity_id, {"id": activity_id, "instances": 0, "failedJobs": 0, "incidents": []})

    for entry in tokens:
        row(entry["activity_id"])["instances"] = entry["n"]
    for entry in failed:
        row(entry["activity_id"])["failedJobs"] = entry["n"]
    for entry in incident_counts:
        row(entry["activity_id"])["incidents"].append({"incidentType": entry["incident_type"], "incidentCount": entry["n"]})
    for entry in result.values():
        entry["incidents"].sort(key=lambda i: i["incidentType"])
    return sorted(result.values(), key=lambda entry: entry["id"] or "")


def incident_total(entry: dict) -> int:
    return sum(i["incidentCount"] for i in entry["incidents"])
