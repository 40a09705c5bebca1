"""The seeded chaos scenario: clients, killer, settle and invariant checks, returning a printable report."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from django.db import connections

from engine.models import ActivityInstance, ProcessInstance
from engine.services.modification import instance_modify
from tests.support.chaos_checks import Settled, Violations, check_all, settle
from tests.support.chaos_clients import Api, ChaosClient
from tests.support.chaos_faults import Kill, Killer, QCluster
from tests.support.chaos_pool import Pool, Recorder


@dataclass
class ChaosConfig:
    seed: int
    duration: float = 20.0
    clients: int = 4
    kills: int = 5
    kill_policy: str = "any"  # see chaos_faults.Killer; "any" and "idle" wedge a bare qcluster, not a supervised node
    terminate_backends: bool = True
    settle_timeout: float = 150.0
    live_job_fraction: float = 0.05  # running instances given an extra service-task job before the chaos
    users: tuple[str, ...] = ("admin", "admin", "admin", "operator-a")  # cycled over the clients
    app_prefix: str = "chaos-q"  # application_name prefix of the workers' database connections
    operations: tuple[str, ...] | None = None  # ChaosClient method names to send (default: all)


@dataclass
class Target:
    """Where the scenario runs: the web server's base URL, the login, and the qcluster process trees."""

    base_url: str
    password: str
    clusters: list[QCluster]
    session_login: bool = False  # Basic auth is cheap only with the test settings' MD5 hasher


@dataclass
class ChaosReport:
    config: ChaosConfig
    instances: int
    calls: dict[str, Counter]
    kills: list[Kill]
    terminated: list[str]
    settled: Settled
    wedged: list[str]
    violations: Violations
    facts: dict
    live_jobs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def violation_count(self) -> int:
        return self.violations.total

    def render(self) -> str:
        c = self.config
        lines = [
            f"Chaos run: seed {c.seed}, {c.duration:.0f} s, {self.instances} instances, {c.clients} clients, "
            f"{len(self.wedged_names)} of {self.cluster_count} qclusters looking wedged at the end",
            "",
            "Operations sent",
            table(["kind", "sent", "2xx", "4xx", "5xx", "none", "statuses"], self.call_rows()),
            "",
            f"Workers killed ({c.kill_policy}): {len(self.kills)} "
            f"({sum(k.busy for k in self.kills)} holding a job lock; waiting on: "
            f"{dict(Counter(k.waiting_on for k in self.kills))})",
            f"Backends terminated: {len(self.terminated)} {self.terminated[:4]}",
            f"Live service-task jobs added before the chaos: {self.live_jobs}",
            f"Settle: {self.settled.seconds:.1f} s, settled: {self.settled.settled}, sweeps: {self.settled.sweeps}, "
            f"suspended batches activated: {self.settled.activated_batches} {self.settled.pending}",
            *[f"Wedged: {w}" for w in self.wedged],
            *[line for name, value in self.facts.items() for line in fact_lines(name, value)],
            *self.notes,
            "",
            f"Violations: {self.violation_count}",
        ]
        if self.violation_count:
            rows = [[kind, n, " | ".join(self.violations.examples[kind][:2])[:220]]
                    for kind, n in sorted(self.violations.counts.items())]
            lines.append(table(["kind", "count", "examples"], rows, left=(0, 2)))
        return "\n".join(lines)

    @property
    def cluster_count(self) -> int:
        return self.facts.get("qclusters", 0)

    @property
    def wedged_names(self) -> list[str]:
        return [w.split(":")[0] for w in self.wedged]

    def call_rows(self) -> list[list]:
        rows, total = [], Counter()
        for kind in sorted(self.calls):
            counts = self.calls[kind]
            classes = [counts.get(k, 0) for k in ("2xx", "4xx", "5xx", "none")]
            statuses = ",".join(f"{s}:{n}" for s, n in sorted((s, n) for s, n in counts.items() if isinstance(s, int)))
            rows.append([kind, sum(classes), *classes, statuses])
            total.update(dict(zip(("sent", "2xx", "4xx", "5xx", "none"), [sum(classes), *classes], strict=True)))
        rows.append(["total", total["sent"], total["2xx"], total["4xx"], total["5xx"], total["none"], ""])
        return rows


def fact_lines(name: str, value: object) -> list[str]:
    if isinstance(value, dict) and value:
        return [f"{name}:", *[f"    {v:>5}  {k}" for k, v in value.items()]]
    if isinstance(value, list) and value:
        return [f"{name}:", *[f"    {str(v)[:300]}" for v in value]]
    return [f"{name}: {value or 'none'}"]


def table(headers: list[str], rows: list[list], left: tuple[int, ...] = (0, 6)) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]

    def line(values: list) -> str:
        cells = enumerate(zip(values, widths, strict=True))
        return "  ".join(str(v).ljust(w) if i in left else str(v).rjust(w) for i, (v, w) in cells)

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def add_live_jobs(pool: Pool, rng: random.Random, fraction: float) -> int:
    """Give some running, active instances an extra token at a service task: its job runs during the chaos."""
    candidates = sorted(ProcessInstance.objects.filter(suspended=False).values_list("id", flat=True))
    added = 0
    for instance_id in rng.sample(candidates, int(len(candidates) * fraction)):
        definition = pool.definitions.get(pool.definition_of[instance_id])
        if definition is None or not ActivityInstance.objects.filter(process_instance_id=instance_id).exists():
            continue
        instance_modify(instance_id=instance_id, instructions=[
            {"type": "startBeforeActivity", "activityId": rng.choice(definition.service_tasks)}
        ])
        added += 1
    return added


def wait_ready(clusters: list[QCluster], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(c.ready() for c in clusters):
            return
        time.sleep(0.3)
    raise RuntimeError(f"qclusters not ready after {timeout}s: {[(c.name, c.grandchildren()) for c in clusters]}")


def run_chaos(config: ChaosConfig, target: Target) -> ChaosReport:
    """Run the scenario on data already loaded (demo instances), with the servers of target already started."""
    rng = random.Random(f"chaos-{config.seed}")
    pool = Pool.snapshot()
    recorder = Recorder()
    recorder.pool = pool
    wait_ready(target.clusters)
    live_jobs = add_live_jobs(pool, rng, config.live_job_fraction)
    stop = threading.Event()

    def api_factory(index: int):
        user = config.users[index % len(config.users)]
        return lambda: Api(target.base_url, user, target.password, recorder, session_login=target.session_login)

    clients = [ChaosClient(i, config.seed, api_factory(i), pool, recorder, stop, config.operations)
               for i in range(config.clients)]
    killer = Killer(
        target.clusters, random.Random(f"chaos-{config.seed}-killer"), stop,
        max_kills=config.kills, interval=max(2.0, config.duration / (config.kills + 1)),
        terminate_at=config.duration / 2 if config.terminate_backends else None, app_prefix=config.app_prefix,
        policy=config.kill_policy,
    )
    pool.start_clock()
    for thread in [*clients, killer]:
        thread.start()
    stop.wait(config.duration)
    stop.set()
    for thread in [*clients, killer]:
        thread.join(timeout=120)
    notes = [f"thread {t.name} still running after the chaos" for t in [*clients, killer] if t.is_alive()]
    notes += [f"killer error: {e}" for e in killer.errors]
    settled = settle(config.settle_timeout)
    wedged = [f"{c.name}: workers {c.describe()}" for c in target.clusters if c.looks_wedged()]
    violations, facts = check_all(recorder, pool)
    for description in wedged:
        violations.add("0w qcluster wedged: no worker takes tasks (killed holding the queue lock)", description)
    facts["qclusters"] = len(target.clusters)
    for c in target.clusters:
        c.current_node()  # notices a restart since the killer last looked
    facts["node restarts by the supervisor (at least)"] = {c.name: c.restarts for c in target.clusters if c.supervised}
    if not settled.settled:
        violations.add("1g not settled within the settle timeout", settled.pending)
    connections.close_all()
    return ChaosReport(
        config=config, instances=pool.size, calls=recorder.by_kind(), kills=killer.kills, terminated=killer.terminated,
        settled=settled, wedged=wedged, violations=violations, facts=facts, live_jobs=live_jobs, notes=notes,
    )
