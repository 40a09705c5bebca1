"""What an operator feels acting on a handful: end-to-end latency of small batches, p50/p95.

Usage: python bench/small_batches.py --db sqlite|postgres [--sizes 1,10,100] [--runs 20]
Loads the demo (3,000 instances) into a fresh bench database, starts gunicorn and one worker node
(`manage.py workers`, 2 q2 workers; SQLite with the ORM broker, PostgreSQL with Redis), then for
each size creates --runs suspension batches through REST (suspend, then activate, alternating, on
the same running instances) and times each from the POST to the moment `GET /history/batch/{id}`
shows an endTime (polled every 10 ms).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Servers, prepare, table  # noqa: E402

POLL_SECONDS = 0.01


def one_batch(servers: Servers, ids: list[str], suspended: bool) -> float:
    started = time.perf_counter()
    batch = servers.request("POST", "/engine-rest/process-instance/suspended-async",
                            {"processInstanceIds": ids, "suspended": suspended})
    while True:
        historic = servers.get(f"/engine-rest/history/batch/{batch['id']}")
        if historic["endTime"]:
            if historic["itemsSucceeded"] != len(ids):
                raise RuntimeError(f"batch {batch['id']} ended with {historic}")
            return (time.perf_counter() - started) * 1000
        time.sleep(POLL_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = prepare(args.db, 3000)
    sizes = [int(x) for x in args.sizes.split(",")]
    rows = []
    with Servers(env) as servers:
        running = [row["id"] for row in servers.get(f"/engine-rest/process-instance?maxResults={max(sizes)}&sortBy=instanceId&sortOrder=asc")]
        one_batch(servers, running[:1], True)  # warm up: first requests of each process
        one_batch(servers, running[:1], False)
        for size in sizes:
            samples = [one_batch(servers, running[:size], run % 2 == 0) for run in range(args.runs)]
            ordered = sorted(samples)
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            rows.append([args.db, size, args.runs, f"{statistics.median(samples):.0f}", f"{p95:.0f}", f"{max(samples):.0f}"])
    broker = "ORM broker" if args.db == "sqlite" else "Redis broker"
    print(f"POST to endTime of suspension batches, {broker}, 1 worker node with 2 q2 workers")
    print(table(["db", "instances", "runs", "p50 ms", "p95 ms", "max ms"], rows))
    print("target: 10 instances p50 under 300 ms (SQLite + ORM broker) and 200 ms (PostgreSQL + Redis)")


if __name__ == "__main__":
    main()
