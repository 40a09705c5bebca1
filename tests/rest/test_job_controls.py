"""Job controls: suspending jobs and job definitions, job priorities, and the executor's priority order."""
from datetime import timedelta

import pytest
from django.utils import timezone

from batches.models import Batch
from engine.models import HistoricJobLog, Job, JobDefinition, UserOperationLogEntry
from engine.services import jobs as job_service
from engine.services.jobs import executable_jobs, job_acquire, job_execute
from engine.services.runtime import task_complete
from tests.conftest import client_for, make_user
from tests.rest.test_engine_api import assert_error
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"

# start -> service (a job at once) -> task -> end
SERVICE_FIRST = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="service"/>'
    '<bpmn:serviceTask id="service" name="Call it"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="service" targetRef="task"/>'
    '<bpmn:userTask id="task"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="task" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)


def put(api, path, body):
    return api.put(f"{R}/{path}", body, format="json")


def job_for(instance) -> Job:
    return Job.objects.get(process_instance_id=instance.id)


def entries(operation_type: str):
    return list(UserOperationLogEntry.objects.filter(operation_type=operation_type).order_by("timestamp", "id"))


@pytest.fixture
def fresh_bounds(monkeypatch):
    """Read the executable jobs' priorities on every acquisition (no per-worker cache between steps)."""
    monkeypatch.setattr(job_service, "PRIORITY_BOUNDS_TTL", 0.0)


# --- job suspension --------------------------------------------------------------------------------


def test_suspending_one_job_logs_camunda_entry_and_activation_wakes_it(api, django_capture_on_commit_callbacks):
    definition = deploy(SERVICE_FIRST, key="sf")
    job = job_for(start(definition))
    assert put(api, f"job/{job.id}/suspended", {"suspended": True}).status_code == 204
    job.refresh_from_db()
    assert job.suspended and not executable_jobs(timezone.now()).filter(id=job.id).exists()
    assert api.get(f"{R}/job/{job.id}").json()["suspended"] is True
    (entry,) = entries("SuspendJob")
    assert (entry.entity_type, entry.property, entry.org_value, entry.new_value) == ("Job", "suspensionState", None, "suspended")
    assert (entry.job_id, entry.job_definition_id, entry.process_instance_id) == (job.id, job.job_definition_id, job.process_instance_id)
    assert (entry.process_definition_id, entry.process_definition_key, entry.deployment_id) == (
        definition.id, "sf", definition.deployment_id,
    )
    assert job_execute(job.id, owner="t") == "not-acquired"  # the executor leaves a suspended job alone
    # A missing "suspended" means activate, as Camunda's Java boolean.
    with django_capture_on_commit_callbacks(execute=True):
        assert put(api, f"job/{job.id}/suspended", {}).status_code == 204
    job.refresh_from_db()
    assert not job.suspended and job.enqueued_at is not None
    assert entries("ActivateJob")[0].new_value == "active"
    assert job_execute(job.id, owner="t") == "succeeded"


def test_jobs_by_process_definition_key_and_tenant(api):
    a = deploy(SERVICE_FIRST, key="k", tenant_id="tenant-a")
    b = deploy(SERVICE_FIRST, key="k", tenant_id="tenant-b")
    none = deploy(SERVICE_FIRST, key="k")
    ja, jb, jn = job_for(start(a)), job_for(start(b)), job_for(start(none))
    body = {"suspended": True, "processDefinitionKey": "k", "processDefinitionTenantId": "tenant-a"}
    assert put(api, "job/suspended", body).status_code == 204
    assert [Job.objects.get(id=j.id).suspended for j in (ja, jb, jn)] == [True, False, False]
    body = {"suspended": True, "processDefinitionKey": "k", "processDefinitionWithoutTenantId": True}
    assert put(api, "job/suspended", body).status_code == 204
    assert [Job.objects.get(id=j.id).suspended for j in (ja, jb, jn)] == [True, False, True]
    assert put(api, "job/suspended", {"suspended": False, "processDefinitionKey": "k"}).status_code == 204
    assert not Job.objects.filter(suspended=True).exists()
    entry = entries("ActivateJob")[0]
    assert (entry.process_definition_key, entry.job_id, entry.process_definition_id) == ("k", None, None)


def test_jobs_by_instance_definition_and_job_definition(api):
    definition = deploy(SERVICE_FIRST, key="sel")
    one, two = start(definition), start(definition)
    assert put(api, "job/suspended", {"suspended": True, "processInstanceId": one.id}).status_code == 204
    assert (job_for(one).suspended, job_for(two).suspended) == (True, False)
    assert put(api, "job/suspended", {"suspended": True, "processDefinitionId": definition.id}).status_code == 204
    assert job_for(two).suspended
    jd = job_for(one).job_definition_id
    assert put(api, "job/suspended", {"suspended": False, "jobDefinitionId": jd}).status_code == 204
    assert not Job.objects.filter(suspended=True).exists()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("job/suspended", {"suspended": True}, "Either jobId, jobDefinitionId, processInstanceId, processDefinitionId or processDefinitionKey should be set to update the suspension state."),
        ("job/suspended", {"suspended": True, "processInstanceId": "a", "processDefinitionId": "b"}, "Only one of jobId, jobDefinitionId, processInstanceId, processDefinitionId or processDefinitionKey should be set"),
        ("job/suspended", {"suspended": True, "jobId": "x"}, "Either jobDefinitionId, processInstanceId, processDefinitionId or processDefinitionKey can be set to update the suspension state."),
        ("job/JOB/suspended", {"suspended": True, "processInstanceId": "a"}, "Only one of jobId"),
        ("job/JOB/suspended", {"suspended": "yes"}, "suspended must be a boolean"),
        ("job/suspended", {"suspended": True, "processDefinitionId": "p", "processDefinitionTenantId": "t"}, "processDefinitionTenantId can only be used together with processDefinitionKey"),
        ("job/suspended", {"suspended": True, "processDefinitionKey": 5}, "processDefinitionKey must be a string"),
        ("job-definition/suspended", {"suspended": True}, "Either jobDefinitionId, processDefinitionId or processDefinitionKey should be set to update the suspension state."),
        ("job-definition/suspended", {"suspended": True, "jobDefinitionId": "x"}, "Either processDefinitionId or processDefinitionKey can be set to update the suspension state."),
        ("job-definition/suspended", {"processDefinitionId": "a", "processDefinitionKey": "b"}, "Only one of jobDefinitionId, processDefinitionId or processDefinitionKey should be set"),
        ("job-definition/suspended", {"processDefinitionKey": "k", "executionDate": "soon"}, 'Could not update the suspension state of Job Definitions due to: Invalid format: "soon"'),
        ("job-definition/JD/suspended", {"executionDate": "tomorrow"}, 'The suspension state of Job Definition with id JD could not be updated due to: Invalid format: "tomorrow"'),
        ("job-definition/JD/suspended", {"includeJobs": "all"}, "includeJobs must be a boolean"),
    ],
)
def test_suspension_requests_refused_with_camunda_messages(api, path, body, message):
    job = job_for(start(deploy(SERVICE_FIRST, key="r")))
    path = path.replace("JOB", job.id).replace("JD", job.job_definition_id)
    message = message.replace("id JD ", f"id {job.job_definition_id} ")
    assert_error(put(api, path, body), 400, "InvalidRequestException", message)
    assert not Job.objects.filter(suspended=True).exists() and not JobDefinition.objects.filter(suspended=True).exists()
    assert not UserOperationLogEntry.objects.filter(entity_type__in=["Job", "JobDefinition"]).exists()


def test_permissions_and_tenants(db):
    job_a = job_for(start(deploy(SERVICE_FIRST, key="t", tenant_id="tenant-a")))
    job_b = job_for(start(deploy(SERVICE_FIRST, key="t", tenant_id="tenant-b")))
    viewer = client_for(make_user("no-perms", tenants=("tenant-a",)))
    assert_error(put(viewer, f"job/{job_a.id}/suspended", {"suspended": True}), 403, "AuthorizationException", "engine.change_job")
    assert_error(put(viewer, f"job-definition/{job_a.job_definition_id}/jobPriority", {"priority": 3}), 403, "AuthorizationException", "engine.change_jobdefinition")
    operator = client_for(make_user("op-a", perms=True, tenants=("tenant-a",)))
    # Another tenant's job is invisible: the suspension changes nothing, as an unknown id in Camunda.
    assert put(operator, f"job/{job_b.id}/suspended", {"suspended": True}).status_code == 204
    assert put(operator, "job/suspended", {"suspended": True, "processDefinitionKey": "t"}).status_code == 204
    assert (Job.objects.get(id=job_a.id).suspended, Job.objects.get(id=job_b.id).suspended) == (True, False)
    assert_error(put(operator, f"job/{job_b.id}/priority", {"priority": 1}), 404, "InvalidRequestException", f"No job found with id '{job_b.id}': job is null")
    assert_error(put(operator, f"job-definition/{job_b.job_definition_id}/jobPriority", {"priority": 1}), 404, "InvalidRequestException", "does not exist")
    assert put(operator, f"job-definition/{job_b.job_definition_id}/suspended", {"suspended": True}).status_code == 204
    assert not JobDefinition.objects.get(id=job_b.job_definition_id).suspended


# --- job definition suspension ----------------------------------------------------------------------


def test_job_definition_suspension_with_jobs_and_new_jobs_born_suspended(api):
    definition = deploy(SERVICE_FIRST, key="jd")
    first = job_for(start(definition))
    jd = first.job_definition_id
    assert put(api, f"job-definition/{jd}/suspended", {"suspended": True}).status_code == 204
    assert JobDefinition.objects.get(id=jd).suspended and not Job.objects.get(id=first.id).suspended  # includeJobs false
    body = api.get(f"{R}/job-definition/{jd}").json()
    assert (body["suspended"], body["overridingJobPriority"]) == (True, None)
    assert job_for(start(definition)).suspended  # new jobs of a suspended definition are suspended
    assert put(api, "job-definition/suspended", {"suspended": True, "processDefinitionKey": "jd", "includeJobs": True}).status_code == 204
    assert not Job.objects.filter(job_definition_id=jd, suspended=False).exists()
    (by_id, by_key) = entries("SuspendJobDefinition")
    assert (by_id.entity_type, by_id.property, by_id.new_value, by_id.job_definition_id) == ("JobDefinition", "suspensionState", "suspended", jd)
    assert (by_id.process_definition_id, by_id.process_definition_key) == (definition.id, "jd")
    assert (by_key.process_definition_key, by_key.job_definition_id) == ("jd", None)
    assert not entries("SuspendJob")  # the included jobs' command logs nothing of its own (Camunda)
    assert put(api, "job-definition/suspended", {"processDefinitionId": definition.id, "includeJobs": True}).status_code == 204
    assert not Job.objects.filter(suspended=True).exists() and not JobDefinition.objects.get(id=jd).suspended
    assert entries("ActivateJobDefinition")[0].new_value == "active"


def test_a_future_execution_date_schedules_the_change_as_a_job(api):
    definition = deploy(SERVICE_FIRST, key="later")
    job = job_for(start(definition))
    when = timezone.now() + timedelta(hours=1)
    response = put(api, f"job-definition/{job.job_definition_id}/suspended", {
        "suspended": True, "includeJobs": True, "executionDate": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    })
    assert response.status_code == 204
    assert not JobDefinition.objects.get(id=job.job_definition_id).suspended  # not yet
    timer = Job.objects.get(job_type="suspend-job-definition")
    assert abs((timer.due_date - when).total_seconds()) < 1 and timer.handler_configuration["includeJobs"] is True
    assert entries("SuspendJobDefinition")[0].new_value == "suspended"  # logged when scheduled, as Camunda
    assert job_execute(timer.id, owner="t") == "not-acquired"  # not due
    Job.objects.filter(id=timer.id).update(due_date=timezone.now() - timedelta(seconds=1))
    assert job_execute(timer.id, owner="t") == "succeeded"
    assert JobDefinition.objects.get(id=job.job_definition_id).suspended and Job.objects.get(id=job.id).suspended
    assert len(entries("SuspendJobDefinition")) == 1


# --- priorities -------------------------------------------------------------------------------------


def test_set_job_priority(api):
    job = job_for(start(deploy(SERVICE_FIRST, key="p")))
    assert put(api, f"job/{job.id}/priority", {"priority": 42}).status_code == 204
    assert api.get(f"{R}/job/{job.id}").json()["priority"] == 42
    (entry,) = entries("SetPriority")
    assert (entry.entity_type, entry.property, entry.org_value, entry.new_value, entry.job_id) == ("Job", "priority", "0", "42", job.id)
    assert_error(put(api, f"job/{job.id}/priority", {}), 400, "RestException", f"Priority for job '{job.id}' cannot be null.")
    assert_error(put(api, f"job/{job.id}/priority", {"priority": "high"}), 400, "InvalidRequestException", "priority must be an integer")
    assert_error(put(api, f"job/{job.id}/priority", {"priority": 2**63}), 400, "InvalidRequestException", "priority must be an integer")
    assert_error(put(api, "job/nope/priority", {"priority": 1}), 404, "InvalidRequestException", "No job found with id 'nope': job is null")


def test_job_definition_priority_overrides_new_jobs_and_cascades(api):
    definition = deploy(SERVICE_FIRST, key="jp")
    old = job_for(start(definition))
    jd = old.job_definition_id
    assert put(api, f"job-definition/{jd}/jobPriority", {"priority": 7}).status_code == 204
    assert Job.objects.get(id=old.id).priority == 0  # includeJobs false: existing jobs keep theirs
    assert job_for(start(definition)).priority == 7  # a new job takes the overriding priority
    assert api.get(f"{R}/job-definition/{jd}").json()["overridingJobPriority"] == 7
    assert put(api, f"job-definition/{jd}/jobPriority", {"priority": 9, "includeJobs": True}).status_code == 204
    assert set(Job.objects.filter(job_definition_id=jd).values_list("priority", flat=True)) == {9}
    first, second, third = entries("SetPriority")
    assert (first.entity_type, first.property, first.org_value, first.new_value) == ("JobDefinition", "overridingPriority", None, "7")
    assert (second.entity_type, second.property, second.org_value, second.new_value) == ("JobDefinition", "overridingPriority", "7", "9")
    assert (third.entity_type, third.property, third.org_value, third.new_value) == ("Job", "priority", None, "9")
    assert second.operation_id == third.operation_id != first.operation_id
    assert (third.job_definition_id, third.process_definition_id, third.process_definition_key) == (jd, definition.id, "jp")
    # A null priority clears the override; with includeJobs it is refused.
    assert_error(put(api, f"job-definition/{jd}/jobPriority", {"priority": None, "includeJobs": True}), 400,
                 "InvalidRequestException", f"Cannot reset priority for job definition {jd} with includeJobs=true")
    assert put(api, f"job-definition/{jd}/jobPriority", {"priority": None}).status_code == 204
    assert JobDefinition.objects.get(id=jd).overriding_job_priority is None
    assert job_for(start(definition)).priority == 0
    assert_error(put(api, "job-definition/nope/jobPriority", {"priority": 1}), 404, "InvalidRequestException",
                 "Job definition with id 'nope' does not exist: jobDefinition is null")


def test_batch_jobs_take_the_batch_job_priority_setting_unless_their_definition_overrides_it(api, settings):
    settings.BATCH = {**settings.BATCH, "JOB_PRIORITY": 5}
    instance = start(deploy(SERVICE_FIRST, key="b"))
    response = api.post(f"{R}/process-instance/delete", {"processInstanceIds": [instance.id]}, format="json")
    batch = Batch.objects.get(id=response.json()["id"])
    seed = Job.objects.get(job_definition_id=batch.seed_job_definition_id)
    assert seed.priority == 5
    assert put(api, f"job-definition/{batch.batch_job_definition_id}/jobPriority", {"priority": 11}).status_code == 204
    assert job_execute(seed.id, owner="t") == "succeeded"
    assert Job.objects.get(job_definition_id=batch.batch_job_definition_id).priority == 11
    assert Job.objects.get(job_definition_id=batch.monitor_job_definition_id).priority == 5


def test_acquisition_takes_the_highest_priority_first_and_wakes_the_skipped_job_again(db, fresh_bounds, settings):
    settings.ENGINE = {**settings.ENGINE, "ACQUIRE_BY_PRIORITY": True}
    definition = deploy(SERVICE_FIRST, key="order")
    low, mid, high = (job_for(start(definition)) for _ in range(3))
    Job.objects.filter(id=mid.id).update(priority=5)
    Job.objects.filter(id=high.id).update(priority=10)
    now = timezone.now()
    assert job_service.higher_priority_jobs(low.id, now) == [high.id, mid.id]
    # The wake-up of the low job runs the high one, then mid; the low job gets a new wake-up each time.
    Job.objects.filter(id=low.id).update(enqueued_at=None)
    assert job_execute(low.id, owner="w") == "succeeded"
    assert not Job.objects.filter(id=high.id).exists() and Job.objects.get(id=low.id).enqueued_at is not None
    assert job_execute(low.id, owner="w") == "succeeded"
    assert not Job.objects.filter(id=mid.id).exists()
    assert job_execute(low.id, owner="w") == "succeeded"
    order = list(HistoricJobLog.objects.filter(success_log=True).order_by("timestamp", "id").values_list("job_id", flat=True))
    assert order == [high.id, mid.id, low.id]
    # Without acquisition by priority the wake-up runs its own job (the default order).
    a, b = job_for(start(definition)), job_for(start(definition))
    Job.objects.filter(id=b.id).update(priority=3)
    settings.ENGINE = {**settings.ENGINE, "ACQUIRE_BY_PRIORITY": False}
    assert job_acquire(a.id, owner="w") == a.id


def test_a_suspended_or_locked_higher_priority_job_is_not_taken(db, fresh_bounds):
    definition = deploy(SERVICE_FIRST, key="skip")
    low, high, locked = (job_for(start(definition)) for _ in range(3))
    Job.objects.filter(id__in=[high.id, locked.id]).update(priority=10)
    Job.objects.filter(id=high.id).update(suspended=True)
    Job.objects.filter(id=locked.id).update(lock_owner="other", lock_expiration_time=timezone.now() + timedelta(minutes=5))
    assert job_acquire(low.id, owner="w") == low.id


def test_completing_a_task_creates_a_job_with_the_override(api):
    definition = deploy(key="lin")  # start -> task -> service -> end
    instance = start(definition)
    jd = JobDefinition.objects.get(process_definition=definition, activity_id="service")
    assert put(api, f"job-definition/{jd.id}/jobPriority", {"priority": 3}).status_code == 204
    assert put(api, f"job-definition/{jd.id}/suspended", {"suspended": True}).status_code == 204
    task = instance.tokens.get(activity_id="task")
    task_complete(task_id=task.id)
    job = job_for(instance)
    assert (job.priority, job.suspended) == (3, True)


@pytest.mark.cluster
def test_a_real_worker_runs_the_high_priority_job_before_the_older_low_ones(cluster):
    from tests.support.cluster import wait_for

    low_definition = deploy(SERVICE_FIRST, key="low")
    high_definition = deploy(SERVICE_FIRST, key="high")
    JobDefinition.objects.filter(process_definition=high_definition).update(overriding_job_priority=50)
    lows = [job_for(start(low_definition)).id for _ in range(6)]  # their wake-ups queue first
    high = job_for(start(high_definition))
    assert high.priority == 50
    cluster(workers=1)
    wait_for(lambda: not Job.objects.exists(), timeout=60, message="every job to run")
    order = list(HistoricJobLog.objects.filter(success_log=True).order_by("timestamp", "id").values_list("job_id", flat=True))
    assert order[0] == high.id and sorted(order[1:]) == sorted(lows)


def test_admin_actions_call_the_same_services(admin_user, client):
    definition = deploy(SERVICE_FIRST, key="adm")
    job = job_for(start(definition))
    client.force_login(admin_user)
    response = client.post("/admin/engine/job/", {"action": "suspend_jobs", "_selected_action": [job.id]}, follow=True)
    assert response.status_code == 200 and Job.objects.get(id=job.id).suspended
    assert entries("SuspendJob")[0].user_id == admin_user.username
    client.post("/admin/engine/job/", {"action": "activate_jobs", "_selected_action": [job.id]})
    assert not Job.objects.get(id=job.id).suspended
    client.post("/admin/engine/jobdefinition/", {"action": "suspend_with_jobs", "_selected_action": [job.job_definition_id]})
    assert JobDefinition.objects.get(id=job.job_definition_id).suspended and Job.objects.get(id=job.id).suspended
    assert entries("SuspendJobDefinition")[0].job_definition_id == job.job_definition_id
    client.post("/admin/engine/jobdefinition/", {"action": "activate_with_jobs", "_selected_action": [job.job_definition_id]})
    assert not JobDefinition.objects.get(id=job.job_definition_id).suspended and not Job.objects.get(id=job.id).suspended
