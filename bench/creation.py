"""Where a batch's creation spends its time: batch_create timed statement by statement.

Usage: python bench/creation.py --db sqlite|postgres [--instances 100000] [--reuse DATABASE] [--runs 3]

Loads the demo (or, with --reuse, takes a PostgreSQL database already loaded by load_demo_data, or
the SQLite file /tmp/DATABASE.sqlite3), then creates a cancellation batch of every running instance
(`processInstanceQuery: {}`, as bench/batch_throughput.py's `cancel`) --runs times, each in a
transaction that is rolled back, and prints the total and the statements that took longest in the
last run. No servers and no HTTP: what the POST costs beyond this is the request itself.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import base_env, prepare

TOP = 6


class _Rollback(Exception):
    pass


def measure(runs: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from batches.operations import ENDPOINTS
    from batches.services import batch_create

    user = get_user_model().objects.get(username="admin")
    operation = ENDPOINTS["process-instance/delete"]
    statements: list[tuple[float, str]] = []  # (seconds, statement) of the current run

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - started, " ".join(sql.split())[:110]))

    for run in range(1, runs + 1):
        statements.clear()
        started = time.perf_counter()
        try:
            with connection.execute_wrapper(timed), transaction.atomic():
                batch = batch_create(operation=operation, payload={"processInstanceQuery": {}, "deleteReason": "bench"}, user=user)
                items = batch.total_items
                raise _Rollback
        except _Rollback:
            pass
        total = time.perf_counter() - started
        print(f"run {run}: {items} items, {total:.2f} s, {len(statements)} statements, "
              f"{sum(d for d, _ in statements):.2f} s in the database")
    print(f"\nslowest statements of the last run (of {len(statements)}):")
    for duration, sql in sorted(statements, reverse=True)[:TOP]:
        print(f"{duration:8.3f} s  {sql}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--reuse", help="an already loaded database: PostgreSQL name, or /tmp/NAME.sqlite3")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.reuse:
        env = base_env(args.db, args.reuse)
        if args.db == "sqlite":
            env["DATABASE_URL"] = f"sqlite:////tmp/{args.reuse}.sqlite3"
    else:
        started = time.perf_counter()
        env = prepare(args.db, args.instances)
        print(f"loaded {args.instances} demo instances in {time.perf_counter() - started:.0f} s")
    os.environ.update(env)
    measure(args.runs)


if __name__ == "__main__":
    main()
