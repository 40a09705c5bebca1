"""Fault injection: SIGKILL of qcluster worker processes and termination of their PostgreSQL backends."""
from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, connections
from django.utils import timezone

from engine.models import Job


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return sorted(found)


def wchan(pid: int) -> str:
    """What the process waits on: futex_do_wait (a lock), anon_pipe_read (a pipe), ...; '' if gone."""
    try:
        value = Path(f"/proc/{pid}/wchan").read_text().strip()
        return "running" if value in ("", "0") else value
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class QCluster:
    """One q2 process tree: qcluster -> sentinel -> workers, monitor, pusher.

    django-q2 spawns the workers first, then the monitor, then the pusher, so the two highest pids
    of the first complete generation are the monitor and the pusher; a worker that is killed comes
    back with a new (higher) pid, and those two stay. supervised: root is `manage.py workers`, whose
    one child is the node (the qcluster of the tree above); a restarted node is a new tree.
    """

    name: str
    root: int
    workers: int
    aux: set[int] = field(default_factory=set)
    supervised: bool = False
    node: int | None = None
    restarts: int = 0

    def current_node(self) -> int | None:
        if not self.supervised:
            return self.root
        found = children_of(self.root)
        if not found:
            return None  # between a stopped node and its replacement
        node = found[0]
        if node != self.node:  # a new node (first seen, or restarted by the supervisor): forget its tree
            self.restarts += self.node is not None
            self.node, self.aux = node, set()
        return node

    def grandchildren(self) -> list[int]:
        node = self.current_node()
        return [] if node is None else [pid for child in children_of(node) for pid in children_of(child)]

    def ready(self) -> bool:
        found = self.grandchildren()
        if not self.aux and len(found) >= self.workers + 2:
            self.aux = set(sorted(found)[-2:])
        return bool(self.aux)

    def worker_pids(self) -> list[int]:
        return [pid for pid in self.grandchildren() if pid not in self.aux and alive(pid)] if self.ready() else []

    def looks_wedged(self, samples: int = 5) -> bool:
        """Every worker waits on a lock and none reads the task queue, in every sample over a second.

        An idle healthy cluster has one worker blocked reading the task queue's pipe (holding the
        queue's read lock) and the others waiting for that lock. A worker killed while it held the
        lock never releases it, and the cluster takes no task any more (django-q2 issue #23).
        """
        for _ in range(samples):
            states = [wchan(pid) for pid in self.worker_pids()]
            if not states or any(s != "futex_do_wait" for s in states):
                return False
            time.sleep(0.2)
        return True

    def describe(self) -> str:
        return ", ".join(f"{pid}:{wchan(pid)}" for pid in self.worker_pids())


@dataclass
class Kill:
    cluster: str
    pid: int
    busy: bool  # held a job lock
    waiting_on: str  # wchan just before the kill


KILL_POLICIES = ("busy", "prefer-busy", "any", "idle")
QUEUE_READS = {"anon_pipe_read", "pipe_read"}
QUEUE_WAITS = {"anon_pipe_read", "pipe_read", "futex_do_wait", "futex_wait_queue"}


class Killer(threading.Thread):
    """Every few seconds SIGKILL a qcluster worker, up to max_kills; once, at terminate_at seconds, terminate the
    PostgreSQL backends of the workers (their connections' application_name starts with app_prefix).

    Policies: "busy" kills only a worker holding a job lock (it waits for one); "prefer-busy" waits up
    to one interval for such a worker, then kills any worker; "any" kills a random worker; "idle" kills
    only a worker blocked reading the task queue, which wedges its whole qcluster (QCluster.looks_wedged).
    """

    def __init__(self, clusters: list[QCluster], rng: random.Random, stop: threading.Event, *, max_kills: int,
                 interval: float, terminate_at: float | None, app_prefix: str, policy: str = "busy") -> None:
        super().__init__(name="chaos-killer", daemon=True)
        if policy not in KILL_POLICIES:
            raise ValueError(f"kill policy must be one of {KILL_POLICIES}")
        self.clusters, self.rng, self.stop, self.policy = clusters, rng, stop, policy
        self.max_kills, self.interval = max_kills, interval
        self.terminate_at, self.app_prefix = terminate_at, app_prefix
        self.kills: list[Kill] = []
        self.terminated: list[str] = []  # "pid state query" of each terminated backend
        self.errors: list[str] = []

    def run(self) -> None:
        started = time.monotonic()
        next_kill = started + self.interval * self.rng.uniform(0.5, 1.0)
        try:
            while not self.stop.wait(0.1):
                now = time.monotonic()
                if len(self.kills) < self.max_kills and now >= next_kill:
                    waited_long = now - next_kill >= self.interval
                    if self.kill_one(fallback=self.policy == "any" or (self.policy == "prefer-busy" and waited_long)):
                        next_kill = now + self.interval * self.rng.uniform(0.6, 1.4)
                if self.terminate_at is not None and not self.terminated and now - started >= self.terminate_at:
                    # Prefer backends in the middle of something; after 5 s take idle ones too.
                    self.terminate_backends(include_idle=now - started >= self.terminate_at + 5)
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    def busy_pids(self) -> set[int]:
        host = socket.gethostname()
        owners = Job.objects.filter(lock_owner__isnull=False, lock_expiration_time__gt=timezone.now()).values_list(
            "lock_owner", flat=True
        )
        return {int(o.rsplit(":", 1)[1]) for o in owners if o.rsplit(":", 1)[0] == host}

    def kill_one(self, *, fallback: bool) -> bool:
        """Kill a busy worker, or any worker when fallback is set; return whether one was killed."""
        busy = self.busy_pids()
        candidates = [(c, pid) for c in self.clusters for pid in c.worker_pids()]
        # A worker that reads (or waits to read) the task queue has finished its job since the query above:
        # killed there, it would take the queue's lock with it.
        preferred = [(c, pid) for c, pid in candidates if pid in busy and wchan(pid) not in QUEUE_WAITS]
        if self.policy == "any":
            preferred = []
        elif self.policy == "idle":
            preferred = [(c, pid) for c, pid in candidates if wchan(pid) in QUEUE_READS]
        if not preferred and not (fallback and candidates):
            return False
        cluster, pid = self.rng.choice(preferred or candidates)
        state = wchan(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills.append(Kill(cluster.name, pid, pid in busy, state))
        return True

    def terminate_backends(self, *, include_idle: bool) -> None:
        idle = "" if include_idle else "AND state <> 'idle'"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, state, left(query, 80), pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE %s {idle}",
                [f"{self.app_prefix}%"],
            )
            self.terminated = [f"{pid} {state}: {query}" for pid, state, query, _ in cursor.fetchall()]
