"""Two writers of one instance on PostgreSQL: the second waits for the first and acts on what it committed.

Each test holds writer A's transaction open right after its change (uncommitted), starts writer
B in another thread, checks that B waits, then lets A commit. Before the engine's lock rule
(engine.locking) these orders lost updates (a cancelled instance whose history said SUSPENDED),
terminated instances twice, gave 500s (NotUpdated, deadlocks, FK violations) and left open
activity history on ended instances.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection, transaction

from engine.errors import NotFound
from engine.models import ActivityInstance, HistoricActivityInstance, HistoricProcessInstance, Incident, Job, ProcessInstance
from engine.services import lifecycle
from engine.services.instance_actions import instance_delete, instance_set_suspended
from engine.services.jobs import JOB_HANDLERS, job_execute, jobs_set_retries
from engine.services.modification import instance_modify
from engine.services.runtime import task_complete
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks exist on PostgreSQL only; SQLite runs one writer at a time")


class Writer(threading.Thread):
    """Runs an action in its own connection; with hold=True, keeps the transaction open until released."""

    def __init__(self, action: Callable[[], object], *, hold: bool = False) -> None:
        super().__init__(daemon=True)
        self.action, self.hold = action, hold
        self.changed, self.release = threading.Event(), threading.Event()
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.result = self.action()
                self.changed.set()
                if self.hold:
                    self.release.wait(30)
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.changed.set()
        finally:
            close_old_connections()
            connection.close()

    def finish(self) -> object:
        self.release.set()
        self.join(30)
        assert not self.is_alive(), "writer did not finish"
        return self.result


def race(first: Callable[[], object], second: Callable[[], object]) -> tuple[Writer, Writer]:
    """first changes and holds; second starts and must wait for it; then both finish."""
    a = Writer(first, hold=True)
    a.start()
    assert a.changed.wait(30) and a.error is None, a.error
    b = Writer(second)
    b.start()
    b.join(0.5)
    assert b.is_alive(), "the second writer did not wait for the first one's lock"
    a.finish()
    b.finish()
    return a, b


def service_token(instance: ProcessInstance) -> None:
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}, {"type": "startBeforeActivity", "activityId": "service"}])


def assert_ended_cleanly(instance_id: str, state: str) -> None:
    history = HistoricProcessInstance.objects.get(id=instance_id)
    assert history.state == state and history.end_time is not None
    assert not ProcessInstance.objects.filter(id=instance_id).exists()
    assert not ActivityInstance.objects.filter(process_instance_id=instance_id).exists()
    assert not Job.objects.filter(process_instance_id=instance_id).exists()
    assert not Incident.objects.filter(process_instance_id=instance_id).exists()
    assert not HistoricActivityInstance.objects.filter(process_instance_id=instance_id, end_time__isnull=True).exists()


def test_a_suspension_waiting_for_a_cancellation_skips_the_cancelled_instance():
    instance = start(deploy())
    _, b = race(
        lambda: lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="first"),
        lambda: lifecycle.instances_set_suspended(instance_ids=[instance.id], suspended=True),
    )
    assert b.error is None and b.result.skipped == {instance.id: lifecycle.NOT_RUNNING}
    assert_ended_cleanly(instance.id, "EXTERNALLY_TERMINATED")  # before: SUSPENDED (lost update)


def test_a_second_cancellation_is_not_a_second_termination():
    instance = start(deploy())
    a, b = race(
        lambda: instance_delete(instance=instance, delete_reason="first", user_id="a"),
        lambda: instance_delete(instance=instance, delete_reason="second", user_id="b"),
    )
    assert a.error is None and isinstance(b.error, NotFound)  # before: both told success
    assert HistoricProcessInstance.objects.get(id=instance.id).delete_reason == "first"


def test_completing_a_task_of_an_instance_being_cancelled_is_a_404_not_a_500():
    instance = start(deploy())
    task_id = instance.tokens.get().id
    _, b = race(
        lambda: lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="gone"),
        lambda: task_complete(task_id=task_id),
    )
    assert isinstance(b.error, NotFound), b.error  # before: ProcessInstance.NotUpdated (500)
    assert_ended_cleanly(instance.id, "EXTERNALLY_TERMINATED")


def test_a_cancellation_waits_for_a_task_completion_that_ends_the_instance():
    instance = start(deploy(body=(
        '<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>'
        '<bpmn:userTask id="task"/><bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/><bpmn:endEvent id="end"/>'
    ), key="short"))
    _, b = race(
        lambda: task_complete(task_id=instance.tokens.get().id),
        lambda: lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="late"),
    )
    assert b.error is None and b.result.skipped == {instance.id: lifecycle.NOT_RUNNING}
    assert_ended_cleanly(instance.id, "COMPLETED")  # before: EXTERNALLY_TERMINATED over COMPLETED


@pytest.mark.parametrize("order", ["suspend-first", "cancel-first"])
def test_suspend_and_cancel_of_one_instance_with_a_job_never_deadlock(order):
    instance = start(deploy())
    service_token(instance)
    suspend = lambda: instance_set_suspended(instance=instance, suspended=True, user_id="s")  # noqa: E731
    cancel = lambda: lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="c")  # noqa: E731
    a, b = race(suspend, cancel) if order == "suspend-first" else race(cancel, suspend)
    assert a.error is None
    if order == "suspend-first":
        assert b.error is None  # before: deadlock detected on engine_job (500)
    else:
        assert isinstance(b.error, NotFound)
    assert_ended_cleanly(instance.id, "EXTERNALLY_TERMINATED")


def test_a_cancellation_waits_for_a_modification_that_adds_a_token():
    instance = start(deploy())
    _, b = race(
        lambda: instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}]),
        lambda: instance_delete(instance=instance, delete_reason="c", user_id="c"),
    )
    assert b.error is None  # before: IntegrityError (FK from the new token) → 500
    assert_ended_cleanly(instance.id, "EXTERNALLY_TERMINATED")


def test_a_job_runs_only_after_the_cancellation_that_holds_its_instance_and_then_finds_nothing():
    instance = start(deploy())
    service_token(instance)
    job = Job.objects.get(process_instance_id=instance.id)
    _, b = race(
        lambda: lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="c"),
        lambda: job_execute(job.id, owner="worker"),
    )
    assert b.error is None and b.result == "not-acquired"
    assert_ended_cleanly(instance.id, "EXTERNALLY_TERMINATED")


def test_a_cancellation_waits_for_a_running_job_that_completes_the_instance(monkeypatch):
    instance = start(deploy())
    service_token(instance)
    job = Job.objects.get(process_instance_id=instance.id)
    inside, release = threading.Event(), threading.Event()
    original = JOB_HANDLERS["async-continuation"]

    def slow(job):
        inside.set()
        release.wait(30)
        return original(job)

    monkeypatch.setitem(JOB_HANDLERS, "async-continuation", slow)
    worker = Writer(lambda: job_execute(job.id, owner="worker"))
    worker.start()
    assert inside.wait(30)
    canceller = Writer(lambda: lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="c"))
    canceller.start()
    canceller.join(0.5)
    assert canceller.is_alive(), "the cancellation did not wait for the running job"
    release.set()
    assert worker.finish() == "succeeded"
    canceller.finish()
    assert canceller.error is None and canceller.result.skipped == {instance.id: lifecycle.NOT_RUNNING}
    assert_ended_cleanly(instance.id, "COMPLETED")


def test_job_retries_wait_for_a_cancellation_and_find_no_job():
    instance = start(deploy(), fail=True)
    service_token(instance)
    job = Job.objects.get(process_instance_id=instance.id)
    _, b = race(
        lambda: lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="c"),
        lambda: jobs_set_retries(job_ids=[job.id], retries=3),
    )
    assert b.error is None and b.result == set()
    assert_ended_cleanly(instance.id, "EXTERNALLY_TERMINATED")


def test_two_history_deletions_delete_once():
    instance = start(deploy())
    lifecycle.instances_delete(instance_ids=[instance.id], delete_reason="c")
    a, b = race(
        lambda: lifecycle.historic_instances_delete(instance_ids=[instance.id]),
        lambda: lifecycle.historic_instances_delete(instance_ids=[instance.id]),
    )
    assert a.result.changed == [instance.id]
    assert b.result.changed == [] and b.result.skipped == {instance.id: lifecycle.NOT_FOUND}


def test_chunks_lock_their_instances_in_id_order_so_crossing_selections_queue():
    definition = deploy()
    first, second = sorted([start(definition).id, start(definition).id])
    # A locks [first, second]; B asks for [second, first]: it waits on `first` without holding `second`.
    a, b = race(
        lambda: lifecycle.instances_set_suspended(instance_ids=[first, second], suspended=True),
        lambda: lifecycle.instances_delete(instance_ids=[second, first], delete_reason="c"),
    )
    assert a.error is None and b.error is None
    for instance_id in (first, second):
        assert_ended_cleanly(instance_id, "EXTERNALLY_TERMINATED")
