"""Batch webhooks on real q2 workers: one signed event per transition, retries of a failing receiver."""
import json
import time

import pytest

from batches.models import BatchItem, WebhookDelivery
from batches.notifications import WEBHOOK_JOB
from engine.models import Job
from engine.services.jobs import jobs_delete, jobs_enqueue
from engine.services.lifecycle import instances_set_suspended
from tests.batches.test_cluster import create_via_rest, finished
from tests.batches.test_webhooks import SECRET, Receiver, verify
from tests.support.cluster import wait_for
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster
R = "/engine-rest"
# Every retry is due at once here; the backoff's growth is tested in test_webhooks.py.
ENV = {"WEBHOOK_SECRET": SECRET, "WEBHOOK_BACKOFF_SECONDS": "0", "WEBHOOK_MAX_ATTEMPTS": "4"}


def settled(batch_id: str, count: int) -> list[WebhookDelivery]:
    """The batch's deliveries once `count` exist, none is pending and their jobs are gone."""
    def done():
        rows = list(WebhookDelivery.objects.filter(batch_id=batch_id).order_by("created_at"))
        final = len(rows) == count and all(r.state != WebhookDelivery.PENDING for r in rows)
        return rows if final and not Job.objects.filter(job_type=WEBHOOK_JOB).exists() else None

    return wait_for(done, timeout=60, message=f"{count} settled deliveries of batch {batch_id}")


def test_a_completed_batch_sends_exactly_one_signed_event(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    cluster(workers=2, **ENV)
    definition = deploy()
    ids = [start(definition).id for _ in range(3)]
    with Receiver() as receiver:
        batch = create_via_rest(admin_user, "process-instance/suspended-async",
                                {"processInstanceIds": ids, "suspended": True, "webhookUrl": receiver.url, "reason": "night run"})
        assert finished(batch["id"]).final_state == "completed"
        [delivery] = settled(batch["id"], 1)
        time.sleep(1)  # a duplicate send would arrive now
    assert (delivery.event, delivery.state, delivery.attempts, delivery.last_status_code) == ("completed", "delivered", 1, 200)
    [request] = receiver.requests
    assert verify(request) and request["headers"]["X-Cockpit-Event-Id"] == delivery.id
    event = json.loads(request["body"])
    assert event["type"] == "batch.completed" and event["id"] == delivery.id
    assert event["batch"] | {"startTime": None, "endTime": None} == {
        "id": batch["id"], "type": "instance-update-suspension-state", "finalState": "completed", "totalItems": 3,
        "itemsSucceeded": 3, "itemsSkipped": 0, "itemsFailed": 0, "itemsPending": 0, "startTime": None,
        "endTime": None, "createUserId": "alice-admin", "reason": "night run",
    }
    assert event["batch"]["endTime"] is not None


def test_a_failing_item_sends_first_failed_job_then_the_final_state(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=5, invocations=5)
    cluster(workers=2, **ENV)
    definition = deploy()
    good, stuck = start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    with Receiver() as receiver:
        batch = create_via_rest(admin_user, "modification/executeAsync", {
            "processDefinitionId": definition.id, "processInstanceIds": [good.id, stuck.id],
            "instructions": [{"type": "cancel", "activityId": "task"}], "webhookUrl": receiver.url,
            "reason": "close the stuck ones",
        })
        job = wait_for(lambda: Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"], retries=0).first(),
                       timeout=60, message="the execution job to run out of retries")
        [first] = settled(batch["id"], 1)  # three failures of the job, one event
        jobs_delete(job_ids=[job.id])  # the operator gives up on the stuck item: the monitor ends the batch
        monitor = Job.objects.get(job_definition_id=batch["monitorJobDefinitionId"])
        Job.objects.filter(id=monitor.id).update(due_date=None)
        jobs_enqueue([monitor.id])
        historic = finished(batch["id"])
        rows = settled(batch["id"], 2)
        time.sleep(1)
    assert historic.final_state == "completed_with_failures"
    assert BatchItem.objects.get(batch_id=batch["id"], target_id=good.id).state == "SUCCEEDED"
    assert [(r.event, r.state, r.attempts) for r in rows] == [("first_failed_job", "delivered", 1), ("completed_with_failures", "delivered", 1)]
    assert first.id == rows[0].id
    events = receiver.events()
    assert [e["type"] for e in events] == ["batch.first_failed_job", "batch.completed_with_failures"]
    assert all(verify(r) for r in receiver.requests)
    assert events[0]["batch"]["finalState"] is None and events[1]["batch"]["finalState"] == "completed_with_failures"


def test_a_failing_receiver_is_retried_and_the_attempts_are_recorded(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    cluster(workers=2, **ENV)
    with Receiver(statuses=[500, 500]) as receiver:
        batch = create_via_rest(admin_user, "process-instance/suspended-async",
                                {"processInstanceIds": [start(deploy()).id], "suspended": True, "webhookUrl": receiver.url})
        finished(batch["id"])
        [delivery] = settled(batch["id"], 1)
    assert (delivery.state, delivery.attempts, delivery.last_status_code, delivery.last_error) == ("delivered", 3, 200, None)
    assert len(receiver.requests) == 3
    assert {r["headers"]["X-Cockpit-Event-Id"] for r in receiver.requests} == {delivery.id}
    assert all(verify(r) for r in receiver.requests)
    log = client_log(admin_user, batch["id"])
    assert [(d["state"], d["attempts"], d["lastStatusCode"]) for d in log] == [("delivered", 3, 200)]


def test_a_receiver_that_never_answers_2xx_ends_failed_after_the_last_attempt(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    cluster(workers=2, **ENV)
    with Receiver(statuses=[500] * 10) as receiver:
        batch = create_via_rest(admin_user, "process-instance/suspended-async",
                                {"processInstanceIds": [start(deploy()).id], "suspended": True, "webhookUrl": receiver.url})
        finished(batch["id"])
        [delivery] = settled(batch["id"], 1)
        time.sleep(1)
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("failed", 4, 500)
    assert "HTTP 500" in delivery.last_error
    assert len(receiver.requests) == 4


def client_log(user, batch_id: str) -> list[dict]:
    from tests.conftest import client_for

    response = client_for(user).get(f"{R}/batch/{batch_id}/webhook-deliveries")
    assert response.status_code == 200
    return response.json()
