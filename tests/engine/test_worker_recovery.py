"""manage.py workers: a node whose workers are SIGKILLed, idle or busy, keeps running jobs."""
from __future__ import annotations

import json
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.models import HistoricJobLog, Job
from engine.services.jobs import job_create, jobs_sweep
from tests.support.cluster import Cluster, wait_for

pytestmark = pytest.mark.cluster

STALL = 3  # WORKER_STALL_SECONDS of the supervised nodes
BOUND = STALL + 20  # detection, a new node's start-up (Django, q2) and slack for a loaded machine
ROUNDS = 3


@dataclass
class Node:
    cluster: Cluster
    report_path: Path

    def report(self) -> dict | None:
        try:
            return json.loads(self.report_path.read_text())
        except (OSError, ValueError):
            return None

    def idle_workers(self, count: int, killed: set[int]) -> list[int]:
        """The idle workers of the node's latest report, once it has `count` of them, none killed."""
        idle = (self.report() or {}).get("idle", [])
        return idle if len(idle) == count and not killed & set(idle) else []

    def pids(self) -> list[int]:
        report = self.report() or {}
        return [report["sentinel"], *report["workers"]] if report else []


@pytest.fixture
def supervised(transactional_db, tmp_path):
    """Start `manage.py workers` (the supervised q2 cluster) on the test database; stopped after."""
    started: list[Node] = []

    def start(workers: int, **env: str) -> Node:
        report = tmp_path / f"node-{len(started)}.json"
        env = {"WORKER_STALL_SECONDS": str(STALL), **env}
        cluster = Cluster(workers, command="workers", args=["--report", str(report)], **env).start()
        started.append(Node(cluster, report))
        return started[-1]

    yield start
    for node in started:
        node.cluster.stop()
        print(f"--- manage.py workers log ---\n{node.cluster.output()[-5000:]}")


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def run_quick_job(tmp_path: Path) -> float:
    """Create a job that succeeds at once; return the seconds until a worker has run it."""
    marker = tmp_path / "done-before"
    marker.write_text("x")  # test-sleep-once returns at once when its marker exists
    started = time.monotonic()
    job = job_create(job_type="test-sleep-once", handler_configuration={"marker": str(marker)})
    wait_for(lambda: not Job.objects.filter(id=job.id).exists(), timeout=BOUND, message="the next job to run")
    assert HistoricJobLog.objects.filter(job_id=job.id, success_log=True).count() == 1
    return time.monotonic() - started


@pytest.mark.parametrize("workers", [1, 2])
def test_a_node_whose_idle_workers_are_killed_runs_the_next_job(supervised, tmp_path, workers):
    # An idle worker blocks in the task queue's get() holding its reader lock: killing that one
    # wedges a bare qcluster for good (with one worker, every kill does).
    node = supervised(workers)
    killed: set[int] = set()
    took = []
    for _ in range(ROUNDS):
        for _ in range(2):  # two kills a round, each of an idle worker
            idle = wait_for(lambda: node.idle_workers(workers, killed), timeout=90, message="idle workers")
            victim = random.choice(idle)
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
        took.append(run_quick_job(tmp_path))
    print(f"next job after the kills ran in {', '.join(f'{t:.1f}s' for t in took)}")
    if workers == 1:
        assert node.cluster.output().count("restarting the worker node") >= ROUNDS
        assert "a wedged queue" in node.cluster.output()
    # Wake-ups are re-sent only once the new node runs (its pusher waits on the broker), never
    # between the restart and its start, when a pusher of the old node may still take them.
    for after_restart in node.cluster.output().split("restarting the worker node")[1:]:
        if "re-sent the wake-ups" in after_restart:
            assert after_restart.index(" running.") < after_restart.index("re-sent the wake-ups")


def test_a_node_whose_busy_worker_is_killed_runs_the_next_job_and_the_killed_one(supervised, settings, tmp_path):
    settings.ENGINE = {**settings.ENGINE, "JOB_REENQUEUE_SECONDS": 1}
    node = supervised(1, JOB_LOCK_SECONDS="3")
    marker = tmp_path / "started"
    job = job_create(job_type="test-sleep-once", handler_configuration={"marker": str(marker), "seconds": 120})
    owner = wait_for(
        lambda: Job.objects.filter(id=job.id, lock_owner__isnull=False).values_list("lock_owner", flat=True).first(),
        timeout=60,
        message="a worker to lock the job",
    )
    wait_for(marker.exists, timeout=30, message="the handler to start")
    os.kill(int(owner.rsplit(":", 1)[1]), signal.SIGKILL)
    took = run_quick_job(tmp_path)  # the node's only worker died mid-job: its successor runs this one
    print(f"next job after the kill ran in {took:.1f}s")
    # The killed job is free once its lock expires (3 s); the sweep wakes it and it succeeds.
    wait_for(lambda: jobs_sweep() == 1, timeout=30, message="the sweep to re-enqueue the orphaned job")
    wait_for(lambda: not Job.objects.filter(id=job.id).exists(), timeout=BOUND, message="the killed job to finish")
    assert "restarting the worker node" not in node.cluster.output()


def test_a_node_whose_sentinel_hangs_is_restarted(supervised, tmp_path):
    node = supervised(1)
    sentinel = wait_for(lambda: (node.report() or {}).get("sentinel"), timeout=90, message="the node to report")
    os.kill(sentinel, signal.SIGSTOP)  # a guard loop that never comes back: no reincarnation, no schedules
    wait_for(lambda: (node.report() or {}).get("sentinel") not in (None, sentinel), timeout=BOUND, message="a new node")
    assert "its Sentinel has not reported" in node.cluster.output()
    assert gone(sentinel)
    run_quick_job(tmp_path)


def test_the_node_stops_with_its_supervisor(supervised):
    graceful, killed = supervised(2), supervised(2)
    for node in (graceful, killed):
        wait_for(lambda node=node: node.idle_workers(2, set()), timeout=90, message="the node to report")
    pids = graceful.pids() + killed.pids()
    graceful.cluster.process.send_signal(signal.SIGTERM)  # q2's graceful stop of an idle node
    assert graceful.cluster.process.wait(timeout=20) == 0
    killed.cluster.process.kill()  # nobody stops this node: it notices that its supervisor is gone
    wait_for(lambda: all(gone(pid) for pid in pids), timeout=15, message="the nodes' processes to exit")
