"""set-variables: POST /process-instance/variables-async, its items, op log and runs on real workers."""
import time

import pytest
from django.db import transaction

from batches.models import Batch, BatchItem
from batches.operations import ENDPOINTS
from batches.services import batch_create, batch_set_suspended
from engine.models import HistoricVariableInstance, HistoricVariableUpdate, ProcessInstance, UserOperationLogEntry
from engine.services.instance_actions import instance_delete
from engine.services.lifecycle import NOT_RUNNING, instances_set_suspended
from engine.services.variables import variables_of
from tests.batches.test_cluster import finished
from tests.conftest import client_for
from tests.support.cluster import wait_for
from tests.support.factories import deploy, run_jobs, start

R = "/engine-rest"
PATH = "process-instance/variables-async"
SET = {"status": {"value": "checked", "type": "String"}, "amount": {"value": "12", "type": "Long"}}


def ended(definition):
    instance = start(definition)
    instance_delete(instance=instance, delete_reason="gone", user_id="x")
    return instance


def post(api, body):
    return api.post(f"{R}/{PATH}", body, format="json")


@pytest.mark.django_db
def test_the_batch_sets_typed_variables_on_every_running_instance(api, admin_user, batch_sizes):
    batch_sizes(per_seed=10, invocations=2)
    definition = deploy()
    overwritten = start(definition, amount=1)
    suspended = start(definition)
    instances_set_suspended(instance_ids=[suspended.id], suspended=True)
    by_query = start(deploy(key="other"))
    response = post(api, {
        "processInstanceIds": [overwritten.id, suspended.id, "unknown-id", ended(definition).id],
        "processInstanceQuery": {"processDefinitionKey": "other"},
        "variables": SET,
    })
    assert response.status_code == 200, response.content
    batch = response.json()
    assert (batch["type"], batch["totalJobs"], batch["invocationsPerBatchJob"]) == ("set-variables", 2, 2)
    # Camunda's log of the creation: SetVariables on ProcessInstance, three properties.
    entries = UserOperationLogEntry.objects.filter(batch_id=batch["id"])
    assert {(e.operation_type, e.entity_type, e.category) for e in entries} == {("SetVariables", "ProcessInstance", "Operator")}
    assert {e.property: e.new_value for e in entries} == {"nrOfInstances": "3", "nrOfVariables": "2", "async": "true"}
    run_jobs()
    expected = {"status": {"value": "checked", "type": "String"}, "amount": {"value": 12, "type": "Long"}}
    for instance in (overwritten, suspended, by_query):
        assert variables_of(instance.id) == expected
    revisions = HistoricVariableUpdate.objects.filter(process_instance_id=overwritten.id, name="amount")
    assert sorted(revisions.values_list("revision", "long_value")) == [(0, 1), (1, 12)]
    assert set(BatchItem.objects.filter(batch_id=batch["id"]).values_list("state", flat=True)) == {"SUCCEEDED"}
    assert ProcessInstance.objects.get(id=suspended.id).suspended  # still suspended
    # The batch's chunks write no per-instance entry (Camunda prevents them in its batch handler).
    assert not UserOperationLogEntry.objects.filter(entity_type="Variable").exists()


@pytest.mark.django_db
def test_the_historic_query_selects_only_unfinished_instances(api, batch_sizes):
    batch_sizes(per_seed=10, invocations=10)
    definition = deploy()
    running, done = start(definition), ended(definition)
    response = post(api, {"historicProcessInstanceQuery": {"processDefinitionId": definition.id}, "variables": SET})
    assert response.status_code == 200, response.content
    assert list(BatchItem.objects.filter(batch_id=response.json()["id"]).values_list("target_id", flat=True)) == [running.id]
    run_jobs()
    assert "status" in variables_of(running.id)
    assert not HistoricVariableInstance.objects.filter(process_instance_id=done.id, name="status").exists()


@pytest.mark.django_db
def test_an_instance_that_ends_before_its_turn_is_skipped_with_the_reason(admin_user, create, batch_sizes):
    batch_sizes(per_seed=10, invocations=10)
    definition = deploy()
    stays, goes = start(definition), start(definition)
    batch = create(PATH, {"processInstanceIds": [stays.id, goes.id], "variables": SET})
    instance_delete(instance=goes, delete_reason="ended meanwhile", user_id="x")
    run_jobs()
    items = dict(BatchItem.objects.filter(batch_id=batch.id).values_list("target_id", "state"))
    assert items == {stays.id: "SUCCEEDED", goes.id: "SKIPPED"}
    assert BatchItem.objects.get(batch_id=batch.id, target_id=goes.id).detail == NOT_RUNNING


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "type_name", "message"),
    [
        ({"processInstanceIds": ["x"]}, 400, "InvalidRequestException", "variables is null"),
        ({"processInstanceIds": ["x"], "variables": {}}, 400, "BadUserRequestException", "variables is empty"),
        ({"variables": SET}, 400, "InvalidRequestException", "No process instances found."),
        ({"processInstanceIds": ["unknown"], "variables": SET}, 400, "InvalidRequestException", "processInstanceIds is empty"),
        (
            {"processInstanceIds": ["x"], "variables": {"n": {"value": "x", "type": "Integer"}}}, 400, "InvalidRequestException",
            "Cannot set variables: Cannot convert value 'x' of type 'Integer' to java type java.lang.Integer",
        ),
        (
            {"processInstanceIds": ["x"], "variables": {"o": {"value": "rO0AB", "type": "Object"}}}, 400, "InvalidRequestException",
            "Cannot set variables: Unsupported value type 'Object': this engine stores no serialized Java objects; "
            "send structured data as type 'Json' (a JSON string)",
        ),
        (
            {"processInstanceIds": ["x"], "variables": {"f": {"value": "Zm9v", "type": "File"}}}, 400, "InvalidRequestException",
            "Cannot set variables: Unsupported value type 'File': this engine stores no file variables",
        ),
        (
            {"processInstanceQuery": {"colour": "red"}, "variables": SET}, 400, "InvalidRequestException",
            "processInstanceQuery: Unknown query parameter 'colour': the engine cannot answer it, so the query is refused "
            "rather than widened",
        ),
    ],
)
def test_bad_requests_are_camundas_400s_and_create_nothing(api, body, status, type_name, message):
    start(deploy())
    response = post(api, body)
    assert response.status_code == status, response.content
    assert (response.json()["type"], response.json()["message"]) == (type_name, message)
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_instances_of_other_tenants_are_never_selected(operator_api, viewer_api):
    theirs = start(deploy(key="b", tenant_id="tenant-b"))
    mine = start(deploy(key="a", tenant_id="tenant-a"))
    response = post(operator_api, {"processInstanceIds": [theirs.id], "variables": SET})
    assert response.json()["message"] == "processInstanceIds is empty"
    response = post(operator_api, {"processInstanceIds": [theirs.id, mine.id], "variables": SET})
    assert response.status_code == 200, response.content
    assert list(BatchItem.objects.filter(batch_id=response.json()["id"]).values_list("target_id", flat=True)) == [mine.id]
    assert response.json()["tenantId"] == "tenant-a"
    assert post(viewer_api, {"processInstanceIds": [mine.id], "variables": SET}).status_code == 403


# --- on real workers (SQLite + ORM broker, PostgreSQL + Redis) --------------------------------------


@pytest.mark.cluster
def test_a_set_variables_batch_runs_on_real_workers_and_skips_ended_instances(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    definition = deploy()
    instances = [start(definition, amount=n) for n in range(6)]
    instances_set_suspended(instance_ids=[instances[0].id], suspended=True)
    response = client_for(admin_user).post(f"{R}/{PATH}", {
        "processInstanceQuery": {"processDefinitionId": definition.id},
        "variables": {"amount": {"value": 99, "type": "Integer"}, "reviewed": {"value": True, "type": "Boolean"}},
    }, format="json")
    assert response.status_code == 200, response.content
    batch = response.json()
    assert batch["totalJobs"] == 3
    instance_delete(instance=instances[5], delete_reason="ended before the batch ran", user_id="x")
    cluster(workers=2)
    historic = finished(batch["id"])
    assert (historic.final_state, historic.items_succeeded, historic.items_skipped) == ("completed", 5, 1)
    for instance in instances[:5]:
        assert variables_of(instance.id) == {
            "amount": {"value": 99, "type": "Integer"}, "reviewed": {"value": True, "type": "Boolean"},
        }
    skipped = BatchItem.objects.get(batch_id=batch["id"], target_id=instances[5].id)
    assert (skipped.state, skipped.detail) == ("SKIPPED", NOT_RUNNING)
    history = client_for(admin_user).get(f"{R}/history/variable-instance?variableName=reviewed").json()
    assert {v["processInstanceId"] for v in history} == {i.id for i in instances[:5]}


@pytest.mark.cluster
def test_a_suspended_set_variables_batch_waits_until_activated(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=1, invocations=1)
    definition = deploy()
    ids = [start(definition).id for _ in range(3)]
    with transaction.atomic():
        batch = batch_create(operation=ENDPOINTS[PATH], payload={"processInstanceIds": ids, "variables": SET}, user=admin_user)
        batch_set_suspended(batch=batch, suspended=True, user_id="alice")
    cluster(workers=2)
    time.sleep(3)
    batch.refresh_from_db()
    assert batch.jobs_created == 0 and not any("status" in variables_of(i) for i in ids)
    response = client_for(admin_user).put(f"{R}/batch/{batch.id}/suspended", {"suspended": False}, format="json")
    assert response.status_code == 204
    assert finished(batch.id).final_state == "completed"
    wait_for(lambda: all(variables_of(i).get("status") == SET["status"] for i in ids), timeout=10, message="the variables")
