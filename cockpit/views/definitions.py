"""Process definitions: the list, and one definition's diagram with tokens, incidents and its instances."""
from __future__ import annotations

from collections import deque
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from engine.bpmn_layout import with_diagram
from engine.models import ActivityInstance, Incident, ProcessDefinition, ProcessInstance
from engine.selectors import visible
from engine.statistics import activity_statistics, incident_total

PAGE_SIZE = 50
UNKNOWN_ACTIVITY = "The process definition has no activity with id “{activity}”; showing all instances."


def _count_of(rows: QuerySet, field: str) -> Coalesce:
    """A correlated COUNT(*) of rows whose field is the outer definition's id (0 when none)."""
    counted = rows.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


@login_required
@require_GET
def definition_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    definitions = visible(ProcessDefinition, user).annotate(
        running=_count_of(visible(ProcessInstance, user), "process_definition_id"),
        incident_count=_count_of(visible(Incident, user).filter(process_instance__isnull=False), "process_definition_id"),
    ).order_by("key", "-version", "tenant_id", "id")
    page = Paginator(definitions, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cockpit/definitions.html", {"page": page})


def _activities(definition: ProcessDefinition, statistics: list[dict]) -> list[dict]:
    """Every flow node in process order (breadth first from the start event) with its counts."""
    graph = definition.graph
    nodes, flows = graph["activities"], graph["flows"]
    starts = [graph["start"]] if graph.get("start") in nodes else []
    seen, queue, order = set(starts), deque(starts), []
    while queue:
        current = queue.popleft()
        order.append(current)
        for flow_id in nodes[current]["outgoing"]:
            target = flows[flow_id]["target"]
            if target not in seen:
                seen.add(target)
                queue.append(target)
    order += sorted(set(nodes) - seen)
    counts = {row["id"]: row for row in statistics}
    return [
        {
            "id": activity_id,
            "name": nodes[activity_id]["name"],
            "type": nodes[activity_id]["type"],
            "tokens": counts[activity_id]["instances"] if activity_id in counts else 0,
            "incidents": incident_total(counts[activity_id]) if activity_id in counts else 0,
        }
        for activity_id in order
    ]


def _instances(definition: ProcessDefinition, user, activity: str | None) -> QuerySet:
    rows = visible(ProcessInstance, user).filter(process_definition_id=definition.id)
    if activity:
        rows = rows.filter(id__in=ActivityInstance.objects.filter(activity_id=activity).values("process_instance_id"))
    return rows.order_by("-start_time", "-id")


def _incidents_per_instance(instance_ids: list[str]) -> dict[str, int]:
    rows = Incident.objects.filter(process_instance_id__in=instance_ids).values("process_instance_id").annotate(n=Count("id")).order_by()
    return {row["process_instance_id"]: row["n"] for row in rows}


@login_required
@require_GET
def definition_detail(request: HttpRequest, definition_id: str) -> HttpResponse:
    definition = visible(ProcessDefinition, request.user).filter(pk=definition_id).first()
    if definition is None:
        raise Http404(f"No matching definition with id {definition_id}")
    activities = _activities(definition, activity_statistics(definition, request.user))
    activity = request.GET.get("activity") or None
    notice = None
    if activity is not None and activity not in definition.graph["activities"]:
        notice, activity = UNKNOWN_ACTIVITY.format(activity=activity), None
    page = Paginator(_instances(definition, request.user, activity), PAGE_SIZE).get_page(request.GET.get("page"))
    incidents = _incidents_per_instance([instance.id for instance in page])
    wizard = {"key": definition.key, "version": definition.id} | ({"activity": activity} if activity else {})
    context = {
        "definition": definition,
        "activities": activities,
        "activity": activity,
        "notice": notice,
        "page": page,
        "rows": [(instance, incidents.get(instance.id, 0)) for instance in page],
        "filter_query": urlencode({"activity": activity}) if activity else "",
        "wizard_url": f"{reverse('wizard')}?{urlencode(wizard)}",
        "diagram": {
            "xml": with_diagram(definition.bpmn_xml),
            "processKey": definition.key,
            "selected": activity,
            "activities": {a["id"]: {"tokens": a["tokens"], "incidents": a["incidents"]} for a in activities},
        },
    }
    return render(request, "cockpit/definition.html", context)
