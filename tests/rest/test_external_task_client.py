"""Workers from the Python ecosystem drive external tasks against the live server, unchanged.

camunda-external-task-client-python3 (PyPI) is the worker; generic-camunda-client (generated from
Camunda's OpenAPI) is an operator's client.
"""
import base64
import threading

import pytest
import requests
from camunda.client.external_task_client import ExternalTaskClient
from camunda.external_task.external_task_worker import ExternalTaskWorker, NoExternalTaskFound
from generic_camunda_client import (
    ApiClient,
    CompleteExternalTaskDto,
    Configuration,
    ExternalTaskApi,
    FetchExternalTaskTopicDto,
    FetchExternalTasksDto,
    RetriesDto,
    SetRetriesForExternalTasksDto,
    VariableValueDto,
)
from generic_camunda_client.exceptions import ApiException

from engine.models import ExternalTask, HistoricProcessInstance, Incident
from engine.services.variables import variables_of
from tests.conftest import PASSWORD
from tests.rest.test_external_task_api import CAMUNDA, EXTERNAL
from tests.support.factories import deploy, start, tokens

pytestmark = pytest.mark.django_db(transaction=True)

# start -> external "charge" (payments) -> external "ship" (shipping) -> end
TWO_STEPS = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>'
    f'<bpmn:serviceTask id="charge" {CAMUNDA} camunda:type="external" camunda:topic="payments"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="ship"/>'
    f'<bpmn:serviceTask id="ship" {CAMUNDA} camunda:type="external" camunda:topic="shipping"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="ship" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)


class RunningWorker:
    """The package's ExternalTaskWorker in a thread, stoppable.

    ExternalTaskWorker.subscribe() is `while True: fetch_and_execute(...)` with no way out; this runs
    the same public fetch_and_execute until asked to stop, then joins the thread.
    """

    def __init__(self, worker: ExternalTaskWorker, topics: list[str], action) -> None:
        self.worker, self.topics, self.action = worker, topics, action
        self.stop_requested = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop_requested.is_set():
            try:
                self.worker.fetch_and_execute(self.topics, self.action)
            except NoExternalTaskFound:
                continue
            except BaseException as exc:  # noqa: BLE001 (reported by the test)
                self.errors.append(exc)
                return

    def __enter__(self) -> "RunningWorker":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_requested.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the worker did not stop"


def wait_until(predicate, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_the_python_worker_drives_an_instance_to_completion(live_server, admin_user, settings):
    settings.EXTERNAL_TASK_LONG_POLL_MAX_SECONDS = 2
    settings.EXTERNAL_TASK_LONG_POLL_INTERVAL_MS = 100
    instance = start(deploy(TWO_STEPS, key="twoSteps"), business_key="order-9", amount=21)
    worker = ExternalTaskWorker(
        worker_id="python-worker",
        base_url=f"{live_server.url}/engine-rest",
        config={
            "auth_basic": {"username": admin_user.username, "password": PASSWORD},  # the package's HTTP Basic
            "maxTasks": 1, "lockDuration": 10000, "asyncResponseTimeout": 1000, "sleepSeconds": 0,
        },
    )
    attempts: dict[str, int] = {}

    def handle(task):
        attempts[task.get_topic_name()] = attempts.get(task.get_topic_name(), 0) + 1
        if task.get_topic_name() == "payments":
            assert task.get_variable("amount") == 21 and task.get_business_key() == "order-9"
            return task.complete({"charged": task.get_variable("amount") * 2})
        if attempts["shipping"] == 1:  # the carrier is down once: a failure with retries, fetched again at once
            return task.failure("carrier down", "timeout after 30 s", max_retries=3, retry_timeout=0)
        assert task.get_variable("charged") == 42
        return task.complete({"shipped": True})

    with RunningWorker(worker, ["payments", "shipping"], handle) as running:
        wait_until(lambda: HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED")
    assert running.errors == []
    assert attempts == {"payments": 1, "shipping": 2}
    assert not ExternalTask.objects.exists() and not Incident.objects.exists()


def test_the_python_client_sees_camundas_errors(live_server, admin_user):
    start(deploy(EXTERNAL, key="payment"))
    client = ExternalTaskClient(
        "python-client", f"{live_server.url}/engine-rest",
        {"auth_basic": {"username": admin_user.username, "password": PASSWORD}, "asyncResponseTimeout": 0},
    )
    [task] = client.fetch_and_lock("payments", variables=["amount"])
    assert task["workerId"] == "python-client" and task["extensionProperties"] == {"currency": "EUR", "channel": "card"}
    with pytest.raises(requests.HTTPError) as refused:  # the package raises for status on a BPMN error
        client.bpmn_failure(task["id"], "PAYMENT_REJECTED", "rejected")
    assert refused.value.response.status_code == 400
    assert "no error events" in refused.value.response.json()["message"]
    with pytest.raises(Exception, match="received 400 : RestException : .*cannot be completed by worker 'other'. It is locked by worker 'python-client'"):
        ExternalTaskClient("other", f"{live_server.url}/engine-rest", {
            "auth_basic": {"username": admin_user.username, "password": PASSWORD},
        }).complete(task["id"], {})
    assert client.failure(task["id"], "gave up", None, 0, 0)
    assert Incident.objects.get().incident_type == "failedExternalTask"
    unauthenticated = ExternalTaskClient("anon", f"{live_server.url}/engine-rest", {"asyncResponseTimeout": 0})
    with pytest.raises(Exception, match="received 401"):
        unauthenticated.fetch_and_lock("payments")


def test_generic_camunda_client_operates_external_tasks(live_server, admin_user):
    token = base64.b64encode(f"{admin_user.username}:{PASSWORD}".encode()).decode()
    api = ExternalTaskApi(ApiClient(Configuration(host=f"{live_server.url}/engine-rest"), header_name="Authorization", header_value=f"Basic {token}"))
    instances = [start(deploy(EXTERNAL, key="payment"), amount=n) for n in range(3)]
    locked = api.fetch_and_lock(fetch_external_tasks_dto=FetchExternalTasksDto(
        worker_id="java-style", max_tasks=2, use_priority=True,
        topics=[FetchExternalTaskTopicDto(topic_name="payments", lock_duration=30000, variables=["amount"])],
    ))
    assert len(locked) == 2 and {t.worker_id for t in locked} == {"java-style"}
    assert locked[0].variables["amount"].type == "Integer"
    assert api.get_external_tasks_count(locked="true")  # this client would send True; Camunda reads JSON booleans.count == 2
    api.handle_failure(locked[0].id, external_task_failure_dto={"workerId": "java-style", "errorMessage": "x", "retries": 0, "retryTimeout": 0})
    assert api.get_external_tasks(no_retries_left="true")[0].id == locked[0].id
    api.set_external_task_resource_retries(locked[0].id, retries_dto=RetriesDto(retries=2))
    assert api.get_external_task(locked[0].id).retries == 2
    api.complete_external_task_resource(locked[1].id, complete_external_task_dto=CompleteExternalTaskDto(
        worker_id="java-style", variables={"paid": VariableValueDto(value=True, type="Boolean")}))
    completed = next(i for i in instances if i.id == locked[1].process_instance_id)
    assert tokens(completed) == ["review"] and variables_of(completed.id)["paid"]["value"] is True
    api.set_external_task_retries(set_retries_for_external_tasks_dto=SetRetriesForExternalTasksDto(
        process_instance_ids=[i.id for i in instances], retries=5))
    assert set(ExternalTask.objects.values_list("retries", flat=True)) == {5}
    batch = api.set_external_task_retries_async_operation(set_retries_for_external_tasks_dto=SetRetriesForExternalTasksDto(
        external_task_query={"topicName": "payments"}, retries=1))
    assert batch.type == "set-external-task-retries" and batch.total_jobs == 1
    assert api.get_topic_names(with_retries_left="true") == ["payments"]
    with pytest.raises(ApiException) as missing:
        api.get_external_task("nope")
    assert missing.value.status == 404
