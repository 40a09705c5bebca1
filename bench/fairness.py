"""Process-job latency while a large batch runs, with the fairness rules off and on.

Usage: python bench/fairness.py --db sqlite|postgres [--instances 100000] [--rate 10] [--idle 15]
       [--configs off,yield,cap1] [--database cockpit_bench] [--port 8765]

For each configuration: load the demo (--instances, 65 % running) into a fresh bench database,
start gunicorn and one worker node (`manage.py workers`, 2 q2 workers; ORM broker on SQLite, Redis
on PostgreSQL) with that configuration's environment, then
1. idle: a load thread starts --rate instances per second of a start → service task → end process
   for --idle seconds; each instance's service task is an async continuation job (a process job);
2. batch: cancel every running demo instance in one batch (POST /process-instance/delete) and keep
   the same load going until the batch's endTime.
A process job's latency is due → done: from its creation log row (it is due at once) to its
success log row, both written by the engine. Jobs not done when the phase ends (+10 s) are "late".
Configurations (the workers' environment):
  off   JOB_FAIR_SHARES=false: batch jobs taken first come, first served, like before fair shares
  whole as yield, but each execution job works its whole range at once (BATCH_YIELD_SLICE_ITEMS=0)
  yield the default: batch jobs yield to waiting process jobs (at their wake-up and between slices
        of BATCH_YIELD_SLICE_ITEMS items inside a job) and batches take turns, no cap
  cap1  as yield, and BATCH_MAX_RUNNING_JOBS=1: one of the two workers stays free for process jobs
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ROOT, Servers, base_env, prepare, table  # noqa: E402

CONFIGS = {
    "off": {"JOB_FAIR_SHARES": "false"},
    "whole": {"JOB_FAIR_SHARES": "true", "BATCH_MAX_RUNNING_JOBS": "0", "BATCH_YIELD_SLICE_ITEMS": "0"},
    "yield": {"JOB_FAIR_SHARES": "true", "BATCH_MAX_RUNNING_JOBS": "0"},
    "cap1": {"JOB_FAIR_SHARES": "true", "BATCH_MAX_RUNNING_JOBS": "1"},
}
LOAD_KEY = "fairness-load"
LOAD_BPMN = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:bench">'
    f'<bpmn:process id="{LOAD_KEY}" isExecutable="true">'
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="service"/>'
    '<bpmn:serviceTask id="service" name="Call it"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="service" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
    '</bpmn:process></bpmn:definitions>'
)


def django_setup(kind: str, database: str) -> None:
    """This process writes the load itself (as a client of the engine would, through instance_start)."""
    os.environ.update(base_env(kind, database))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


class Load:
    """Starts `rate` load instances per second in a thread until stopped; remembers when each phase ran."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from django.db import connection

        from engine.models import ProcessDefinition
        from engine.services.runtime import instance_start

        definition = ProcessDefinition.objects.filter(key=LOAD_KEY).latest("version")
        next_at = time.monotonic()
        while not self._stop.is_set():
            instance_start(definition=definition)
            self.started += 1
            next_at += 1 / self.rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        connection.close()

    def __enter__(self) -> Load:
        from django.utils import timezone

        self.since = timezone.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def latencies(since, until) -> tuple[list[float], int]:
    """Due → done in ms of the load's jobs created in [since, until), and how many are not done."""
    from engine.models import HistoricJobLog

    logs = HistoricJobLog.objects.filter(process_definition_key=LOAD_KEY, timestamp__gte=since)
    created = dict(logs.filter(creation_log=True, timestamp__lt=until).values_list("job_id", "timestamp"))
    done = dict(logs.filter(success_log=True, job_id__in=list(created)).values_list("job_id", "timestamp"))
    samples = [(done[j] - created[j]).total_seconds() * 1000 for j in created if j in done]
    return samples, len(created) - len(samples)


def wait_drained(timeout: float = 60) -> None:
    from engine.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(process_definition_key=LOAD_KEY).exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def run_config(kind: str, name: str, instances: int, rate: float, idle: float, database: str, port: int) -> list[list]:
    from django.db import connections
    from django.utils import timezone

    from engine.services.deployment import deployment_create

    connections.close_all()  # the bench database is dropped and created again
    env = prepare(kind, instances, database)
    deployment_create(name="fairness bench", resources=[(f"{LOAD_KEY}.bpmn", LOAD_BPMN.encode())])
    rows = []
    with Servers({**env, **CONFIGS[name]}, port=port, log_prefix="cockpit-fairness") as servers:
        time.sleep(2)  # the workers' first tasks (the sweep) out of the way
        with Load(rate) as load:
            time.sleep(idle)
        until = timezone.now()
        wait_drained()
        rows.append(row(kind, instances, name, "idle", *latencies(load.since, until), None, None))
        started = time.perf_counter()
        batch = servers.request("POST", "/engine-rest/process-instance/delete",
                                {"processInstanceQuery": {}, "deleteReason": "fairness bench", "reason": "fairness bench"})
        with Load(rate) as load:
            while not (historic := servers.get(f"/engine-rest/history/batch/{batch['id']}"))["endTime"]:
                time.sleep(0.1)
        seconds = time.perf_counter() - started
        until = timezone.now()
        wait_drained()
        rows.append(row(kind, instances, name, "batch", *latencies(load.since, until), seconds, historic["totalItems"]))
    connections.close_all()
    return rows


def row(kind, instances, name, phase, samples, late, batch_s, items) -> list:
    ordered = sorted(samples) or [0.0]
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return [kind, instances, name, phase, len(samples), late, f"{statistics.median(ordered):.0f}", f"{p95:.0f}",
            f"{ordered[-1]:.0f}", "" if batch_s is None else f"{batch_s:.1f}", "" if items is None else items]


HEADERS = ["db", "instances", "config", "phase", "jobs", "late", "p50 ms", "p95 ms", "max ms", "batch s", "items"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, default=100_000, help="demo instances (65 %% running; default 100000)")
    parser.add_argument("--rate", type=float, default=10, help="load instances started per second (default 10)")
    parser.add_argument("--idle", type=float, default=15, help="seconds of load with no batch (default 15)")
    parser.add_argument("--configs", default="off,yield,cap1")
    parser.add_argument("--database", default=common.PG_DATABASE,
                        help="PostgreSQL database, or /tmp/<name>.sqlite3 on SQLite (default: the shared bench one)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if args.database != common.PG_DATABASE:
        common.SQLITE_PATH = common.Path(f"/tmp/{args.database}.sqlite3")
    django_setup(args.db, args.database)
    rows = []
    for name in args.configs.split(","):
        rows.extend(run_config(args.db, name, args.instances, args.rate, args.idle, args.database, args.port))
        lines = table(HEADERS, rows).splitlines()
        print("\n".join(lines if len(rows) == 2 else lines[-2:]), flush=True)
    print()
    print(f"Process-job latency (due to done), {args.rate:g} service-task jobs/s, 1 worker node with 2 q2 workers")
    print(table(HEADERS, rows))
    ratios = [[r[2], f"{int(r[7]) / max(int(i[7]), 1):.1f}x"] for i, r in zip(rows[::2], rows[1::2])]
    print()
    print(table(["config", "batch p95 / idle p95"], ratios))
    print("target (issue 14): with a 100k batch running, p95 at most 2x idle with the fairness rule on")


if __name__ == "__main__":
    main()
