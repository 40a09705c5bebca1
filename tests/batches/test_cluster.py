"""Every batch type end to end through real qcluster processes, plus failure/retry and suspension."""
import time

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create, batch_set_suspended
from engine.models import ExternalTask, HistoricProcessInstance, Incident, Job, ProcessInstance, VariableInstance
from engine.services.runtime import instance_start
from engine.services.lifecycle import instances_set_suspended
from engine.services.modification import instance_modify
from tests.conftest import client_for
from tests.support.cluster import wait_for
from tests.engine.test_messages import CATCH_AND_BOUNDARY, deploy_doc
from tests.rest.test_external_task_api import EXTERNAL
from tests.support.factories import deploy, start

pytestmark = pytest.mark.cluster
R = "/engine-rest"


def finished(batch_id: str, timeout: float = 90) -> HistoricBatch:
    wait_for(
        lambda: HistoricBatch.objects.filter(id=batch_id, end_time__isnull=False).exists(),
        timeout=timeout,
        message=f"batch {batch_id} to end",
    )
    return HistoricBatch.objects.get(id=batch_id)


def create_via_rest(admin_user, path: str, payload: dict) -> dict:
    response = client_for(admin_user).post(f"{R}/{path}", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def finished_instance(definition):
    instance = start(definition)
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}])
    return instance


def failed_job_instance(definition):
    instance = start(definition, fail=True)
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}, {"type": "startBeforeActivity", "activityId": "service"}])
    Job.objects.filter(process_instance_id=instance.id).update(retries=0, exception_message="boom")
    return instance


def waiting_for_a_message(_):
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    return [instance_start(definition=definition) for _ in range(7)]


def ended_batches(definition):
    """Seven ended batches (one suspension each), worked off by the running cluster."""
    creator = User.objects.get(username="alice-admin")  # the admin_user fixture
    batches = [
        batch_create(operation=ENDPOINTS["process-instance/suspended-async"],
                     payload={"processInstanceIds": [start(definition).id], "suspended": True}, user=creator)
        for _ in range(7)
    ]
    for batch in batches:
        finished(batch.id)
    return batches


CASES = {
    "instance-deletion": (
        "process-instance/delete",
        lambda d: [start(d) for _ in range(7)],
        lambda d, ids: {"processInstanceQuery": {"processDefinitionId": d.id}, "processInstanceIds": ids[:3], "deleteReason": "batch"},
        lambda ids: set(HistoricProcessInstance.objects.filter(id__in=ids).values_list("state", flat=True)) == {"EXTERNALLY_TERMINATED"},
    ),
    "historic-instance-deletion": (
        "history/process-instance/delete",
        lambda d: [finished_instance(d) for _ in range(7)],
        lambda d, ids: {"historicProcessInstanceIds": ids},
        lambda ids: not HistoricProcessInstance.objects.filter(id__in=ids).exists(),
    ),
    "set-job-retries": (
        "process-instance/job-retries",
        lambda d: [failed_job_instance(d) for _ in range(7)],
        lambda d, ids: {"processInstances": ids, "retries": 0, "dueDate": "2031-01-01T00:00:00.000+0000"},
        lambda ids: all(j.due_date.year == 2031 for j in Job.objects.filter(process_instance_id__in=ids)),
    ),
    "instance-modification": (
        "modification/executeAsync",
        lambda d: [start(d) for _ in range(7)],
        lambda d, ids: {"processDefinitionId": d.id, "instructions": [{"type": "cancel", "activityId": "task"}], "processInstanceIds": ids},
        lambda ids: set(HistoricProcessInstance.objects.filter(id__in=ids).values_list("state", flat=True)) == {"EXTERNALLY_TERMINATED"},
    ),
    "instance-update-suspension-state": (
        "process-instance/suspended-async",
        lambda d: [start(d) for _ in range(7)],
        lambda d, ids: {"processInstanceIds": ids, "suspended": True},
        lambda ids: set(ProcessInstance.objects.filter(id__in=ids).values_list("suspended", flat=True)) == {True},
    ),
    "instance-migration": (
        "migration/executeAsync",
        lambda d: [start(d) for _ in range(7)],
        lambda d, ids: {"processInstanceIds": ids, "migrationPlan": {
            "sourceProcessDefinitionId": d.id, "targetProcessDefinitionId": deploy().id,
            "instructions": [{"sourceActivityIds": ["task"], "targetActivityIds": ["task"]}],
        }},
        lambda ids: set(ProcessInstance.objects.filter(id__in=ids).values_list("process_definition__version", flat=True)) == {2},
    ),
    "instance-restart": (
        "process-definition/{id}/restart-async",
        lambda d: [finished_instance(d) for _ in range(7)],
        lambda d, ids: {"processInstanceIds": ids, "instructions": [{"type": "startBeforeActivity", "activityId": "task"}]},
        lambda ids: HistoricProcessInstance.objects.filter(restarted_process_instance_id__in=ids, state="ACTIVE").count() == 7,
    ),
    "set-variables": (
        "process-instance/variables-async",
        lambda d: [start(d) for _ in range(7)],
        lambda d, ids: {"processInstanceIds": ids, "variables": {"region": {"value": "EMEA", "type": "String"}}},
        lambda ids: VariableInstance.objects.filter(process_instance_id__in=ids, name="region", text_value="EMEA").count() == 7,
    ),
    "correlate-message": (
        "process-instance/message-async",
        waiting_for_a_message,
        lambda d, ids: {"processInstanceIds": ids, "messageName": "PaymentReceived"},
        lambda ids: set(ProcessInstance.objects.filter(id__in=ids).values_list("tokens__activity_id", flat=True)) == {"ship"},
    ),
    "set-external-task-retries": (
        "external-task/retries-async",
        lambda d: [start(deploy(EXTERNAL, key="ext")) for _ in range(7)],
        lambda d, ids: {"processInstanceIds": ids, "retries": 5},
        lambda ids: set(ExternalTask.objects.filter(process_instance_id__in=ids).values_list("retries", flat=True)) == {5},
    ),
    "process-set-removal-time": (
        "history/process-instance/set-removal-time",
        lambda d: [finished_instance(d) for _ in range(7)],
        lambda d, ids: {"historicProcessInstanceIds": ids, "absoluteRemovalTime": "2031-01-01T00:00:00.000+0000"},
        lambda ids: {t.year for t in HistoricProcessInstance.objects.filter(id__in=ids).values_list("removal_time", flat=True)} == {2031},
    ),
    "batch-set-removal-time": (
        "history/batch/set-removal-time",
        ended_batches,
        lambda d, ids: {"historicBatchIds": ids, "absoluteRemovalTime": "2031-01-01T00:00:00.000+0000"},
        lambda ids: {t.year for t in HistoricBatch.objects.filter(id__in=ids).values_list("removal_time", flat=True)} == {2031},
    ),
}


@pytest.mark.parametrize("batch_type", list(CASES))
def test_every_batch_type_runs_to_completion_on_real_workers(batch_type, cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    cluster(workers=2)
    path, make, payload, effect = CASES[batch_type]
    definition = deploy()
    ids = [i.id for i in make(definition)]
    batch = create_via_rest(admin_user, path.format(id=definition.id), payload(definition, ids))
    assert (batch["type"], batch["totalJobs"]) == (batch_type, 4)
    historic = finished(batch["id"])
    assert historic.final_state == "completed" and historic.items_succeeded == 7
    assert effect(ids)
    assert not Batch.objects.filter(id=batch["id"]).exists()
    assert not Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"]).exists()


def test_a_failing_item_counts_down_retries_and_a_retry_completes_the_batch(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=5, invocations=5)
    cluster(workers=2)
    definition = deploy()
    good, stuck = start(definition), start(definition)
    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    batch = create_via_rest(
        admin_user,
        "modification/executeAsync",
        {"processDefinitionId": definition.id, "processInstanceIds": [good.id, stuck.id], "instructions": [{"type": "cancel", "activityId": "task"}]},
    )
    job = wait_for(
        lambda: Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"], retries=0).first(),
        timeout=60,
        message="the execution job to run out of retries",
    )
    assert Incident.objects.filter(configuration=job.id).exists()
    assert "is suspended and cannot be modified" in job.exception_message
    assert BatchItem.objects.get(batch_id=batch["id"], target_id=good.id).state == "SUCCEEDED"
    stats = client_for(admin_user).get(f"{R}/batch/statistics", {"batchId": batch["id"]}).json()[0]
    assert (stats["failedJobs"], stats["remainingJobs"], stats["completedJobs"]) == (1, 1, 0)
    instances_set_suspended(instance_ids=[stuck.id], suspended=False)
    assert client_for(admin_user).put(f"{R}/job/{job.id}/retries", {"retries": 1}, format="json").status_code == 204
    historic = finished(batch["id"])
    assert historic.final_state == "completed" and historic.items_succeeded == 2
    assert HistoricProcessInstance.objects.get(id=stuck.id).state == "EXTERNALLY_TERMINATED"


def test_a_suspended_batch_makes_no_progress_until_activated(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=1, invocations=1)
    cluster(workers=2)
    definition = deploy()
    ids = [start(definition).id for _ in range(3)]
    with transaction.atomic():
        batch = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": ids}, user=admin_user)
        batch_set_suspended(batch=batch, suspended=True, user_id="alice")
    time.sleep(3)
    batch.refresh_from_db()
    assert batch.jobs_created == 0
    assert ProcessInstance.objects.filter(id__in=ids).count() == 3
    response = client_for(admin_user).put(f"{R}/batch/{batch.id}/suspended", {"suspended": False}, format="json")
    assert response.status_code == 204
    assert finished(batch.id).final_state == "completed"
    assert not ProcessInstance.objects.filter(id__in=ids).exists()
