"""Concurrent workers on real connections: no task is locked twice, a held row is skipped, one completion wins."""
import threading
import time

import pytest
from django.db import connection, transaction

from engine.models import ExternalTask
from engine.services.external_tasks import FetchRequest, RestNotFound, TopicRequest, external_task_complete, fetch_and_lock
from tests.rest.test_external_task_api import EXTERNAL, SHORT
from tests.support.factories import deploy, start, tokens

pytestmark = pytest.mark.django_db(transaction=True)


def request(worker: str, topic: str = "shipping", max_tasks: int = 3) -> FetchRequest:
    return FetchRequest(worker_id=worker, max_tasks=max_tasks, topics=(TopicRequest(topic_name=topic, lock_duration=60000),))


def run_threads(count: int, work) -> list:
    """Run work(n) in count threads started together; return their results (exceptions re-raised)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def body(n: int) -> None:
        try:
            barrier.wait()
            results[n] = work(n)
        except BaseException as exc:  # noqa: BLE001 (handed to the test thread)
            results[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_concurrent_workers_never_lock_the_same_task(admin_user):
    definition = deploy(SHORT, key="ship")
    for _ in range(60):
        start(definition)

    def worker(n: int) -> list[str]:
        mine: list[str] = []
        while True:
            locked = fetch_and_lock(request(f"worker-{n}"), admin_user)
            if not locked:
                return mine
            mine += [item.task.id for item in locked]
            time.sleep(0.01)  # a worker works on what it got before it asks again

    results = run_threads(6, worker)
    taken = [task_id for ids in results for task_id in ids]
    assert len(taken) == 60 and len(set(taken)) == 60, "a task was locked by two workers"
    owners = dict(ExternalTask.objects.values_list("id", "worker_id"))
    for n, ids in enumerate(results):
        assert all(owners[task_id] == f"worker-{n}" for task_id in ids)
    assert sum(1 for ids in results if ids) >= 2  # the workers really competed


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_row_held_by_another_transaction_is_skipped_not_waited_for(admin_user):
    definition = deploy(SHORT, key="ship")
    first, second = start(definition), start(definition)
    held = ExternalTask.objects.get(process_instance_id=first.id).id
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(ExternalTask.objects.select_for_update().filter(id=held))
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    began = time.monotonic()
    locked = fetch_and_lock(request("w", max_tasks=5), admin_user)
    assert time.monotonic() - began < 5
    assert [item.task.process_instance_id for item in locked] == [second.id]
    release.set()
    holder.join(30)
    assert [item.task.id for item in fetch_and_lock(request("w2"), admin_user)] == [held]


def test_two_completions_of_one_task_continue_the_token_once(admin_user):
    definition = deploy(EXTERNAL, key="payment")
    instance = start(definition)
    [locked] = fetch_and_lock(request("w", topic="payments"), admin_user)

    def complete(n: int) -> str:
        try:
            external_task_complete(task_id=locked.task.id, worker_id="w", variables={}, local_variables=None, user=admin_user)
            return "completed"
        except RestNotFound:
            return "gone"

    assert sorted(run_threads(2, complete)) == ["completed", "gone"]
    assert tokens(instance) == ["review"]
