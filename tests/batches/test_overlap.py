"""Two batches on overlapping instances: both end, each item says what happened, no inconsistent instance."""
import pytest

from batches.models import BatchItem, HistoricBatch
from engine.models import ActivityInstance, HistoricProcessInstance, Job, ProcessInstance
from engine.services.lifecycle import NOT_RUNNING
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def results(batch_id):
    return {i.target_id: (i.state, i.detail) for i in BatchItem.objects.filter(batch_id=batch_id)}


def assert_consistent():
    # No cancelled or completed instance keeps live tokens or jobs; every running one has open history.
    ended = HistoricProcessInstance.objects.filter(end_time__isnull=False).values("id")
    assert not ActivityInstance.objects.filter(process_instance_id__in=ended).exists()
    assert not Job.objects.filter(process_instance_id__in=ended).exists()
    running = ProcessInstance.objects.values_list("id", flat=True)
    assert not HistoricProcessInstance.objects.filter(id__in=running, end_time__isnull=False).exists()


def test_cancel_and_suspend_on_the_same_instances(create, batch_sizes):
    batch_sizes(per_seed=10, invocations=2)
    definition = deploy()
    ids = [start(definition).id for _ in range(6)]
    cancel = create("process-instance/delete", {"processInstanceIds": ids[:4]})
    suspend = create("process-instance/suspended-async", {"processInstanceIds": ids[2:], "suspended": True})
    run_jobs(limit=1000)
    assert HistoricBatch.objects.get(id=cancel.id).final_state == "completed"
    assert HistoricBatch.objects.get(id=suspend.id).final_state == "completed"
    cancelled = results(cancel.id)
    suspended = results(suspend.id)
    assert all(state == "SUCCEEDED" for state, _ in cancelled.values())
    # Instances the cancellation took first are skipped by the suspension, with the reason.
    for target in ids[2:4]:
        assert suspended[target] in {("SKIPPED", NOT_RUNNING), ("SUCCEEDED", None)}
    assert suspended[ids[4]] == ("SUCCEEDED", None) and suspended[ids[5]] == ("SUCCEEDED", None)
    assert set(ProcessInstance.objects.values_list("id", "suspended")) == {(ids[4], True), (ids[5], True)}
    assert_consistent()


def test_modification_and_cancel_on_the_same_instances(create, batch_sizes):
    batch_sizes(per_seed=10, invocations=3)
    definition = deploy()
    ids = [start(definition).id for _ in range(6)]
    create("process-instance/delete", {"processInstanceIds": ids[::2]})
    modify = create("modification/executeAsync", {
        "processDefinitionId": definition.id, "processInstanceIds": ids,
        "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
    })
    run_jobs(limit=1000)
    modified = results(modify.id)
    for target in ids[::2]:
        assert modified[target] in {("SKIPPED", NOT_RUNNING), ("SUCCEEDED", None)}
        assert HistoricProcessInstance.objects.get(id=target).state == "EXTERNALLY_TERMINATED"
    for target in ids[1::2]:
        assert modified[target] == ("SUCCEEDED", None)
    assert HistoricBatch.objects.get(id=modify.id).end_time is not None
    assert_consistent()


@pytest.mark.cluster
@pytest.mark.parametrize("second", ["suspend", "modify"])
def test_overlapping_batches_run_concurrently_on_real_workers(second, cluster, admin_user, batch_sizes, transactional_db):
    from tests.conftest import client_for
    from tests.support.cluster import wait_for

    batch_sizes(per_seed=10, invocations=20)
    definition = deploy()
    ids = [start(definition).id for _ in range(120)]
    api = client_for(admin_user)
    cluster(workers=2)
    cancel = api.post("/engine-rest/process-instance/delete", {"processInstanceIds": ids[:80]}, format="json")
    if second == "suspend":
        other = api.post("/engine-rest/process-instance/suspended-async", {"processInstanceIds": ids[40:], "suspended": True}, format="json")
    else:
        other = api.post("/engine-rest/modification/executeAsync", {
            "processDefinitionId": definition.id, "processInstanceIds": ids[40:],
            "instructions": [{"type": "cancel", "activityId": "task"}, {"type": "startBeforeActivity", "activityId": "task"}],
        }, format="json")
    assert cancel.status_code == other.status_code == 200
    batch_ids = [cancel.json()["id"], other.json()["id"]]
    wait_for(lambda: HistoricBatch.objects.filter(id__in=batch_ids, end_time__isnull=False).count() == 2, timeout=120, message="both batches to end")
    for batch_id in batch_ids:
        states = set(BatchItem.objects.filter(batch_id=batch_id).values_list("state", "detail"))
        assert states <= {("SUCCEEDED", None), ("SKIPPED", NOT_RUNNING)}, states
    assert set(HistoricProcessInstance.objects.filter(id__in=ids[:80]).values_list("state", flat=True)) == {"EXTERNALLY_TERMINATED"}
    assert ProcessInstance.objects.filter(id__in=ids[80:]).count() == 40
    assert_consistent()
