"""Idempotency-Key on batch creation: the same key by the same user answers the first batch."""
import pytest

from batches.idempotency import batch_create_once
from batches.models import Batch, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create
from tests.conftest import client_for, make_user
from tests.rest.test_engine_api import assert_error
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def delete_call(api, ids, key=None, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(f"{R}/process-instance/delete", {"processInstanceIds": ids, **extra}, format="json", **headers)


def test_the_same_key_twice_answers_the_first_batch_and_creates_one(api):
    definition = deploy()
    a, b = start(definition), start(definition)
    first = delete_call(api, [a.id], key="order-42")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    again = delete_call(api, [b.id], key="order-42")
    assert again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert HistoricBatch.objects.count() == 1
    assert HistoricBatch.objects.get().idempotency_key == "order-42"


def test_without_a_key_or_with_another_key_a_new_batch_is_created(api):
    definition = deploy()
    ids = [start(definition).id]
    ids2 = [start(definition).id]
    one = delete_call(api, ids).json()
    two = delete_call(api, ids2).json()
    three = delete_call(api, ids, key="k-1").json()
    four = delete_call(api, ids2, key="k-2").json()
    assert len({one["id"], two["id"], three["id"], four["id"]}) == 4


def test_the_key_belongs_to_its_user(api, operator):
    definition = deploy()
    ids = [start(definition).id]
    mine = delete_call(api, ids, key="shared").json()
    theirs = delete_call(client_for(operator), [start(deploy(tenant_id="tenant-a")).id], key="shared")
    assert theirs.status_code == 200, theirs.content
    assert theirs.json()["id"] != mine["id"] and "Idempotent-Replayed" not in theirs.headers


def test_an_ended_first_batch_is_answered_from_its_history(api):
    definition = deploy()
    first = delete_call(api, [start(definition).id], key="nightly").json()
    run_jobs()
    assert not Batch.objects.exists()
    again = delete_call(api, [start(definition).id], key="nightly")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    body = again.json()
    assert set(body) == set(first)
    assert (body["id"], body["type"], body["jobsCreated"], body["suspended"]) == (first["id"], "instance-deletion", first["totalJobs"], False)
    assert HistoricBatch.objects.count() == 1


def test_a_key_used_for_another_type_is_a_400(api):
    definition = deploy()
    delete_call(api, [start(definition).id], key="k")
    response = api.post(f"{R}/job/retries", {"jobIds": ["j"], "retries": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 400, "InvalidRequestException", "already used for a instance-deletion batch")


def test_a_too_long_or_empty_key_is_a_400_naming_the_header(api):
    definition = deploy()
    ids = [start(definition).id]
    assert_error(delete_call(api, ids, key="x" * 256), 400, "InvalidRequestException", "Idempotency-Key")
    assert_error(delete_call(api, ids, key="  "), 400, "InvalidRequestException", "Idempotency-Key")
    assert delete_call(api, ids, key="x" * 255).status_code == 200
    assert HistoricBatch.objects.count() == 1


def test_a_failed_creation_does_not_use_up_the_key(api):
    bad = delete_call(api, [], key="retry-me")
    assert bad.status_code == 400
    good = delete_call(api, [start(deploy()).id], key="retry-me")
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers


def test_a_concurrent_duplicate_hits_the_unique_key_and_answers_the_first_batch(admin_user):
    """The race: the check found no batch, then another request committed the key before this insert."""
    definition = deploy()
    operation = ENDPOINTS["process-instance/delete"]
    winner = {}

    def create():
        winner["batch"] = batch_create(
            operation=operation, payload={"processInstanceIds": [start(definition).id]}, user=admin_user, idempotency_key="race"
        )
        return batch_create(
            operation=operation, payload={"processInstanceIds": [start(definition).id]}, user=admin_user, idempotency_key="race"
        )

    batch, created = batch_create_once(user=admin_user, key="race", batch_type=operation.type, create=create)
    assert created is False and batch.id == winner["batch"].id
    assert HistoricBatch.objects.filter(idempotency_key="race").count() == 1


def test_the_retry_endpoint_honours_the_key(api):
    batch = api.post(f"{R}/job/retries", {"jobIds": ["gone"], "retries": 1}, format="json").json()
    run_jobs()
    url = f"{R}/batch/{batch['id']}/items/retry"
    one = api.post(url, {"state": "SKIPPED"}, format="json", HTTP_IDEMPOTENCY_KEY="again")
    two = api.post(url, {"state": "SKIPPED"}, format="json", HTTP_IDEMPOTENCY_KEY="again")
    assert one.status_code == two.status_code == 200
    assert one.json()["id"] == two.json()["id"] and two.headers["Idempotent-Replayed"] == "true"
    assert HistoricBatch.objects.filter(retry_of_id=batch["id"]).count() == 1


def test_another_user_cannot_read_a_batch_through_a_guessed_key(api):
    definition = deploy()
    delete_call(api, [start(definition).id], key="secret")
    outsider = make_user("otto", perms=True)
    response = delete_call(client_for(outsider), [], key="secret")
    assert response.status_code == 400  # its own (empty) creation, not alice's batch


def test_the_openapi_documents_the_header_and_the_retry_endpoint(api):
    schema = api.get(f"{R}/openapi.json").json()
    paths = schema["paths"]
    retry = next(v for k, v in paths.items() if k.endswith("/batch/{id}/items/retry"))["post"]
    assert retry["requestBody"]["content"]["application/json"]["schema"]["properties"]["state"]["enum"] == ["FAILED", "SKIPPED"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= retry["parameters"][-1].items()
    delete = next(v for k, v in paths.items() if k.endswith("/process-instance/delete"))["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in delete["parameters"])
    history = next(v for k, v in paths.items() if k.endswith("/history/batch"))["get"]
    assert {p["name"] for p in history["parameters"]} >= {"finalState", "retryOf"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_batch(admin_user):
    """Real concurrent requests (threads with their own connections): one batch, the same answer twice."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    definition = deploy()
    ids = [start(definition).id for _ in range(4)]
    barrier = threading.Barrier(4)
    answers = []

    def call():
        try:
            barrier.wait()
            response = delete_call(client_for(admin_user), ids, key="together")
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4 and {status for status, _ in answers} == {200}
    assert len({batch_id for _, batch_id in answers}) == 1
    assert HistoricBatch.objects.filter(idempotency_key="together").count() == 1
