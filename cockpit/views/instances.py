"""One process instance, running or ended: where its tokens are and everything that happened to it.

Reads only, tenant-filtered like every Cockpit page (engine.selectors.visible). Each section is
capped (SECTION_LIMIT rows, newest first where order matters) and says how many it left out, so an
instance with a long history still renders in a few queries.
"""
from __future__ import annotations

import json
from collections import Counter

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from batches.models import BatchItem, HistoricBatch
from engine.bpmn_layout import with_diagram
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    Job,
    ProcessDefinition,
    ProcessInstance,
    UserOperationLogEntry,
    VariableInstance,
)
from engine.selectors import visible
from engine.variables import typed_value

SECTION_LIMIT = 200


def _capped(rows) -> dict:
    """The first SECTION_LIMIT rows and how many more there are (one extra row read, no COUNT)."""
    found = list(rows[: SECTION_LIMIT + 1])
    return {"rows": found[:SECTION_LIMIT], "more": len(found) > SECTION_LIMIT}


def _shown(entry: dict) -> str:
    """A typed value as the page shows it: text as it is, anything else as JSON (true, 42, null, {...})."""
    value = entry.get("value")
    return value if isinstance(value, str) else json.dumps(value)


def _variables(instance_id: str, running: bool) -> dict:
    model = VariableInstance if running else HistoricVariableInstance
    rows = model.objects.filter(process_instance_id=instance_id).order_by("name")
    section = _capped(rows)
    section["rows"] = [
        {"name": row.name, "type": row.type, "value": _shown(typed_value(row))} for row in section["rows"]
    ]
    return section


def _batches(request: HttpRequest, instance_id: str) -> dict:
    """The batches that had this instance as an item, with the item's result."""
    visible_ids = visible(HistoricBatch, request.user).values("id")
    items = (
        BatchItem.objects.filter(target_id=instance_id, batch_id__in=visible_ids)
        .select_related("batch")
        .order_by("-batch__start_time", "-id")
    )
    return _capped(items)


def _diagram(definition: ProcessDefinition, tokens: list, incidents: list) -> dict:
    tokens_at = Counter(token.activity_id for token in tokens)
    incidents_at = Counter(incident.activity_id for incident in incidents)
    activities = {
        activity_id: {"tokens": tokens_at.get(activity_id, 0), "incidents": incidents_at.get(activity_id, 0)}
        for activity_id in definition.graph["activities"]
    }
    return {
        "xml": with_diagram(definition.bpmn_xml),
        "processKey": definition.key,
        "selected": None,
        "activities": activities,
        # A click on an activity opens the definition's instances with a token there.
        "filterPath": reverse("definition", args=[definition.id]),
    }


@login_required
@require_GET
def instance_detail(request: HttpRequest, instance_id: str) -> HttpResponse:
    user = request.user
    historic = visible(HistoricProcessInstance, user).filter(pk=instance_id).first()
    instance = (
        visible(ProcessInstance, user).select_related("process_definition").filter(pk=instance_id).first()
    )
    if historic is None and instance is None:
        raise Http404(f"No process instance with id {instance_id}")
    definition_id = instance.process_definition_id if instance else historic.process_definition_id
    definition = visible(ProcessDefinition, user).filter(pk=definition_id).first()
    running = instance is not None
    tokens = list(ActivityInstance.objects.filter(process_instance_id=instance_id).order_by("start_time", "id")[:SECTION_LIMIT])
    incidents = list(Incident.objects.filter(process_instance_id=instance_id).order_by("-incident_timestamp", "-id")[:SECTION_LIMIT])
    current = instance or historic  # a running instance's own row wins over its history
    context = {
        "instance_id": instance_id,
        "business_key": current.business_key,
        "tenant_id": current.tenant_id,
        "start_time": current.start_time,
        "instance": instance,
        "historic": historic,
        "definition": definition,
        "running": running,
        "tokens": tokens,
        "incidents": incidents,
        "resolved_incidents": _capped(
            HistoricIncident.objects.filter(process_instance_id=instance_id)
            .exclude(state=HistoricIncident.OPEN)
            .order_by("-end_time", "-id")
        ),
        "variables": _variables(instance_id, running),
        "jobs": _capped(Job.objects.filter(process_instance_id=instance_id).order_by("create_time", "id")),
        "external_tasks": _capped(ExternalTask.objects.filter(process_instance_id=instance_id).order_by("create_time", "id")),
        "subscriptions": _capped(
            EventSubscription.objects.filter(process_instance_id=instance_id).order_by("created_date", "id")
        ),
        "activities": _capped(
            HistoricActivityInstance.objects.filter(process_instance_id=instance_id).order_by("-start_time", "-id")
        ),
        "operations": _capped(
            UserOperationLogEntry.objects.filter(process_instance_id=instance_id).order_by("-timestamp", "-id")
        ),
        "batches": _batches(request, instance_id),
        "restarted_as": visible(HistoricProcessInstance, user)
        .filter(restarted_process_instance_id=instance_id)
        .values_list("id", flat=True)[:20],
        "diagram": _diagram(definition, tokens, incidents) if definition else None,
    }
    return render(request, "cockpit/instance.html", context)
