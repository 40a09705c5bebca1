"""Seeded chaos against PostgreSQL + Redis, gunicorn and two qclusters: operations sent, faults, violations.

Usage: python bench/chaos.py [--seed 1] [--duration 90] [--instances 3000] [--clients 4] [--clusters 2]
                             [--workers 2] [--kills 6] [--kill-policy prefer-busy|busy|any|idle] [--no-terminate]
                             [--ops cancel_batch,complete_task,...] [--settle 180]

Loads demo data into a fresh database `cockpit_chaos`, starts gunicorn and the qclusters with short
lock timeouts (a killed worker's job lock expires during the run), runs tests/support/chaos.py
(clients sending overlapping batches and single-instance calls over HTTP, a killer SIGKILLing
workers and terminating their PostgreSQL backends once), lets the workers settle and checks the
invariants. Exit status 1 when a violation was found. Server logs: /tmp/cockpit-chaos-*.log.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import PASSWORD, ROOT, Servers, database_url, prepare  # noqa: E402

sys.path.insert(0, str(ROOT))

DATABASE = "cockpit_chaos"
APP_PREFIX = "chaos-q"
SERVER_ENV = {
    "Q_TIMEOUT": "20",
    "JOB_LOCK_SECONDS": "25",
    "JOB_REENQUEUE_SECONDS": "5",
    "JOB_SWEEP_MINUTES": "1",
    "BATCH_POLL_SECONDS": "5",
    "BATCH_JOBS_PER_SEED": "3",
    "BATCH_INVOCATIONS_PER_JOB": "10",
    "BATCH_INVOCATIONS_PER_JOB_INSTANCE_MODIFICATION": "5",
    "WORKER_STALL_SECONDS": "10",
    "LOG_LEVEL": "WARNING",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=90, help="seconds of chaos (default 90)")
    parser.add_argument("--instances", type=int, default=3000, help="demo instances (default 3000)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--clusters", type=int, default=2, help="qcluster processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="workers per qcluster (default 2)")
    parser.add_argument("--kills", type=int, default=6, help="workers to SIGKILL (default 6)")
    parser.add_argument("--kill-policy", default="any", choices=["busy", "prefer-busy", "any", "idle"])
    parser.add_argument("--no-terminate", action="store_true", help="do not terminate the workers' backends")
    parser.add_argument("--ops", default="", help="comma-separated ChaosClient operations to send (default: all)")
    parser.add_argument("--settle", type=float, default=180, help="seconds to wait for the workers to settle")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    started = time.monotonic()
    env = {**prepare("postgres", args.instances, database=DATABASE), **SERVER_ENV}
    loaded = time.monotonic() - started
    # This process reads and checks the same database and sends the harness's sweeps to the same queue.
    os.environ.update({k: v for k, v in env.items() if k not in ("DATABASE_URL",)})
    os.environ["DATABASE_URL"] = f"{database_url('postgres', DATABASE)}?application_name=chaos-harness"
    import django

    django.setup()
    from tests.support.chaos import ChaosConfig, Target, run_chaos
    from tests.support.chaos_faults import QCluster

    def cluster_env(i: int) -> dict:
        return {"DATABASE_URL": f"{database_url('postgres', DATABASE)}?application_name={APP_PREFIX}{i + 1}"}

    config = ChaosConfig(
        seed=args.seed, duration=args.duration, clients=args.clients, kills=args.kills,
        kill_policy=args.kill_policy, settle_timeout=args.settle, app_prefix=APP_PREFIX,
        terminate_backends=not args.no_terminate, operations=tuple(args.ops.split(",")) if args.ops else None,
    )
    with Servers(env, port=args.port, workers=args.workers, clusters=args.clusters, cluster_env=cluster_env,
                 web_workers=4, log_prefix="cockpit-chaos") as servers:
        clusters = [QCluster(f"q{i + 1}", p.pid, args.workers, supervised=True) for i, p in enumerate(servers.clusters)]
        target = Target(base_url=f"http://127.0.0.1:{args.port}", password=PASSWORD, clusters=clusters,
                        session_login=True)
        report = run_chaos(config, target)
    print(f"python bench/chaos.py --seed {args.seed} --duration {args.duration:.0f} --instances {args.instances} "
          f"--clients {args.clients} --clusters {args.clusters} --workers {args.workers} --kills {args.kills} "
          f"--kill-policy {args.kill_policy}{' --no-terminate' if args.no_terminate else ''}"
          f"{f' --ops {args.ops}' if args.ops else ''}"
          f"   (data loaded in {loaded:.1f} s, total {time.monotonic() - started:.0f} s)")
    print(report.render())
    return 1 if report.violation_count else 0


if __name__ == "__main__":
    sys.exit(main())
