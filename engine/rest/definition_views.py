"""A process definition's BPMN XML (with a diagram) and its activity statistics, as Camunda serves them."""
from __future__ import annotations

from typing import ClassVar

from rest_framework.request import Request
from rest_framework.response import Response

from engine.bpmn_layout import with_diagram
from engine.errors import BadUserRequest
from engine.models import ProcessDefinition
from engine.query import UNKNOWN_PARAMETER, java_boolean
from engine.rest.base import CamundaView
from engine.statistics import activity_statistics

# Jackson's type id of Camunda's StatisticsResultDto subclasses (@JsonTypeInfo use = CLASS).
ACTIVITY_STATISTICS_CLASS = "org.camunda.bpm.engine.rest.dto.repository.ActivityStatisticsResultDto"
BOTH_INCIDENT_PARAMETERS = "Only one of the query parameter includeIncidents or includeIncidentsForType can be set."
STATISTICS_PARAMETERS = ("failedJobs", "incidents", "incidentsForType")

XML_RESPONSE = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "bpmn20Xml": {"type": "string"}},
    "required": ["id", "bpmn20Xml"],
}
INCIDENT_STATISTICS = {
    "type": "object",
    "properties": {"incidentType": {"type": "string"}, "incidentCount": {"type": "integer", "minimum": 0}},
    "required": ["incidentType", "incidentCount"],
}
STATISTICS_RESPONSE = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "@class": {"type": "string"},
            "id": {"type": "string", "nullable": True},
            "instances": {"type": "integer", "minimum": 0},
            "failedJobs": {"type": "integer", "minimum": 0},
            "incidents": {"type": "array", "items": INCIDENT_STATISTICS},
        },
        "required": ["id", "instances", "failedJobs", "incidents"],
    },
}


def definition_not_found(pk: str) -> str:
    return f"No matching definition with id {pk}"


def refuse_unknown(request: Request, known: tuple[str, ...]) -> None:
    """A query key these endpoints cannot answer is a 400 naming it, never silently ignored."""
    for name in request.query_params:
        if name not in known:
            raise BadUserRequest(UNKNOWN_PARAMETER.format(name=name))


def boolean_parameter(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": description}


class ProcessDefinitionXml(CamundaView):
    """GET /process-definition/{id}/xml: the BPMN 2.0 XML, with a generated diagram when it has none."""

    response_schema: ClassVar[dict] = {"get": ("200", XML_RESPONSE)}

    def get(self, request: Request, pk: str) -> Response:
        refuse_unknown(request, ())
        definition = self.visible_or_404(ProcessDefinition, pk, definition_not_found(pk))
        return Response({"id": definition.id, "bpmn20Xml": with_diagram(definition.bpmn_xml)})


class ProcessDefinitionStatistics(CamundaView):
    """GET /process-definition/{id}/statistics: Camunda's ActivityStatisticsResultDto per activity."""

    query_parameters: ClassVar[dict] = {
        "get": [
            boolean_parameter("failedJobs", "true includes the number of failed jobs (retries 0) per activity."),
            boolean_parameter("incidents", "true includes the incidents per type; not together with incidentsForType."),
            {"name": "incidentsForType", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "Includes the incidents of this type only; not together with incidents."},
        ]
    }
    response_schema: ClassVar[dict] = {"get": ("200", STATISTICS_RESPONSE)}

    def get(self, request: Request, pk: str) -> Response:
        params = request.query_params
        refuse_unknown(request, STATISTICS_PARAMETERS)
        if "incidents" in params and "incidentsForType" in params:
            raise BadUserRequest(BOTH_INCIDENT_PARAMETERS)
        definition = self.visible_or_404(ProcessDefinition, pk, definition_not_found(pk))
        with_failed_jobs = java_boolean(params.get("failedJobs"))
        with_incidents = java_boolean(params.get("incidents")) or "incidentsForType" in params
        rows = activity_statistics(definition, request.user, incident_type=params.get("incidentsForType"))
        result = []
        for row in rows:
            dto = {
                "@class": ACTIVITY_STATISTICS_CLASS,
                "id": row["id"],
                "instances": row["instances"],
                "failedJobs": row["failedJobs"] if with_failed_jobs else 0,
                "incidents": row["incidents"] if with_incidents else [],
            }
            if dto["instances"] or dto["failedJobs"] or dto["incidents"]:
                result.append(dto)
        return Response(result)
