"""Retry-as-new-batch on real qcluster workers: a batch's failed items, and only they, run again."""
import pytest

from batches.models import BatchItem, HistoricBatch
from engine.models import HistoricActivityInstance, Job
from engine.services.lifecycle import instances_set_suspended
from tests.batches.test_cluster import create_via_rest, finished
from tests.conftest import client_for
from tests.support.cluster import wait_for
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster
R = "/engine-rest"


def states(batch_id: str) -> dict[str, str]:
    return dict(BatchItem.objects.filter(batch_id=batch_id).values_list("target_id", "state"))


def test_the_retry_batch_runs_exactly_the_failed_items_on_the_workers(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    definition = deploy()
    instances = [start(definition) for _ in range(6)]
    stuck = [instances[1], instances[4]]
    instances_set_suspended(instance_ids=[i.id for i in stuck], suspended=True)
    cluster(workers=2)
    batch = create_via_rest(admin_user, "modification/executeAsync", {
        "processDefinitionId": definition.id,
        "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
        "processInstanceIds": [i.id for i in instances],
        "reason": "nudge",
    })
    wait_for(
        lambda: Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"], retries=0).count() == 2
        and BatchItem.objects.filter(batch_id=batch["id"], state="PENDING").count() == 0,
        timeout=90, message="both chunks holding a suspended instance to run out of retries",
    )
    assert states(batch["id"]) == {i.id: ("FAILED" if i in stuck else "SUCCEEDED") for i in instances}

    instances_set_suspended(instance_ids=[i.id for i in stuck], suspended=False)
    response = client_for(admin_user).post(f"{R}/batch/{batch['id']}/items/retry", {"state": "FAILED"}, format="json")
    assert response.status_code == 200, response.content
    retry = response.json()
    history = finished(retry["id"])
    assert history.retry_of_id == batch["id"] and history.reason == "nudge"
    assert history.final_state == HistoricBatch.COMPLETED and history.total_items == 2
    assert states(retry["id"]) == {i.id: "SUCCEEDED" for i in stuck}
    # Every instance entered the service task exactly once: the retry touched no succeeded instance.
    for instance in instances:
        assert HistoricActivityInstance.objects.filter(process_instance_id=instance.id, activity_id="service").count() == 1
