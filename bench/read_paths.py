"""Read-path latency: batch statistics, the monitoring page and the wizard count, p50/p95.

Usage: python bench/read_paths.py --db sqlite|postgres [--batches 1000] [--items 1000000] [--instances 100000]
Runs in-process through Django's test client (server time, no network), on a fresh bench database.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import base_env, fresh_database, manage, table  # noqa: E402


def setup_django(kind: str) -> None:
    os.environ.update(
        base_env(kind),
        DJANGO_ALLOWED_HOSTS="testserver,localhost",
        STATICFILES_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage",
    )
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import django

    django.setup()


def make_batches(batches: int, items: int) -> None:
    """batches historic batches (a tenth still running, with jobs) and items batch items, set-based."""
    from django.db import connection, transaction
    from django.utils import timezone

    from batches.models import Batch, BatchItem, HistoricBatch
    from engine.models import Job, JobDefinition

    now = timezone.now()
    per_batch = max(1, items // batches)
    with transaction.atomic():
        for b in range(batches):
            running = b % 10 == 0
            batch_id = str(uuid.uuid4())
            defs = [JobDefinition(job_type=t, job_configuration=batch_id) for t in ("batch-seed-job", "batch-monitor-job", "instance-deletion")]
            JobDefinition.objects.bulk_create(defs)
            fields = dict(
                id=batch_id, type="instance-deletion", total_jobs=per_batch // 100 or 1, batch_jobs_per_seed=100,
                invocations_per_batch_job=100, seed_job_definition_id=defs[0].id, monitor_job_definition_id=defs[1].id,
                batch_job_definition_id=defs[2].id, create_user_id="admin" if b % 2 else "operator-a",
                start_time=now - timedelta(minutes=batches - b),
            )
            HistoricBatch.objects.create(**fields, total_items=per_batch, end_time=None if running else now,
                                         final_state=None if running else "completed",
                                         items_succeeded=per_batch // 2 if running else per_batch, items_skipped=0,
                                         items_failed=0, items_pending=per_batch - per_batch // 2 if running else 0)
            if running:
                Batch.objects.create(**fields, jobs_created=fields["total_jobs"], total_items=per_batch)
                Job.objects.bulk_create(
                    Job(job_definition=defs[2], job_type="instance-deletion", retries=0 if j % 3 == 0 else 3,
                        suspended=True, create_time=now, handler_configuration={})
                    for j in range(min(10, fields["total_jobs"]))
                )
        table_name = connection.ops.quote_name(BatchItem._meta.db_table)
        with connection.cursor() as cursor:
            # Items for every batch in one INSERT ... SELECT with a generated series (both databases).
            cursor.execute(
                f"""INSERT INTO {table_name} (batch_id, seq, target_id, state)
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %s)
                SELECT h.id, n.i, h.id || '-' || n.i, 'SUCCEEDED' FROM batches_historicbatch h CROSS JOIN n""",
                [per_batch - 1],
            )


def measure(client, url: str, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    env = base_env(args.db)
    fresh_database(args.db)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_demo_data", "--instances", str(args.instances), "--password", "bench-password")
    setup_django(args.db)
    started = time.perf_counter()
    make_batches(args.batches, args.items)
    print(f"created {args.batches} batches and {args.items} items in {time.perf_counter() - started:.1f}s", flush=True)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    import gc

    gc.freeze()  # as cockpit/wsgi.py does in each web process once Django has started
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    operator = Client()
    operator.force_login(User.objects.get(username="operator-a"))
    rows = []
    for label, who, url in [
        ("GET /batch/statistics", client, "/engine-rest/batch/statistics"),
        ("GET /batch/statistics?withFailures", client, "/engine-rest/batch/statistics?withFailures=true"),
        ("GET /batch/statistics/count", client, "/engine-rest/batch/statistics/count"),
        ("GET /history/batch (page)", client, "/engine-rest/history/batch?maxResults=50"),
        ("monitoring page /cockpit/batch", client, "/cockpit/batch"),
        ("monitoring page (tenant operator)", operator, "/cockpit/batch"),
        ("batch details page", client, None),
        ("wizard count, all running", client, "/cockpit/batch/operation?op=cancel"),
        ("wizard count, by key + state", client, "/cockpit/batch/operation?op=cancel&key=invoice&state=active"),
        ("wizard count, history finished", client, "/cockpit/batch/operation?op=delete-history"),
        ("GET /process-instance/count", client, "/engine-rest/process-instance/count"),
    ]:
        if url is None:
            from batches.models import HistoricBatch

            url = f"/cockpit/batch/{HistoricBatch.objects.order_by('-start_time').values_list('id', flat=True).first()}"
        p50, p95 = measure(who, url, args.runs)
        rows.append([args.db, label, f"{p50:.1f}", f"{p95:.1f}"])
    print(table(["db", "read path", "p50 ms", "p95 ms"], rows))


if __name__ == "__main__":
    main()
