"""Seeded chaos on PostgreSQL: overlapping batches, single calls, killed workers and backends; every invariant holds."""
import logging
import os

import pytest
from django.conf import settings as django_settings

from engine.demo import ensure_users, load_instances
from tests.conftest import PASSWORD
from tests.support.chaos import ChaosConfig, Target, run_chaos
from tests.support.chaos_faults import QCluster
from tests.support.cluster import test_database_url as database_url

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="the chaos scenario needs PostgreSQL (row locks, pg_terminate_backend)",
    ),
]

SECONDS = float(os.environ.get("CHAOS_SECONDS", "20"))
INSTANCES = int(os.environ.get("CHAOS_INSTANCES", "600"))
SEEDS = [int(s) for s in os.environ.get("CHAOS_SEEDS", "1,2").split(",")]
APP_PREFIX = "chaos-q"

# Short timeouts, so a killed worker's job lock expires and its job runs again during the test.
CLUSTER_ENV = {
    "Q_TIMEOUT": "20",
    "JOB_LOCK_SECONDS": "25",
    "JOB_REENQUEUE_SECONDS": "5",
    "JOB_SWEEP_MINUTES": "1",
    "BATCH_POLL_SECONDS": "5",
    "WORKER_STALL_SECONDS": "5",  # a node wedged by a killed idle worker is restarted within the run
    "LOG_LEVEL": "WARNING",
}


@pytest.mark.parametrize("seed", SEEDS)
def test_randomized_operations_keep_every_invariant(seed, cluster, live_server, settings, caplog):
    caplog.set_level(logging.WARNING, logger="django-q")  # one "Enqueued" line per job otherwise
    caplog.set_level(logging.ERROR, logger="django.request")  # the expected 4xx; 5xx stay in the log
    settings.ENGINE = {**settings.ENGINE, "JOB_REENQUEUE_SECONDS": 5}  # the harness's own sweeps while settling
    # Small chunks (the web server creates the batches): several jobs per batch, run by several workers at once.
    settings.BATCH = {
        **settings.BATCH, "JOBS_PER_SEED": 3, "INVOCATIONS_PER_JOB": 10, "POLL_SECONDS": 5,
        "PER_TYPE": {"instance-modification": {"JOBS_PER_SEED": 0, "INVOCATIONS_PER_JOB": 5}},
    }
    ensure_users(PASSWORD)
    load_instances(INSTANCES)
    clusters = []
    for i in range(2):  # two qclusters, as on two hosts, sharing the database and the broker
        env = {**CLUSTER_ENV, "DATABASE_URL": f"{database_url()}?application_name={APP_PREFIX}{i + 1}"}
        node = cluster(workers=2, command="workers", **env)  # supervised, as `make run` starts it
        clusters.append(QCluster(f"q{i + 1}", node.process.pid, workers=2, supervised=True))
    # Workers are killed busy or idle, as an out-of-memory kill does not choose.
    config = ChaosConfig(seed=seed, duration=SECONDS, clients=4, kills=4, kill_policy="any", app_prefix=APP_PREFIX)
    report = run_chaos(config, Target(base_url=live_server.url, password=PASSWORD, clusters=clusters))
    print(report.render())
    assert report.violation_count == 0, f"{report.violation_count} invariant violations; the report is printed above"
