"""GET /process-definition/{id}/xml and /statistics: Camunda's bodies, counts per activity, tenants, 400s and 404s."""
import pytest
from defusedxml import ElementTree as SafeET
from rest_framework.test import APIClient

from engine.bpmn_layout import BPMNDI_NS
from engine.models import Incident
from engine.rest.definition_views import ACTIVITY_STATISTICS_CLASS, BOTH_INCIDENT_PARAMETERS
from engine.services.modification import instance_modify
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def assert_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] == "InvalidRequestException" and fragment in body["message"], body


def failed_instance(definition):
    """An instance with a token in "task" and a failed job (retries 0, a failedJob incident) in "service"."""
    instance = start(definition, fail=True)
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    run_jobs()
    return instance


def test_xml_is_served_with_a_generated_diagram(api):
    definition = deploy()
    response = api.get(f"{R}/process-definition/{definition.id}/xml")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "bpmn20Xml"} and body["id"] == definition.id
    assert definition.bpmn_xml.split("</bpmn:process>")[0] in body["bpmn20Xml"]
    shapes = SafeET.fromstring(body["bpmn20Xml"].encode()).iter(f"{{{BPMNDI_NS}}}BPMNShape")
    assert {s.get("bpmnElement") for s in shapes} == {"start", "task", "service", "end"}


def test_statistics_count_tokens_failed_jobs_and_incidents_per_activity(api):
    definition = deploy()
    for _ in range(3):
        start(definition)
    failed_instance(definition)
    start(deploy())  # another version: not counted
    plain = api.get(f"{R}/process-definition/{definition.id}/statistics").json()
    assert plain == [
        {"@class": ACTIVITY_STATISTICS_CLASS, "id": "service", "instances": 1, "failedJobs": 0, "incidents": []},
        {"@class": ACTIVITY_STATISTICS_CLASS, "id": "task", "instances": 4, "failedJobs": 0, "incidents": []},
    ]
    full = api.get(f"{R}/process-definition/{definition.id}/statistics", {"failedJobs": "true", "incidents": "true"}).json()
    assert {row["id"]: (row["instances"], row["failedJobs"], row["incidents"]) for row in full} == {
        "service": (1, 1, [{"incidentType": "failedJob", "incidentCount": 1}]),
        "task": (4, 0, []),
    }


def test_incidents_for_type_counts_only_that_type(api):
    definition = deploy()
    failed_instance(definition)
    url = f"{R}/process-definition/{definition.id}/statistics"
    [service] = [row for row in api.get(url, {"incidentsForType": "failedJob"}).json() if row["id"] == "service"]
    assert service["incidents"] == [{"incidentType": "failedJob", "incidentCount": 1}]
    [service] = [row for row in api.get(url, {"incidentsForType": "customType"}).json() if row["id"] == "service"]
    assert service["incidents"] == []
    assert Incident.objects.count() == 1


def test_incidents_and_incidents_for_type_together_are_a_400(api):
    definition = deploy()
    response = api.get(f"{R}/process-definition/{definition.id}/statistics", {"incidents": "false", "incidentsForType": "failedJob"})
    assert_error(response, 400, BOTH_INCIDENT_PARAMETERS)


@pytest.mark.parametrize("suffix", ["statistics", "xml"])
def test_an_unknown_query_parameter_is_a_400_naming_it(api, suffix):
    definition = deploy()
    response = api.get(f"{R}/process-definition/{definition.id}/{suffix}", {"rootIncidents": "true"})
    assert_error(response, 400, "'rootIncidents'")


@pytest.mark.parametrize("suffix", ["statistics", "xml"])
def test_an_unknown_definition_is_a_404(api, suffix):
    assert_error(api.get(f"{R}/process-definition/nope:1:x/{suffix}"), 404, "No matching definition with id nope:1:x")


@pytest.mark.parametrize("suffix", ["statistics", "xml"])
def test_another_tenants_definition_is_not_found(operator_api, suffix):
    theirs = deploy(tenant_id="tenant-b")
    start(theirs)
    assert_error(operator_api.get(f"{R}/process-definition/{theirs.id}/{suffix}"), 404, "No matching definition")
    ours = deploy(tenant_id="tenant-a")
    start(ours)
    assert operator_api.get(f"{R}/process-definition/{ours.id}/{suffix}").status_code == 200


def test_anonymous_requests_get_401(db):
    definition = deploy()
    assert APIClient().get(f"{R}/process-definition/{definition.id}/statistics").status_code == 401
