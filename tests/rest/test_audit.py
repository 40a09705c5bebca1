"""Every operator action writes Camunda's op-log entry with the user, from REST, the Cockpit and the admin alike,
and the entry commits together with the change (or neither does)."""
from __future__ import annotations

import pytest

from batches.models import Batch
from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.models import HistoricProcessInstance, Job, ProcessInstance, UserOperationLogEntry
from tests.cockpit.test_monitoring import failing_batch
from tests.rest.test_engine_api import failed_instance
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def entries(**filters) -> list[tuple]:
    rows = UserOperationLogEntry.objects.filter(**filters).order_by("property")
    return [(e.operation_type, e.entity_type, e.category, e.property, e.org_value, e.new_value, e.user_id) for e in rows]


# --- batch creation (REST; the wizard calls the same service, tests/cockpit) ----------------


@pytest.mark.parametrize(
    ("path", "payload", "expected"),
    [
        ("process-instance/delete", {"deleteReason": "r"}, [("Delete", {"nrOfInstances": "1", "async": "true", "deleteReason": "r"})]),
        ("process-instance/suspended-async", {"suspended": True}, [("SuspendJob", {"nrOfInstances": "1", "async": "true"})]),
        ("process-instance/suspended-async", {"suspended": False}, [("ActivateJob", {"nrOfInstances": "1", "async": "true"})]),
    ],
)
def test_batch_creation_is_one_entry_set_with_the_user(api, admin_user, path, payload, expected):
    instance = start(deploy())
    response = api.post(f"{R}/{path}", {"processInstanceIds": [instance.id], **payload}, format="json")
    batch_id = response.json()["id"]
    rows = UserOperationLogEntry.objects.filter(batch_id=batch_id)
    operation_type, properties = expected[0]
    assert {e.operation_type for e in rows} == {operation_type}
    assert {e.property: e.new_value for e in rows} == properties
    assert {e.user_id for e in rows} == {admin_user.username} and len({e.operation_id for e in rows}) == 1


def test_a_modification_batch_logs_once_for_the_batch_not_once_per_instance(api, admin_user):
    definition = deploy()
    ids = [start(definition).id for _ in range(3)]
    body = {"processDefinitionId": definition.id, "processInstanceIds": ids, "instructions": [{"type": "cancel", "activityId": "task"}]}
    batch_id = api.post(f"{R}/modification/executeAsync", body, format="json").json()["id"]
    run_jobs()
    modifications = UserOperationLogEntry.objects.filter(operation_type="ModifyProcessInstance")
    assert {(e.batch_id, e.user_id, e.process_definition_id, e.process_definition_key) for e in modifications} == {
        (batch_id, admin_user.username, definition.id, definition.key)
    }
    assert {e.property: e.new_value for e in modifications} == {"nrOfInstances": "3", "async": "true"}


# --- single-instance calls ------------------------------------------------------------------


def test_single_instance_calls_log_camundas_entries(api, admin_user):
    definition = deploy()
    instance = start(definition)
    user = admin_user.username
    api.put(f"{R}/process-instance/{instance.id}/suspended", {"suspended": True}, format="json")
    assert entries(process_instance_id=instance.id, operation_type="Suspend") == [
        ("Suspend", "ProcessInstance", "Operator", "suspensionState", None, "suspended", user)
    ]
    api.put(f"{R}/process-instance/{instance.id}/suspended", {"suspended": False}, format="json")
    api.post(f"{R}/process-instance/{instance.id}/modification", {"instructions": [{"type": "startBeforeActivity", "activityId": "task"}], "annotation": "why"}, format="json")
    modification = UserOperationLogEntry.objects.get(process_instance_id=instance.id, operation_type="ModifyProcessInstance")
    assert (modification.property, modification.annotation, modification.user_id) == (None, "why", user)
    task_id = instance.tokens.first().id
    api.post(f"{R}/task/{task_id}/complete", {}, format="json")
    assert entries(task_id=task_id) == [("Complete", "Task", "TaskWorker", "delete", "false", "true", user)]
    assert api.delete(f"{R}/process-instance/{instance.id}").status_code == 204
    assert entries(process_instance_id=instance.id, operation_type="Delete") == [("Delete", "ProcessInstance", "Operator", None, None, None, user)]
    assert api.delete(f"{R}/history/process-instance/{instance.id}").status_code == 204
    assert entries(process_instance_id=instance.id, operation_type="DeleteHistory") == [
        ("DeleteHistory", "ProcessInstance", "Operator", "async", None, "false", user),
        ("DeleteHistory", "ProcessInstance", "Operator", "nrOfInstances", None, "1", user),
    ]


def test_job_calls_log_camundas_entries(api, admin_user):
    definition = deploy()
    job = Job.objects.get(process_instance_id=failed_instance(definition).id)
    user = admin_user.username
    api.put(f"{R}/job/{job.id}/retries", {"retries": 2, "dueDate": "2030-01-01T00:00:00.000+0000"}, format="json")
    assert entries(job_id=job.id, operation_type="SetJobRetries") == [
        ("SetJobRetries", "Job", "Operator", "dueDate", None, "1893456000000", user),
        ("SetJobRetries", "Job", "Operator", "retries", "0", "2", user),
    ]
    api.put(f"{R}/job-definition/{job.job_definition_id}/retries", {"retries": 1}, format="json")
    assert entries(job_definition_id=job.job_definition_id, job_id__isnull=True) == [
        ("SetJobRetries", "Job", "Operator", "retries", None, "1", user)
    ]
    api.delete(f"{R}/job/{job.id}")
    assert entries(job_id=job.id, operation_type="Delete") == [("Delete", "Job", "Operator", None, None, None, user)]


def test_batch_actions_log_camundas_entries(api, admin_user):
    user = admin_user.username
    definition = deploy()
    batch_id = api.post(f"{R}/process-instance/delete", {"processInstanceIds": [start(definition).id]}, format="json").json()["id"]
    api.put(f"{R}/batch/{batch_id}/suspended", {"suspended": True}, format="json")
    api.put(f"{R}/batch/{batch_id}/suspended", {"suspended": False}, format="json")
    api.delete(f"{R}/batch/{batch_id}?cascade=false")
    api.delete(f"{R}/history/batch/{batch_id}")
    assert sorted(entries(batch_id=batch_id, entity_type="Batch"), key=str) == sorted([
        ("DeleteHistory", "Batch", "Operator", None, None, None, user),
        ("Delete", "Batch", "Operator", "cascadeToHistory", None, "false", user),
        ("SuspendBatch", "Batch", "Operator", "suspensionState", None, "suspended", user),
        ("ActivateBatch", "Batch", "Operator", "suspensionState", None, "active", user),
    ], key=str)


# --- the same action from three places: one audit trail ------------------------------------


def retry_all_from_rest(api, client, batch):
    api.put(f"{R}/job-definition/{batch.batch_job_definition_id}/retries", {"retries": 1}, format="json")


def retry_all_from_cockpit(api, client, batch):
    client.post(f"/cockpit/batch/{batch.id}/retry")


def retry_all_from_admin(api, client, batch):
    client.post("/admin/batches/batch/", {"action": "retry_failed_jobs", "_selected_action": [batch.id]})


@pytest.mark.parametrize("place", [retry_all_from_rest, retry_all_from_cockpit, retry_all_from_admin])
def test_retrying_the_failed_jobs_of_a_batch_leaves_the_same_entry_from_rest_cockpit_and_admin(api, client, admin_user, place):
    client.force_login(admin_user)
    batch, _ = failing_batch(admin_user)
    failed = Job.objects.get(job_definition_id=batch.batch_job_definition_id, retries=0)
    place(api, client, batch)
    assert Job.objects.get(id=failed.id).retries == 1
    assert entries(job_definition_id=batch.batch_job_definition_id, operation_type="SetJobRetries") == [
        ("SetJobRetries", "Job", "Operator", "retries", None, "1", admin_user.username)
    ]


def suspend_from_rest(api, client, batch):
    api.put(f"{R}/batch/{batch.id}/suspended", {"suspended": True}, format="json")


def suspend_from_cockpit(api, client, batch):
    client.post(f"/cockpit/batch/{batch.id}/suspend", {"suspended": "true"})


def suspend_from_admin(api, client, batch):
    client.post("/admin/batches/batch/", {"action": "suspend", "_selected_action": [batch.id]})


@pytest.mark.parametrize("place", [suspend_from_rest, suspend_from_cockpit, suspend_from_admin])
def test_suspending_a_batch_leaves_the_same_entry_from_rest_cockpit_and_admin(api, client, admin_user, place):
    client.force_login(admin_user)
    batch = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [start(deploy()).id]}, user=admin_user)
    place(api, client, batch)
    assert Batch.objects.get(id=batch.id).suspended
    assert entries(batch_id=batch.id, operation_type="SuspendBatch") == [
        ("SuspendBatch", "Batch", "Operator", "suspensionState", None, "suspended", admin_user.username)
    ]


def test_retrying_or_deleting_one_failed_job_from_the_cockpit_is_the_rest_call(client, admin_user):
    client.force_login(admin_user)
    batch, _ = failing_batch(admin_user)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id, retries=0)
    client.post(f"/cockpit/batch/{batch.id}/retry", {"job_id": job.id})
    assert entries(job_id=job.id) == [("SetJobRetries", "Job", "Operator", "retries", "0", "1", admin_user.username)]
    run_jobs()
    client.post(f"/cockpit/batch/{batch.id}/jobs/{job.id}/delete")
    assert entries(job_id=job.id, operation_type="Delete") == [("Delete", "Job", "Operator", None, None, None, admin_user.username)]


# --- the change and its entry commit together --------------------------------------------------


def test_a_change_whose_log_entry_cannot_be_written_is_not_made(api, monkeypatch):
    from engine.services import instance_actions

    instance = start(deploy())

    def broken(**kwargs):
        raise RuntimeError("op log unavailable")

    monkeypatch.setattr(instance_actions, "operation_log_write", broken)
    with pytest.raises(RuntimeError):
        instance_actions.instance_delete(instance=instance, delete_reason=None, user_id="u")
    assert ProcessInstance.objects.filter(id=instance.id).exists()
    assert HistoricProcessInstance.objects.get(id=instance.id).end_time is None
