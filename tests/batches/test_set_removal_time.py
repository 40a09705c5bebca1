"""process-set-removal-time and batch-set-removal-time: the removal time lands on the history, in-process and on workers."""
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create, batch_set_suspended
from engine.models import (
    ActivityInstance,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricJobLog,
    HistoricProcessInstance,
    HistoricVariableInstance,
    HistoricVariableUpdate,
    Job,
    UserOperationLogEntry,
)
from engine.services.runtime import task_complete
from tests.batches.test_cluster import create_via_rest, finished
from tests.engine.test_history_cleanup import deploy_ttl
from tests.support.factories import LINEAR, run_jobs, start

R = "/engine-rest"
PROCESS = "history/process-instance/set-removal-time"
WHEN = datetime(2031, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
HISTORY_TABLES = (HistoricActivityInstance, HistoricJobLog, HistoricIncident, HistoricVariableInstance, HistoricVariableUpdate,
                  UserOperationLogEntry)


def removal_times(instance_id: str) -> set:
    times = set(HistoricProcessInstance.objects.filter(id=instance_id).values_list("removal_time", flat=True))
    for model in HISTORY_TABLES:
        times |= set(model.objects.filter(process_instance_id=instance_id).values_list("removal_time", flat=True))
    return times


def ended(definition, **variables) -> str:
    """An instance that has ended: its task completed and its service job run here (a cluster started
    later must not end it while a test's batch is setting removal times)."""
    instance = start(definition, **variables)
    task_complete(task_id=ActivityInstance.objects.get(process_instance=instance, activity_id="task").id, user_id="u")
    run_jobs()
    assert HistoricProcessInstance.objects.get(id=instance.id).end_time is not None
    return instance.id


def with_failed_job(definition) -> str:
    """A running instance with a job log, an incident and its history."""
    instance = start(definition, fail=True)
    task_complete(task_id=ActivityInstance.objects.get(process_instance=instance, activity_id="task").id)
    for _ in range(3):
        run_jobs()
    assert HistoricIncident.objects.filter(process_instance_id=instance.id).exists()
    return instance.id


@pytest.mark.django_db
def test_absolute_calculated_and_cleared_on_instances_and_all_their_history(api, settings, batch_sizes):
    batch_sizes(per_seed=10, invocations=2)
    settings.HISTORY = {**settings.HISTORY, "REMOVAL_TIME_STRATEGY": "none"}  # nothing set at the end
    definition = deploy_ttl("4", body=LINEAR)
    finished_ids = [ended(definition, amount=n) for n in range(3)]
    running = with_failed_job(definition)
    everyone = [*finished_ids, running]
    assert all(removal_times(i) == {None} for i in everyone)
    response = api.post(f"{R}/{PROCESS}", {
        "absoluteRemovalTime": "2031-05-06T07:08:09.123+0000",
        "historicProcessInstanceQuery": {"processDefinitionId": definition.id}, "historicProcessInstanceIds": ["unknown"],
    }, format="json")
    assert response.status_code == 200, response.content
    run_jobs()
    assert all(removal_times(i) == {WHEN} for i in everyone)
    items = dict(BatchItem.objects.filter(batch_id=response.json()["id"]).values_list("target_id", "state"))
    assert items == {**{i: "SUCCEEDED" for i in everyone}, "unknown": "SKIPPED"}
    assert BatchItem.objects.get(batch_id=response.json()["id"], target_id="unknown").detail == "historic process instance does not exist"
    # Calculated, with the end strategy: end time + 4 days for the finished ones, none for the running one.
    settings.HISTORY = {**settings.HISTORY, "REMOVAL_TIME_STRATEGY": "end"}
    assert api.post(f"{R}/{PROCESS}", {"calculatedRemovalTime": True, "historicProcessInstanceIds": everyone,
                                      "updateInChunks": True, "updateChunkSize": 2}, format="json").status_code == 200
    run_jobs()
    for instance_id in finished_ids:
        row = HistoricProcessInstance.objects.get(id=instance_id)
        assert removal_times(instance_id) == {row.end_time + timedelta(days=4)}
    assert removal_times(running) == {None}
    # Start strategy: the running one is calculated from its start time.
    settings.HISTORY = {**settings.HISTORY, "REMOVAL_TIME_STRATEGY": "start"}
    api.post(f"{R}/{PROCESS}", {"calculatedRemovalTime": True, "historicProcessInstanceIds": [running]}, format="json")
    run_jobs()
    assert removal_times(running) == {HistoricProcessInstance.objects.get(id=running).start_time + timedelta(days=4)}
    api.post(f"{R}/{PROCESS}", {"clearedRemovalTime": True, "historicProcessInstanceIds": everyone}, format="json")
    run_jobs()
    assert all(removal_times(i) == {None} for i in everyone)


@pytest.mark.django_db
def test_a_chunk_is_set_based(django_assert_max_num_queries, settings):
    settings.HISTORY = {**settings.HISTORY, "REMOVAL_TIME_STRATEGY": "end"}
    definition = deploy_ttl("4", body=LINEAR)
    ids = [ended(definition, amount=n) for n in range(30)]
    from batches.operations.removal_time import CALCULATED, historic_instances_set_removal_time

    with django_assert_max_num_queries(20):  # the same statements for 30 instances as for 1
        result = historic_instances_set_removal_time(instance_ids=ids, mode=CALCULATED, removal_time=None)
    assert sorted(result.changed) == sorted(ids)


@pytest.mark.django_db
def test_targets_of_another_tenant_are_skipped(operator, settings):
    from batches.operations import ENDPOINTS
    from batches.services import batch_create

    mine, theirs = deploy_ttl("1", tenant_id="tenant-a"), deploy_ttl("1", key="other", tenant_id="tenant-b")
    a, b = ended(mine), ended(theirs)
    batch = batch_create(operation=ENDPOINTS[PROCESS], payload={"absoluteRemovalTime": "2031-05-06T07:08:09.123+0000",
                                                                "historicProcessInstanceIds": [a, b]}, user=operator)
    run_jobs()
    assert removal_times(a) == {WHEN} and WHEN not in removal_times(b)
    assert BatchItem.objects.get(batch_id=batch.id, target_id=b).state == "SKIPPED"


@pytest.mark.django_db
def test_batch_set_removal_time_sets_historic_batches_with_their_job_log(api, settings):
    settings.HISTORY = {**settings.HISTORY, "BATCH_OPERATION_HISTORY_TIME_TO_LIVE": "2"}
    definition = deploy_ttl(None)
    targets = [create_via_rest_in_process(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
               for _ in range(2)]
    run_jobs()
    response = api.post(f"{R}/history/batch/set-removal-time", {
        "absoluteRemovalTime": "2031-05-06T07:08:09.123+0000", "historicBatchIds": targets,
    }, format="json")
    assert response.status_code == 200, response.content
    run_jobs()
    for batch_id in targets:
        assert HistoricBatch.objects.get(id=batch_id).removal_time == WHEN
        assert set(HistoricJobLog.objects.filter(job_definition_configuration=batch_id).values_list("removal_time", flat=True)) == {WHEN}
    assert BatchItem.objects.filter(batch_id=response.json()["id"], state="SUCCEEDED").count() == 2
    api.post(f"{R}/history/batch/set-removal-time", {"calculatedRemovalTime": True, "historicBatchIds": targets}, format="json")
    run_jobs()
    for batch_id in targets:
        row = HistoricBatch.objects.get(id=batch_id)
        assert row.removal_time == row.end_time + timedelta(days=2)
    # A batch that sets its own removal time: it is running then, so "calculated" with the end strategy clears it.
    own = api.post(f"{R}/history/batch/set-removal-time", {"absoluteRemovalTime": "2031-05-06T07:08:09.123+0000",
                                                          "historicBatchQuery": {}}, format="json").json()
    run_jobs()
    mine = HistoricBatch.objects.get(id=own["id"])
    assert mine.end_time is not None and mine.removal_time == mine.end_time + timedelta(days=2)  # its own end wins
    assert BatchItem.objects.get(batch_id=own["id"], target_id=own["id"]).state == "SUCCEEDED"


def create_via_rest_in_process(api, path: str, payload: dict) -> str:
    response = api.post(f"{R}/{path}", payload, format="json")
    assert response.status_code == 200, response.content
    return response.json()["id"]


# --- on real workers: SQLite + ORM broker, PostgreSQL + Redis (run the file with each DATABASE_URL/REDIS_URL) ---


@pytest.mark.cluster
def test_process_set_removal_time_on_real_workers(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    definition = deploy_ttl("4", body=LINEAR)
    finished_ids = [ended(definition, amount=n) for n in range(4)]
    running = start(definition).id
    cluster(workers=2)
    batch = create_via_rest(admin_user, PROCESS, {
        "absoluteRemovalTime": "2031-05-06T07:08:09.123+0000",
        "historicProcessInstanceIds": [*finished_ids, running, "gone"],
    })
    historic = finished(batch["id"])
    assert (historic.final_state, historic.items_succeeded, historic.items_skipped) == ("completed", 5, 1)
    assert all(removal_times(i) == {WHEN} for i in [*finished_ids, running])
    # Calculated on the workers (their strategy: the default, end).
    second = create_via_rest(admin_user, PROCESS, {"calculatedRemovalTime": True, "historicProcessInstanceIds": [*finished_ids, running]})
    assert finished(second["id"]).final_state == "completed"
    for instance_id in finished_ids:
        assert removal_times(instance_id) == {HistoricProcessInstance.objects.get(id=instance_id).end_time + timedelta(days=4)}
    assert removal_times(running) == {None}
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.cluster
def test_batch_set_removal_time_with_suspension_on_real_workers(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=1, invocations=1)
    definition = deploy_ttl(None)
    cluster(workers=2)
    targets = [create_via_rest(admin_user, "process-instance/delete", {"processInstanceIds": [start(definition).id]})["id"]
               for _ in range(3)]
    for target in targets:
        finished(target)
    # Created and suspended in one transaction: its seed job never runs until it is activated.
    with transaction.atomic():
        created = batch_create(operation=ENDPOINTS["history/batch/set-removal-time"], payload={
            "absoluteRemovalTime": "2031-05-06T07:08:09.123+0000", "historicBatchIds": targets,
        }, user=admin_user)
        batch_set_suspended(batch=created, suspended=True, user_id=admin_user.username)
    time.sleep(3)
    assert BatchItem.objects.filter(batch_id=created.id, state="PENDING").count() == 3
    assert not HistoricBatch.objects.filter(id__in=targets, removal_time=WHEN).exists()
    batch_set_suspended(batch=Batch.objects.get(id=created.id), suspended=False, user_id=admin_user.username)
    batch = {"id": created.id, "batchJobDefinitionId": created.batch_job_definition_id}
    historic = finished(batch["id"])
    assert (historic.final_state, historic.items_succeeded) == ("completed", 3)
    for target in targets:
        assert HistoricBatch.objects.get(id=target).removal_time == WHEN
        assert set(HistoricJobLog.objects.filter(job_definition_configuration=target).values_list("removal_time", flat=True)) == {WHEN}
    assert not Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"]).exists()
    assert timezone.now() < WHEN
