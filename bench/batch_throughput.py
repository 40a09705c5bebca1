"""End-to-end batch throughput through REST + a real qcluster, against the set-based SQL limit.

Usage: python bench/batch_throughput.py --db sqlite|postgres [--instances 1000,10000,100000]
       [--ops cancel,suspend,retries,migrate,restart,modify,delete-history,set-variables,removal-time,external-task-retries]

migrate moves every running instance of the demo's invoice version 2 to version 3 (the generated
plan plus the renamed and removed user tasks mapped by hand); restart restarts every finished
instance of invoice version 2 before its first user task; modify moves every instance of invoice
version 2 waiting in approveInvoice to secondApproval (cancel + startBeforeActivity).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import PYTHON, ROOT, PeakRss, Servers, drop_snapshot, prepare, restore, snapshot, table  # noqa: E402

sys.path.insert(0, str(ROOT))
from cockpit import sqlcount  # noqa: E402  (reads the counts the servers write)


def invoice(servers: Servers, version: int) -> str:
    return servers.get(f"/engine-rest/process-definition?key=invoice&version={version}")[0]["id"]


def migration(servers: Servers) -> tuple[str, dict]:
    source, target = invoice(servers, 2), invoice(servers, 3)
    plan = servers.request("POST", "/engine-rest/migration/generate", {
        "sourceProcessDefinitionId": source, "targetProcessDefinitionId": target})
    for old in ("approveInvoice", "secondApproval"):
        plan["instructions"].append({"sourceActivityIds": [old], "targetActivityIds": ["checkInvoice"]})
    return "migration/executeAsync", {"migrationPlan": plan, "processInstanceQuery": {"processDefinitionId": source}}


def restart(servers: Servers) -> tuple[str, dict]:
    source = invoice(servers, 2)
    return f"process-definition/{source}/restart-async", {
        "historicProcessInstanceQuery": {"processDefinitionId": source, "finished": True},
        "instructions": [{"type": "startBeforeActivity", "activityId": "assignApprover"}],
    }


def modification(servers: Servers) -> tuple[str, dict]:
    """Every active instance of invoice v2 waiting in its first approval moves on to the second
    approval (a suspended instance cannot be modified: its item would fail)."""
    source = invoice(servers, 2)
    return "modification/executeAsync", {
        "processDefinitionId": source,
        "instructions": [{"type": "cancel", "activityId": "approveInvoice"},
                         {"type": "startBeforeActivity", "activityId": "secondApproval"}],
        "processInstanceQuery": {"processDefinitionId": source, "activityIdIn": ["approveInvoice"], "active": True},
    }


PAYLOADS = {
    "cancel": lambda servers: ("process-instance/delete", {"processInstanceQuery": {}, "deleteReason": "bench"}),
    "suspend": lambda servers: ("process-instance/suspended-async", {"processInstanceQuery": {}, "suspended": True}),
    "retries": lambda servers: ("job/retries", {"jobQuery": {}, "retries": 5, "dueDate": "2099-01-01T00:00:00.000+0000"}),
    "migrate": migration,
    "restart": restart,
    "modify": modification,
    "delete-history": lambda servers: ("history/process-instance/delete", {
        "historicProcessInstanceQuery": {"finished": True}, "deleteReason": "bench"}),
    "set-variables": lambda servers: ("process-instance/variables-async", {
        "processInstanceQuery": {}, "variables": SET_VARIABLES}),
    "removal-time": lambda servers: ("history/process-instance/set-removal-time", {
        "historicProcessInstanceQuery": {"finished": True}, "absoluteRemovalTime": REMOVAL_TIME}),
    "external-task-retries": lambda servers: ("external-task/retries-async", {"externalTaskQuery": {}, "retries": 5}),
}
SET_VARIABLES = {"benchChecked": {"value": True, "type": "Boolean"}, "benchNote": {"value": "bench", "type": "String"}}
REMOVAL_TIME = "2099-01-01T00:00:00.000+0000"


def run_batch(env: dict, op: str, workers: int) -> dict:
    counts = tempfile.mkdtemp(prefix="cockpit-sql-")
    env = {**env, "COCKPIT_SQL_COUNT_DIR": counts}
    with Servers(env, workers=workers) as servers, PeakRss(web=servers.web.pid, worker=servers.cluster.pid) as rss:
        path, payload = PAYLOADS[op](servers)
        before = sqlcount.totals(counts).get("worker", 0)
        started = time.perf_counter()
        batch = servers.request("POST", f"/engine-rest/{path}", payload)
        created = time.perf_counter() - started
        while True:
            historic = servers.get(f"/engine-rest/history/batch/{batch['id']}")
            if historic["endTime"]:
                break
            done = historic["itemsSucceeded"] + historic["itemsFailed"] + historic["itemsSkipped"]
            if historic["itemsFailed"] and done == historic["totalItems"] and not _retrying(servers, batch):
                historic["finalState"] = "failed jobs"  # a batch with failed jobs stays until they are handled
                break
            time.sleep(0.05)
        total = time.perf_counter() - started
        time.sleep(1)  # the last task writes its count after its transaction commits
        statements = sqlcount.totals(counts).get("worker", 0) - before
    shutil.rmtree(counts, ignore_errors=True)
    return {
        "sql_per_item": statements / max(historic["totalItems"], 1),
        "items": historic["totalItems"],
        "failed": historic["itemsFailed"],
        "state": historic["finalState"],
        "create_s": created,
        "total_s": total,
        "web_mb": rss.peak["web"],
        "worker_mb": rss.peak["worker"],
        "jobs": historic["totalJobs"],
    }


def _retrying(servers: Servers, batch: dict) -> bool:
    """Whether an execution job of the batch will still run (retries left)."""
    jobs = servers.get(f"/engine-rest/job?jobDefinitionId={batch['batchJobDefinitionId']}")
    return any(job["retries"] > 0 for job in jobs)


def limit(env: dict, op: str) -> float:
    result = subprocess.run([PYTHON, "bench/limit.py", op], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return float(result.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", default="10000", help="comma-separated demo instance counts (default 10000)")
    parser.add_argument("--ops", default="cancel,suspend,retries")
    parser.add_argument("--workers", type=int, default=2, help="q2 workers in the cluster (default 2)")
    args = parser.parse_args()
    rows, runs = [], []
    for n in [int(x) for x in args.instances.split(",")]:
        env = prepare(args.db, n)  # loaded once per count; each batch and each limit gets a copy
        snapshot(args.db)
        for i, op in enumerate(args.ops.split(",")):
            if i:
                restore(args.db)
            figures = run_batch(env, op, args.workers)
            restore(args.db)  # the same data again, for the limit
            sql = limit(env, op)
            items = figures["items"]
            runs.append((op, n, figures))
            rows.append([
                args.db, n, op, items, figures["jobs"], f"{figures['create_s']:.2f}", f"{figures['total_s']:.2f}",
                f"{items / figures['total_s']:.0f}", f"{sql:.2f}", f"{figures['total_s'] / sql:.1f}x",
                f"{figures['sql_per_item']:.4f}", f"{figures['web_mb']:.0f}", f"{figures['worker_mb']:.0f}", figures["state"],
            ])
            print(table(HEADERS, rows[-1:]) if len(rows) == 1 else table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
        drop_snapshot(args.db)
    print()
    print(table(HEADERS, rows))
    growth = scaling(runs)
    if growth:
        print()
        print(table(["op", "instances", "items x", "time x", "s per 10k items", "worker MB", "web MB"], growth))


def scaling(runs: list[tuple[str, int, dict]]) -> list[list]:
    """How time and memory grow from the smallest run of each operation to each larger one."""
    lines = []
    for op in dict.fromkeys(op for op, _, _ in runs):
        mine = sorted(((n, f) for o, n, f in runs if o == op), key=lambda run: run[0])
        if len(mine) < 2:
            continue
        first = mine[0][1]
        for n, f in mine:
            lines.append([
                op, n, f"{f['items'] / first['items']:.0f}", f"{f['total_s'] / first['total_s']:.1f}",
                f"{f['total_s'] / f['items'] * 10_000:.2f}", f"{f['worker_mb']:.0f}", f"{f['web_mb']:.0f}",
            ])
    return lines


HEADERS = [
    "db", "instances", "op", "items", "jobs", "create s", "total s", "items/s",
    "SQL limit s", "ratio", "SQL/item", "web MB", "worker MB", "state",
]

if __name__ == "__main__":
    main()
