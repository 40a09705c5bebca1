"""Deployments: parse BPMN resources and create versioned process definitions."""
from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from engine.bpmn import BpmnParseError, ParsedProcess, parse_bpmn
from engine.errors import BadUserRequest
from engine.models import Deployment, JobDefinition, ProcessDefinition, new_id
from engine.services.messages import start_subscriptions_deploy
from engine.services.oplog import CATEGORY_ADMIN, operation_log_write
from engine.services.runtime import ASYNC_CONTINUATION


def deployment_create(
    *,
    name: str,
    resources: list[tuple[str, bytes]],
    tenant_id: str | None = None,
    source: str = "",
    user_id: str | None = None,
) -> tuple[Deployment, list[ProcessDefinition]]:
    """Parse every resource first (nothing is written for an invalid one), then deploy them all."""
    if not resources:
        raise BadUserRequest("No deployment resources contained in the form upload.")
    parsed: list[tuple[str, bytes, ParsedProcess]] = []
    for filename, data in resources:
        if not filename.endswith((".bpmn", ".bpmn20.xml", ".xml")):
            raise BadUserRequest(f"Resource '{filename}' is not a BPMN file (.bpmn or .bpmn20.xml)")
        try:
            processes = parse_bpmn(data, settings.BPMN_MAX_BYTES)
        except BpmnParseError as exc:
            raise BadUserRequest(f"Resource '{filename}': {exc}") from exc
        parsed.extend((filename, data, p) for p in processes)
    try:
        with transaction.atomic():
            return _deploy(name, parsed, tenant_id, source, user_id)
    except IntegrityError as exc:  # a concurrent deployment took the same version number
        raise BadUserRequest(f"Concurrent deployment of the same process key, please retry: {exc}") from exc


def _deploy(name, parsed, tenant_id, source, user_id):
    now = timezone.now()
    deployment = Deployment.objects.create(name=name, source=source, deployment_time=now, tenant_id=tenant_id)
    definitions = []
    for filename, data, process in parsed:
        latest = (
            ProcessDefinition.objects.filter(key=process.key, tenant_id=tenant_id).aggregate(v=Max("version"))["v"]
            or 0
        )
        version = latest + 1
        definition = ProcessDefinition.objects.create(
            id=f"{process.key}:{version}:{new_id()}",
            key=process.key,
            version=version,
            name=process.name,
            resource_name=filename,
            deployment=deployment,
            tenant_id=tenant_id,
            bpmn_xml=data.decode("utf-8", errors="replace"),
            graph=process.graph,
            history_time_to_live=process.history_time_to_live,
        )
        JobDefinition.objects.bulk_create(
            JobDefinition(
                process_definition=definition,
                activity_id=activity_id,
                job_type=ASYNC_CONTINUATION,
                job_configuration="async-before",
                tenant_id=tenant_id,
            )
            for activity_id, node in process.graph["activities"].items()
            if node["type"] == "serviceTask" and not node.get("topic")  # external tasks have no job
        )
        start_subscriptions_deploy(definition)  # message start events: the latest version's subscriptions
        definitions.append(definition)
    operation_log_write(
        user_id=user_id,
        operation_type="Create",
        entity_type="Deployment",
        category=CATEGORY_ADMIN,
        properties={"duplicateFilterEnabled": (None, False)},
        deployment_id=deployment.id,
        tenant_id=tenant_id,
    )
    return deployment, definitions
