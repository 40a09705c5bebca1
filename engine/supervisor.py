"""Supervised django-q2 node: restart the cluster when its workers stop taking tasks.

Why. django-q2's workers share one multiprocessing.Queue. An idle worker waits in its get(),
which holds the queue's process-shared reader lock (`_rlock`) while it blocks reading the pipe.
Killed there (SIGKILL, the OOM killer), it dies holding the lock: the other workers and the one
q2's Sentinel reincarnates wait for it forever, the pusher keeps moving tasks (the sweep's
included) from the broker into the dead queue, and the cluster still reports itself running.

How. `manage.py workers` (the supervisor) runs the cluster as a child process group
(`manage.py workers --node`) whose Sentinel writes a report every guard cycle: its worker pids
and `healthy_at`. Workers stamp every task they take (q2's pre_execute signal); `healthy_at`
advances unless a task waits in the internal queue while a worker is idle and no worker took a
task since the last cycle. A busy node (no idle worker) and an idle node (nothing waits) both
stay healthy, so this is no timer restart. A report older than WORKER_STALL_SECONDS (a wedged
queue, or a hung Sentinel) makes the supervisor SIGKILL the group and start a new one; a node
that exits is restarted too. The dead queue may have swallowed wake-ups, so after a restart the
supervisor re-sends the wake-up of every due, unlocked job if the broker holds no backlog (with
a backlog, the job sweep does it later); job rows are the truth and the job lock makes duplicates
harmless. It re-sends only once every process of the old node has exited and the new node has
reported: Redis hands a pushed task to a client blocked in BLPOP (the old pusher) even while that
client is being killed, and the task dies with it. Jobs that were running on killed workers are
free again after JOB_LOCK_SECONDS, as for any killed worker. The node dies with its supervisor: the Sentinel polls a pipe the supervisor
holds open.
"""
from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from ctypes import c_double
from dataclasses import dataclass
from multiprocessing.sharedctypes import RawValue
from pathlib import Path

import django_q.cluster
from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_q.cluster import Cluster, Sentinel
from django_q.conf import Conf
from django_q.signals import pre_execute

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
STARTUP_SECONDS = 60.0  # a node that has not reported this long after it started is restarted
STOP_GRACE_SECONDS = 8.0  # q2's graceful stop gets this long before the node is killed
EXIT_WAIT_SECONDS = 10.0  # after SIGKILL, how long to wait for the node's processes to be gone
MAX_BACKOFF_SECONDS = 30.0  # between restarts of a node that never reported (e.g. database down)


# --- inside the node ----------------------------------------------------------------------


@dataclass
class _Node:
    report: Path
    lifeline: int | None
    last_take: c_double  # shared memory, written by every worker


_node: _Node | None = None


def _stamp_take(sender: object, **kwargs: object) -> None:
    """pre_execute receiver, run in a worker: it has just taken a task from the internal queue."""
    if _node is not None:
        _node.last_take.value = time.monotonic()


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _lifeline_cut(fd: int | None) -> bool:
    """The supervisor never writes to the pipe: any event on it (hang-up, end of file) means it is gone."""
    if fd is None:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class SupervisedSentinel(Sentinel):
    """q2's Sentinel that reports, every guard cycle, whether its workers still take waiting tasks."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._healthy_at = time.monotonic()
        self._seen_take = -1.0
        super().__init__(*args, **kwargs)  # runs the guard loop until the cluster stops

    def status(self) -> str:
        # q2 calls status() once per guard cycle (through Stat): the Sentinel's only per-cycle hook.
        state = super().status()
        if _node is not None and state in (Conf.IDLE, Conf.WORKING):
            try:
                self._report_cycle(_node)
            except Exception:  # a report we cannot write shows up as a stalled node
                logger.exception("could not write the worker node report")
        return state

    def _report_cycle(self, node: _Node) -> None:
        if _lifeline_cut(node.lifeline):
            logger.critical("the worker supervisor is gone; stopping its node")
            os.killpg(0, signal.SIGKILL)
        alive = [p for p in self.pool if p.is_alive()]
        # The timer's raw value: its lock may be held by a worker that died holding it.
        idle = [p.pid for p in alive if p.timer.get_obj().value == -1]
        taken = node.last_take.value
        waiting = bool(idle) and self.task_queue.qsize() > 0
        if not waiting or taken != self._seen_take:
            self._healthy_at = time.monotonic()
        self._seen_take = taken
        report = {"healthy_at": self._healthy_at, "waiting": waiting, "sentinel": self.pid}
        _write_json(node.report, {**report, "workers": [p.pid for p in alive], "idle": idle})


def run_node(report: Path, lifeline: int | None) -> None:
    """Start q2's cluster with the reporting Sentinel (the process then waits for it, like qcluster)."""
    global _node
    settings.SECRET_KEY  # noqa: B018  (q2 signs tasks with it; fail before starting, like qcluster)
    _node = _Node(report=report, lifeline=lifeline, last_take=RawValue(c_double, 0.0))
    pre_execute.connect(_stamp_take, weak=False, dispatch_uid="engine.supervisor.take")
    django_q.cluster.Sentinel = SupervisedSentinel  # Cluster.start() looks the class up there
    Cluster().start()


# --- the supervisor -----------------------------------------------------------------------


@dataclass
class _Child:
    process: subprocess.Popen
    lifeline: int  # write end, held open while the node should live
    started: float


def _exited(pid: int) -> os.waitid_result | None:
    """Whether (how) our child exited, without reaping it: its pid (the node's group id) stays ours."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)


def _group_running(pgid: int) -> bool:
    """Whether a process of the group still runs. A zombie does not count: its files are closed."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # no procfs: zombies count, which only waits longer
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        if int(group) == pgid and state not in ("Z", "X"):
            return True
    return False


def _read_report(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def resend_lost_wakeups() -> int:
    """Re-send the wake-up of every executable job unless the broker holds a backlog; return how many."""
    from django_q.brokers import get_broker

    from engine.services.jobs import acquisition_order, executable_jobs, jobs_enqueue

    if get_broker().queue_size():
        return 0  # a waiting job is not lost yet; the job sweep re-sends the old ones
    # Highest priority first when the executor acquires by priority (engine.services.jobs.job_acquire).
    ids = list(executable_jobs(timezone.now()).order_by(*acquisition_order()).values_list("id", flat=True))
    for start in range(0, len(ids), 1000):
        jobs_enqueue(ids[start : start + 1000])
    return len(ids)


class Supervisor:
    """Run one worker node, restart it when it stalls or exits, stop it on SIGTERM/SIGINT."""

    def __init__(self, *, stall: float, report: Path) -> None:
        self.stall = stall
        self.report = report
        self.stopping = False
        self.restarts = 0
        self._resend_pending = False  # a node was restarted: re-send wake-ups once the new one reports
        self._wake_failing = False  # jobs_wake_due failed at the last poll: log the outage once

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        logger.info("supervising the worker node; restart after %ss without progress", self.stall)
        backoff = 0.0
        while not self.stopping:
            child = self._start()
            reason, reported = self._watch(child)
            self._end(child, graceful=self.stopping)
            if self.stopping:
                break
            self.restarts += 1
            pid = child.process.pid
            logger.error("restarting the worker node (pid %s, restart %d): %s", pid, self.restarts, reason)
            self._resend_pending = True
            backoff = 0.0 if reported else min(max(2 * backoff, 1.0), MAX_BACKOFF_SECONDS)
            self._sleep(backoff)
        logger.info("worker supervisor stopped")

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _start(self) -> _Child:
        self.report.unlink(missing_ok=True)
        read, write = os.pipe()
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "workers", "--node"]
        command += ["--report", str(self.report), "--lifeline", str(read)]
        process = subprocess.Popen(command, pass_fds=(read,), start_new_session=True)
        os.close(read)
        return _Child(process=process, lifeline=write, started=time.monotonic())

    def _watch(self, child: _Child) -> tuple[str, bool]:
        """Poll until the node exits or stalls (or a stop is requested); return why and whether it reported."""
        reported = False
        while not self.stopping:
            if exited := _exited(child.process.pid):
                return f"the node exited (status {exited.si_status})", reported
            report = _read_report(self.report)
            reported = reported or report is not None
            if report is not None and self._resend_pending:
                self._recover()  # the new node's pusher is waiting on the broker now
            # time.monotonic() is the host's CLOCK_MONOTONIC: comparable with the Sentinel's.
            age = time.monotonic() - (report["healthy_at"] if report else child.started)
            if age > (self.stall if report else max(self.stall, STARTUP_SECONDS)):
                return self._stall_reason(report, age), reported
            self._wake_due()
            time.sleep(POLL_SECONDS)
        return "stop requested", reported

    def _wake_due(self) -> None:
        """Wake the jobs that became due since the last poll (engine.services.jobs.jobs_wake_due).

        A database error is logged once per outage (not every poll) and the connection is closed,
        so the next poll reconnects; the job sweep still covers what this misses.
        """
        from engine.services.jobs import jobs_wake_due

        try:
            jobs_wake_due()
            self._wake_failing = False
        except Exception:
            if not self._wake_failing:
                logger.exception("could not wake the jobs that became due")
            self._wake_failing = True
            connections.close_all()

    @staticmethod
    def _stall_reason(report: dict | None, age: float) -> str:
        if report is None:
            return f"no report {age:.0f}s after it started"
        if report["waiting"]:
            return f"a task waited {age:.1f}s while workers {report['idle']} were idle (a wedged queue)"
        return f"its Sentinel has not reported for {age:.1f}s"

    def _end(self, child: _Child, *, graceful: bool) -> None:
        pid = child.process.pid
        if graceful and not _exited(pid):
            child.process.send_signal(signal.SIGTERM)  # q2's own stop: workers finish their task
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while time.monotonic() < deadline and not _exited(pid):
                time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever is left of the node's process group
        except ProcessLookupError:
            pass
        child.process.wait()
        os.close(child.lifeline)
        # The node's own children (pusher, workers) are not ours to wait for: poll until they are
        # gone, so that nothing sent to the broker from now on is taken by a dying pusher.
        deadline = time.monotonic() + EXIT_WAIT_SECONDS
        while _group_running(pid):
            if time.monotonic() > deadline:
                logger.warning("processes of the stopped worker node (group %s) are still running", pid)
                break
            time.sleep(0.05)

    def _recover(self) -> None:
        self._resend_pending = False
        try:
            sent = resend_lost_wakeups()
            if sent:
                logger.warning("re-sent the wake-ups of %d due jobs the stopped node may have held", sent)
        except Exception:  # the job sweep re-sends them later
            logger.exception("could not re-send wake-ups after the restart")
        finally:
            connections.close_all()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)


def supervise(report: Path | None = None) -> None:
    """Supervise a worker node until SIGTERM/SIGINT (`manage.py workers`)."""
    directory = None
    if report is None:
        directory = Path(tempfile.mkdtemp(prefix="cockpit-workers-"))
        report = directory / "node.json"
    try:
        Supervisor(stall=settings.ENGINE["WORKER_STALL_SECONDS"], report=report).run()
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
