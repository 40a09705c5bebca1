"""The engine REST API: Camunda paths, fields, dates, sorting, paging, errors, auth and tenants."""
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from engine.models import HistoricProcessInstance, Job, ProcessInstance, UserOperationLogEntry
from engine.rest import reserved
from engine.services.modification import instance_modify
from tests.support.factories import LINEAR, bpmn, deploy, job_of, run_jobs, start

pytestmark = pytest.mark.django_db
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
R = "/engine-rest"


def assert_error(response, status, type_name, fragment):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"type", "message", "code"}
    assert body["type"] == type_name
    assert fragment in body["message"], body["message"]


def failed_instance(definition, **variables):
    instance = start(definition, fail=True, **variables)
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    run_jobs()
    return instance


# --- authentication ---------------------------------------------------------------------------


def test_anonymous_requests_get_401_with_camunda_body(db):
    response = APIClient().get(f"{R}/process-instance")
    assert_error(response, 401, "AuthenticationException", "credentials")
    assert response["WWW-Authenticate"].startswith("Basic")


def test_wrong_password_gets_401(admin_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic YWxpY2UtYWRtaW46d3Jvbmc=")
    assert client.get(f"{R}/process-instance").status_code == 401


def test_session_authentication_works(admin_user, client):
    client.force_login(admin_user)
    assert client.get(f"{R}/process-instance/count").json() == {"count": 0}


# --- deployment and definitions ----------------------------------------------------------------


def upload(api, xml: str, name="proc.bpmn", **fields):
    data = {"deployment-name": "d", "data": SimpleUploadedFile(name, xml.encode(), "application/xml"), **fields}
    return api.post(f"{R}/deployment/create", data, format="multipart")


def test_deployment_create_deploys_a_versioned_definition(api):
    first = upload(api, bpmn(LINEAR, "invoice"))
    second = upload(api, bpmn(LINEAR, "invoice"))
    assert first.status_code == 200, first.content
    body = second.json()
    [definition] = body["deployedProcessDefinitions"].values()
    assert (definition["key"], definition["version"], definition["resource"]) == ("invoice", 2, "proc.bpmn")
    assert DATE.match(body["deploymentTime"])
    listed = api.get(f"{R}/process-definition", {"key": "invoice", "sortBy": "version", "sortOrder": "desc"}).json()
    assert [d["version"] for d in listed] == [2, 1]
    assert api.get(f"{R}/process-definition/count", {"latestVersion": "true"}).json() == {"count": 1}
    assert api.get(f"{R}/process-definition/{definition['id']}").json()["id"] == definition["id"]


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        (bpmn('<bpmn:startEvent id="s"/><bpmn:boundaryEvent id="b"/>'), "Unsupported BPMN element 'boundaryEvent' (id 'b')"),
        ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "DTDs and entities are not allowed"),
        ("<<<", "not well-formed"),
    ],
)
def test_invalid_bpmn_is_a_400_naming_the_resource_and_problem(api, xml, fragment):
    response = upload(api, xml)
    assert_error(response, 400, "InvalidRequestException", "Resource 'proc.bpmn'")
    assert fragment in response.json()["message"]


def test_deployment_without_files_is_a_400(api):
    response = api.post(f"{R}/deployment/create", {"deployment-name": "x"}, format="multipart")
    assert_error(response, 400, "InvalidRequestException", "No deployment resources")


def test_deployment_needs_permission(viewer_api):
    assert_error(upload(viewer_api, bpmn(LINEAR)), 403, "AuthorizationException", "engine.add_deployment")


def test_unknown_definition_is_404(api):
    assert_error(api.get(f"{R}/process-definition/nope"), 404, "InvalidRequestException", "nope")


# --- starting and querying instances ------------------------------------------------------------


def test_start_by_key_with_typed_variables_and_business_key(api):
    deploy(key="invoice")
    response = api.post(
        f"{R}/process-definition/key/invoice/start",
        {"businessKey": "B-1", "variables": {"amount": {"value": 5, "type": "Integer"}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["businessKey"] == "B-1" and body["ended"] is False and body["suspended"] is False
    from engine.services.variables import variables_of

    assert variables_of(body["id"]) == {"amount": {"value": 5, "type": "Integer"}}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"variables": {"amount": {"value": "x", "type": "Integer"}}}, "variables.amount"),
        ({"variables": {"amount": {"value": 1, "type": "Banana"}}}, "unsupported value type 'Banana'"),
        ({"variables": ["not", "an", "object"]}, "variables must be a JSON object"),
        ({"businessKey": 12}, "businessKey must be a string"),
    ],
)
def test_start_with_bad_input_is_a_400_naming_the_field(api, payload, fragment):
    deploy(key="invoice")
    response = api.post(f"{R}/process-definition/key/invoice/start", payload, format="json")
    assert_error(response, 400, "InvalidRequestException", fragment)
    assert not ProcessInstance.objects.exists()


def test_start_of_unknown_key_is_404(api):
    assert api.post(f"{R}/process-definition/key/nope/start", {}, format="json").status_code == 404


def test_malformed_json_is_a_400(api):
    deploy(key="invoice")
    response = api.post(f"{R}/process-definition/key/invoice/start", "{not json", content_type="application/json")
    assert_error(response, 400, "InvalidRequestException", "JSON parse error")


def test_process_instance_query_filters_sorts_and_pages(api):
    definition = deploy(key="invoice")
    other = deploy(key="other")
    a = start(definition, business_key="a")
    b = start(definition, business_key="b")
    c = failed_instance(definition)
    start(other, business_key="x")
    from engine.services.lifecycle import instances_set_suspended

    instances_set_suspended(instance_ids=[b.id], suspended=True)

    def ids(params):
        response = api.get(f"{R}/process-instance", params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()]

    assert set(ids({"processDefinitionKey": "invoice"})) == {a.id, b.id, c.id}
    assert ids({"businessKey": "a"}) == [a.id]
    assert ids({"suspended": "true"}) == [b.id]
    assert set(ids({"active": "true", "processDefinitionKey": "invoice"})) == {a.id, c.id}
    assert ids({"withIncident": "true"}) == [c.id]
    assert set(ids({"activityIdIn": "service"})) == {c.id}
    assert set(ids({"processInstanceIds": f"{a.id},{b.id}"})) == {a.id, b.id}
    assert ids({"processDefinitionId": other.id, "withoutTenantId": "true"}) != []
    ordered = ids({"processDefinitionKey": "invoice", "sortBy": "businessKey", "sortOrder": "asc"})
    assert ordered == [c.id, a.id, b.id]  # a missing business key sorts first on every database
    assert len(ids({"firstResult": 1, "maxResults": 2})) == 2
    assert api.get(f"{R}/process-instance/count", {"processDefinitionKey": "invoice"}).json() == {"count": 3}
    posted = api.post(
        f"{R}/process-instance?maxResults=1",
        {"processInstanceIds": [a.id, b.id], "sorting": [{"sortBy": "businessKey", "sortOrder": "desc"}]},
        format="json",
    ).json()
    assert [row["id"] for row in posted] == [b.id]
    count = api.post(f"{R}/process-instance/count", {"businessKey": "b"}, format="json")
    assert count.json() == {"count": 1}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"suspended": "maybe"}, "Cannot set query parameter 'suspended' to value 'maybe'"),
        ({"sortBy": "businessKey"}, "Only a single sorting parameter specified. sortBy and sortOrder required"),
        ({"sortOrder": "asc"}, "Only a single sorting parameter specified. sortBy and sortOrder required"),
        ({"sortBy": "color", "sortOrder": "asc"}, "Cannot set query parameter 'sortBy' to value 'color'"),
        ({"sortBy": "businessKey", "sortOrder": "up"}, "Cannot set query parameter 'sortOrder' to value 'up'"),
        ({"maxResults": "many"}, "Cannot set query parameter 'maxResults' to value 'many'"),
        ({"firstResult": "-1"}, "Cannot set query parameter 'firstResult' to value '-1'"),
        ({"maxResults": "21936947857991447139763577577013248"}, "Cannot set query parameter 'maxResults' to value '21936947857991447139763577577013248'"),
    ],
)
def test_invalid_query_parameters_are_400s_with_camunda_messages(api, params, message):
    assert_error(api.get(f"{R}/process-instance", params), 400, "InvalidRequestException", message)


def test_invalid_post_query_body_is_a_400(api):
    response = api.post(f"{R}/process-instance", {"processInstanceIds": ["a", None]}, format="json")
    assert_error(response, 400, "InvalidRequestException", "processInstanceIds must not contain null values")
    response = api.post(f"{R}/process-instance", [1, 2], format="json")
    assert_error(response, 400, "InvalidRequestException", "Request body must be a JSON object")


def test_unknown_parameters_are_refused_naming_the_key(api):
    # Camunda ignores unknown keys (FAIL_ON_UNKNOWN_PROPERTIES off); we refuse them, so a misspelt
    # filter can never widen a destructive batch to every instance.
    response = api.get(f"{R}/process-instance", {"colour": "blue"})
    assert response.status_code == 400 and "'colour'" in response.json()["message"]


def test_instance_by_id_and_its_404(api):
    instance = start(deploy())
    assert api.get(f"{R}/process-instance/{instance.id}").json()["definitionId"] == instance.process_definition_id
    assert_error(api.get(f"{R}/process-instance/nope"), 404, "InvalidRequestException", "Process instance with id nope does not exist")


def test_suspend_modify_and_delete_one_instance(api):
    instance = start(deploy())
    url = f"{R}/process-instance/{instance.id}"
    assert api.put(f"{url}/suspended", {"suspended": True}, format="json").status_code == 204
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "SUSPENDED"
    assert_error(api.put(f"{url}/suspended", {"suspended": "yes"}, format="json"), 400, "InvalidRequestException", "suspended must be a boolean")
    api.put(f"{url}/suspended", {"suspended": False}, format="json")
    modification = {"instructions": [{"type": "startBeforeActivity", "activityId": "service"}]}
    assert api.post(f"{url}/modification", modification, format="json").status_code == 204
    assert Job.objects.filter(process_instance_id=instance.id).count() == 1
    bad = {"instructions": [{"type": "cancel", "activityId": "ghost"}]}
    assert_error(api.post(f"{url}/modification", bad, format="json"), 400, "InvalidRequestException", "activity 'ghost' does not exist")
    assert api.delete(f"{url}?deleteReason=obsolete").status_code == 204
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert (history.state, history.delete_reason) == ("EXTERNALLY_TERMINATED", "obsolete")
    assert api.delete(url).status_code == 404
    operations = set(UserOperationLogEntry.objects.values_list("operation_type", flat=True))
    assert {"Suspend", "Activate", "ModifyProcessInstance", "Delete"} <= operations


def test_task_list_and_complete(api):
    instance = start(deploy())
    [task] = api.get(f"{R}/task", {"processInstanceId": instance.id}).json()
    assert task["taskDefinitionKey"] == "task"
    assert api.post(f"{R}/task/{task['id']}/complete", {"variables": {}}, format="json").status_code == 204
    assert job_of(instance).activity_id == "service"
    assert api.post(f"{R}/task/nope/complete", {}, format="json").status_code == 404


# --- history ------------------------------------------------------------------------------------


def test_historic_process_instance_query_and_delete(api):
    definition = deploy()
    running = start(definition, business_key="r")
    finished = start(definition, business_key="f")
    instance_modify(instance_id=finished.id, instructions=[{"type": "cancel", "activityId": "task"}])
    rows = api.get(f"{R}/history/process-instance", {"finished": "true"}).json()
    assert [r["id"] for r in rows] == [finished.id]
    assert rows[0]["state"] == "EXTERNALLY_TERMINATED" and DATE.match(rows[0]["endTime"])
    assert [r["id"] for r in api.get(f"{R}/history/process-instance", {"unfinished": "true"}).json()] == [running.id]
    future = "2999-01-01T00:00:00.000+0000"
    assert api.get(f"{R}/history/process-instance/count", {"startedBefore": future}).json() == {"count": 2}
    assert api.get(f"{R}/history/process-instance/count", {"startedAfter": future}).json() == {"count": 0}
    assert api.post(f"{R}/history/process-instance/count", {"finishedBefore": future}, format="json").json() == {"count": 1}
    assert_error(
        api.get(f"{R}/history/process-instance", {"startedBefore": "yesterday"}),
        400,
        "InvalidRequestException",
        "Cannot set query parameter 'startedBefore' to value 'yesterday'",
    )
    assert_error(api.delete(f"{R}/history/process-instance/{running.id}"), 400, "InvalidRequestException", "still running")
    assert api.delete(f"{R}/history/process-instance/{finished.id}").status_code == 204
    assert api.get(f"{R}/history/process-instance/{finished.id}").status_code == 404


# --- jobs, job definitions, incidents, operation log ------------------------------------------------


def test_job_queries_retries_stacktrace_and_delete(api):
    definition = deploy()
    failed = failed_instance(definition)
    job = job_of(failed)
    assert [j["id"] for j in api.get(f"{R}/job", {"noRetriesLeft": "true"}).json()] == [job.id]
    assert [j["id"] for j in api.get(f"{R}/job", {"withException": "true"}).json()] == [job.id]
    assert api.get(f"{R}/job/count", {"jobDefinitionId": job.job_definition_id}).json() == {"count": 1}
    assert api.get(f"{R}/job", {"processInstanceId": failed.id}).json()[0]["retries"] == 0
    trace = api.get(f"{R}/job/{job.id}/stacktrace")
    assert trace.status_code == 200 and "ServiceTaskFailed" in trace.content.decode()
    [incident] = api.get(f"{R}/incident", {"processInstanceId": failed.id}).json()
    assert (incident["incidentType"], incident["configuration"]) == ("failedJob", job.id)
    assert_error(api.put(f"{R}/job/{job.id}/retries", {"retries": -1}, format="json"), 400, "InvalidRequestException", "retries")
    assert_error(api.put(f"{R}/job/{job.id}/retries", {}, format="json"), 400, "InvalidRequestException", "retries")
    assert_error(api.put(f"{R}/job/nope/retries", {"retries": 1}, format="json"), 404, "InvalidRequestException", "Job with id nope does not exist")
    assert api.put(f"{R}/job/{job.id}/retries", {"retries": 2}, format="json").status_code == 204
    assert api.get(f"{R}/incident/count").json() == {"count": 0}
    assert api.get(f"{R}/job/{job.id}").json()["retries"] == 2
    [entry] = api.get(f"{R}/history/user-operation", {"operationType": "SetJobRetries"}).json()
    assert (entry["property"], entry["orgValue"], entry["newValue"], entry["userId"]) == ("retries", "0", "2", "alice-admin")
    assert api.delete(f"{R}/job/{job.id}").status_code == 204
    assert api.delete(f"{R}/job/{job.id}").status_code == 404
    assert api.get(f"{R}/job/{job.id}/stacktrace").status_code == 404


def test_job_definition_retries_reset_failed_jobs(api):
    definition = deploy()
    job = job_of(failed_instance(definition))
    [job_definition] = api.get(f"{R}/job-definition", {"processDefinitionId": definition.id}).json()
    assert job_definition["activityId"] == "service" and job_definition["jobType"] == "async-continuation"
    response = api.put(f"{R}/job-definition/{job_definition['id']}/retries", {"retries": 3}, format="json")
    assert response.status_code == 204
    job.refresh_from_db()
    assert job.retries == 3
    assert api.put(f"{R}/job-definition/nope/retries", {"retries": 3}, format="json").status_code == 404


def test_writes_need_permissions(viewer_api, api):
    instance = start(deploy())
    assert_error(viewer_api.delete(f"{R}/process-instance/{instance.id}"), 403, "AuthorizationException", "engine.delete_processinstance")
    assert viewer_api.put(f"{R}/job/x/retries", {"retries": 1}, format="json").status_code == 403
    assert viewer_api.post(f"{R}/process-definition/key/proc/start", {}, format="json").status_code == 403


# --- tenants ------------------------------------------------------------------------------------


def test_reads_are_filtered_to_the_users_tenants(operator_api):
    mine = start(deploy(key="claims", tenant_id="tenant-a"))
    theirs = start(deploy(key="claims", tenant_id="tenant-b"))
    shared = start(deploy(key="shared"))
    ids = {row["id"] for row in operator_api.get(f"{R}/process-instance").json()}
    assert ids == {mine.id, shared.id}
    assert operator_api.get(f"{R}/process-instance/{theirs.id}").status_code == 404
    assert operator_api.get(f"{R}/history/process-instance/count").json() == {"count": 2}
    assert operator_api.get(f"{R}/process-instance", {"tenantIdIn": "tenant-b"}).json() == []
    assert operator_api.delete(f"{R}/process-instance/{theirs.id}").status_code == 404
    assert ProcessInstance.objects.filter(id=theirs.id).exists()
    assert operator_api.post(f"{R}/process-definition/key/claims/tenant-id/tenant-b/start", {}, format="json").status_code == 404
    assert operator_api.post(f"{R}/process-definition/key/claims/start", {}, format="json").status_code == 200


def test_deploying_for_a_foreign_tenant_is_refused(operator_api):
    response = upload(operator_api, bpmn(LINEAR), **{"tenant-id": "tenant-b"})
    assert_error(response, 403, "AuthorizationException", "tenant-b")
    assert upload(operator_api, bpmn(LINEAR), **{"tenant-id": "tenant-a"}).status_code == 200


def test_a_sorting_entry_of_the_wrong_type_is_a_400(api):
    # Found by the schemathesis run: a non-string sortBy used to be a 500.
    body = {"sorting": [{"sortBy": {}, "sortOrder": "asc"}]}
    assert_error(api.post(f"{R}/job/count", body, format="json"), 400, "InvalidRequestException", "sortBy")
    assert_error(api.post(f"{R}/process-instance", {"sorting": "id"}, format="json"), 400, "InvalidRequestException", "sorting")


def test_nul_characters_are_a_400_on_every_database(api):
    # Found by the schemathesis run on PostgreSQL, which cannot store NUL in text.
    assert_error(api.get(f"{R}/job", {"activityId": "a\x00b"}), 400, "InvalidRequestException", "activityId must not contain NUL")
    assert_error(api.get(f"{R}/job/a%00b"), 400, "InvalidRequestException", "id must not contain NUL")
    response = api.post(f"{R}/process-instance", {"processInstanceIds": ["x\x00"]}, format="json")
    assert_error(response, 400, "InvalidRequestException", "must not contain NUL")


def test_a_body_over_the_limit_is_a_413_before_it_is_read(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"processInstanceIds": ["x" * 40] * 100}
    response = api.post(f"{R}/process-instance/delete", body, format="json")
    assert_error(response, 413, "InvalidRequestException", "larger than the limit of 1000 bytes")


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_paths_answer_camundas_json_404(api, method):
    response = getattr(api, method)(f"{R}/no-such-resource/at/all")
    assert_error(response, 404, "NotFoundException", "HTTP 404 Not Found")


@pytest.mark.parametrize("path", reserved.NOT_SERVED)
def test_camunda_paths_we_do_not_serve_are_never_read_as_ids(api, path):
    # e.g. /process-instance/{id} must not answer "Process instance with id 'suspended' does not exist".
    assert_error(api.get(f"{R}/{path}"), 404, "NotFoundException", "HTTP 404 Not Found")


@pytest.mark.parametrize(
    "path",
    ["process-instance/variables-async", "process-instance/message-async", "process-instance/delete-historic-query-based",
     "process-instance/job-retries-historic-query-based", "history/process-instance/set-removal-time",
     "history/batch/set-removal-time", "job/suspended", "job-definition/suspended"],
)
def test_fixed_camunda_paths_beside_id_routes_reach_their_own_resource(api, path):
    # Served now: a GET is that resource's 405 (they take POST/PUT), never an id lookup's 404.
    assert_error(api.get(f"{R}/{path}"), 405, "NotAllowedException", "HTTP 405 Method Not Allowed")


def test_a_wrong_method_is_camundas_405(api):
    assert_error(api.get(f"{R}/process-instance/delete"), 405, "NotAllowedException", "HTTP 405 Method Not Allowed")
    assert_error(api.delete(f"{R}/batch/statistics"), 405, "NotAllowedException", "HTTP 405 Method Not Allowed")


def test_unknown_paths_need_a_login_first(client):
    assert client.get(f"{R}/no-such-resource").status_code == 401


def test_deleting_an_unknown_instance_follows_fail_if_not_exists(api):
    assert_error(api.delete(f"{R}/process-instance/nope"), 404, "InvalidRequestException", "No process instance found for id 'nope': processInstance is null")
    assert api.delete(f"{R}/process-instance/nope?failIfNotExists=false").status_code == 204
    assert api.delete(f"{R}/process-instance/nope?failIfNotExists=FALSE").status_code == 204
    assert api.delete(f"{R}/history/process-instance/nope?failIfNotExists=false").status_code == 204
    instance = start(deploy())
    assert api.delete(f"{R}/process-instance/{instance.id}?skipCustomListeners=true&skipIoMappings=True").status_code == 204
