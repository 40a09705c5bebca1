"""Prometheus metrics: the installation's state from the database, for loopback or the bearer token only."""
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from batches.operations import ENDPOINTS
from batches.services import batch_create, batch_set_suspended
from engine.services.modification import instance_modify
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def samples(response) -> dict[tuple, float]:
    assert response["Content-Type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_report_batches_items_queue_and_incidents(client, admin_user):
    definition = deploy()
    running = [start(definition) for _ in range(3)]
    failing = start(definition, fail=True)
    instance_modify(instance_id=failing.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    for _ in range(3):
        run_jobs()  # the service task fails until its retries are gone: an incident
    done = batch_create(operation=ENDPOINTS["process-instance/delete"],
                        payload={"processInstanceIds": [running[0].id, "gone"], "deleteReason": "m"}, user=admin_user)
    run_jobs()
    waiting = batch_create(operation=ENDPOINTS["process-instance/suspended-async"],
                           payload={"processInstanceIds": [running[1].id], "suspended": True}, user=admin_user)
    batch_set_suspended(batch=waiting, suspended=True, user_id=admin_user.username)
    found = samples(client.get("/metrics"))
    assert found[("cockpit_batches", (("state", "suspended"),))] == 1
    assert found[("cockpit_batches", (("state", "active"),))] == 0
    assert found[("cockpit_historic_batches", (("final_state", "completed"), ("type", "instance-deletion")))] == 1
    assert found[("cockpit_batch_items", (("result", "succeeded"), ("type", "instance-deletion")))] == 1
    assert found[("cockpit_batch_items", (("result", "skipped"), ("type", "instance-deletion")))] == 1
    assert found[("cockpit_batch_items", (("result", "pending"), ("type", "instance-update-suspension-state")))] == 1
    assert found[("cockpit_incidents_open", ())] == 1
    assert found[("cockpit_process_instances_running", ())] == 4 - 1
    assert found[("cockpit_jobs_failed", (("job_type", "async-continuation"),))] == 1
    assert done.id  # the ended batch is the one counted above


def test_the_executor_queue_depth_and_lag(client):
    definition = deploy()
    instance = start(definition)
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    found = samples(client.get("/metrics"))
    assert found[("cockpit_jobs_executable", (("job_type", "async-continuation"),))] == 1
    assert 0 <= found[("cockpit_job_lag_seconds", (("job_type", "async-continuation"),))] < 60


def test_only_loopback_or_the_token_may_read(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.METRICS = {**settings.METRICS, "TOKEN": "s3cret-metrics-token"}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert response.status_code == 200 and re.search(r"^cockpit_incidents_open 0\.0$", response.content.decode(), re.M)
    settings.METRICS = {**settings.METRICS, "TOKEN": "", "ALLOWED_NETWORKS": []}
    assert client.get("/metrics").status_code == 403  # loopback too, once no network is allowed
    assert client.post("/metrics").status_code in (403, 405)
