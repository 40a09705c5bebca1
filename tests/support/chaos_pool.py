"""What the chaos clients share: the pool of target ids, and the thread-safe record of every request."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import requests

from engine.models import HistoricProcessInstance, Job, ProcessDefinition


HOT_WIDTH = 12  # instances in the hot window
HOT_SECONDS = 2.0  # how long an instance stays in it


@dataclass
class Definition:
    id: str
    key: str
    tenant_id: str | None
    user_tasks: list[str]
    service_tasks: list[str]


@dataclass
class Pool:
    """Every instance id at the start (running and finished), their definitions, job ids and created batches."""

    instances: list[str]
    definition_of: dict[str, str]
    definitions: dict[str, Definition]
    jobs: list[str]
    batches: list[str] = field(default_factory=list)
    running_at_start: set[str] = field(default_factory=set)
    hot_share: float = 0.7  # how often a pick comes from the hot window instead of the whole pool
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _started: float = 0.0  # time.monotonic() when the chaos started

    @property
    def size(self) -> int:
        return len(self.instances)

    def instances_of(self, definition_id: str) -> list[str]:
        return self._by_definition.get(definition_id, [])

    def __post_init__(self) -> None:
        by_definition: dict[str, list[str]] = defaultdict(list)
        for instance_id in self.instances:
            by_definition[self.definition_of[instance_id]].append(instance_id)
        self._by_definition = dict(by_definition)
        self._job_set = set(self.jobs)
        # The hot window too only holds targets the clients can write instructions for.
        self._running_sorted = sorted(i for i in self.running_at_start if self.definition_of[i] in self.definitions)

    def start_clock(self) -> None:
        self._started = time.monotonic()

    def hot_window(self) -> list[str]:
        """A dozen of the instances running at the start, sliding on by half its width per second.

        Every client picks most targets from it, so the requests of all clients and the batch chunks
        meet on the same instances at the same time (each instance is hot for about two seconds)
        instead of rarely colliding in the whole pool.
        """
        running = self._running_sorted
        if not running:
            return self.instances
        width = min(len(running), HOT_WIDTH)
        offset = int((time.monotonic() - self._started) * width / HOT_SECONDS) % len(running)
        return (running + running)[offset : offset + width]

    def pick(self, rng: random.Random, k: int = 1) -> list[str]:
        source = self.hot_window() if rng.random() < self.hot_share else self.instances
        return rng.sample(source, min(k, len(source)))

    def add_job(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._job_set:
                self._job_set.add(job_id)
                self.jobs.append(job_id)

    @classmethod
    def snapshot(cls) -> Pool:
        definitions = {}
        for d in ProcessDefinition.objects.all():
            kinds = {a: node["type"] for a, node in d.graph["activities"].items()}
            definitions[d.id] = Definition(
                id=d.id, key=d.key, tenant_id=d.tenant_id,
                user_tasks=sorted(a for a, t in kinds.items() if t == "userTask"),
                service_tasks=sorted(a for a, t in kinds.items() if t == "serviceTask"),
            )
        rows = list(
            HistoricProcessInstance.objects.order_by("id").values_list("id", "process_definition_id", "end_time")
        )
        # Clients pick targets among instances of definitions they can write instructions for (a user
        # task and a service task); the others (e.g. the demo's payment, message waits only) are still
        # reached by query-based batches and checked like every instance.
        usable = {k: d for k, d in definitions.items() if d.user_tasks and d.service_tasks}
        return cls(
            instances=[r[0] for r in rows if r[1] in usable],
            definition_of={r[0]: r[1] for r in rows},
            definitions=usable,
            jobs=list(Job.objects.filter(process_instance__isnull=False).order_by("id").values_list("id", flat=True)),
            running_at_start={r[0] for r in rows if r[2] is None},
        )


@dataclass
class Call:
    kind: str
    status: int  # 0: no response (timeout, connection error)
    seconds: float


class Recorder:
    """Every request by kind and status, cancellations that succeeded, created and cascaded batches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.cancellations: list[tuple[str, str, float]] = []  # (instance id, delete reason, response time)
        self.server_errors: dict[str, list[str]] = defaultdict(list)  # kind -> samples
        self.no_response: dict[str, list[str]] = defaultdict(list)
        self.batch_kinds: dict[str, str] = {}
        self.batch_reasons: dict[str, str | None] = {}
        self.cascaded: set[str] = set()
        self.harness_errors: list[str] = []
        self.pool: Pool | None = None

    def record(self, kind: str, response: requests.Response | None, seconds: float, *, error: str | None = None,
               target: str | None = None) -> None:
        status = response.status_code if response is not None else 0
        with self._lock:
            self.calls.append(Call(kind, status, seconds))
            if response is None:
                self.no_response[kind].append(f"after {seconds:.1f}s: {error}"[:300])
            elif status >= 500:
                where = f" (instance {target})" if target else ""
                self.server_errors[kind].append(f"{status}{where}: {response.text[:300]}")

    def cancelled(self, instance_id: str, reason: str, when: float) -> None:
        with self._lock:
            self.cancellations.append((instance_id, reason, when))

    def batch_created(self, batch_id: str, kind: str, reason: str | None) -> None:
        with self._lock:
            self.batch_kinds[batch_id] = kind
            self.batch_reasons[batch_id] = reason
            if self.pool is not None:
                self.pool.batches.append(batch_id)

    def batch_cascaded(self, batch_id: str) -> None:
        with self._lock:
            self.cascaded.add(batch_id)

    def harness_error(self, message: str) -> None:
        with self._lock:
            self.harness_errors.append(message[:500])

    def by_kind(self) -> dict[str, Counter]:
        """kind -> Counter of status classes ("2xx", "4xx", "5xx", "none") and of exact statuses."""
        table: dict[str, Counter] = defaultdict(Counter)
        for call in self.calls:
            klass = "none" if call.status == 0 else f"{call.status // 100}xx"
            table[call.kind][klass] += 1
            table[call.kind][call.status] += 1
        return dict(table)
