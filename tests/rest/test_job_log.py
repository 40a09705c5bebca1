"""GET|POST /history/job-log (+ /count, /{id}, /{id}/stacktrace): Camunda's HistoricJobLog contract."""
import pytest

from engine.models import HistoricJobLog, Job
from engine.services.job_actions import job_delete
from tests.conftest import client_for, make_user
from tests.rest.test_engine_api import DATE, assert_error, failed_instance
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"
FIELDS = {
    "id", "timestamp", "removalTime", "jobId", "jobDueDate", "jobRetries", "jobPriority", "jobExceptionMessage",
    "failedActivityId", "jobDefinitionId", "jobDefinitionType", "jobDefinitionConfiguration", "activityId",
    "executionId", "processInstanceId", "processDefinitionId", "processDefinitionKey", "deploymentId",
    "rootProcessInstanceId", "tenantId", "hostname", "batchId", "creationLog", "failureLog", "successLog", "deletionLog",
}


def logs(api, params=None):
    response = api.get(f"{R}/history/job-log", params or {})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def failed(db):
    """An instance whose service job failed three times (retries 3 → 0)."""
    definition = deploy(key="logged")
    instance = failed_instance(definition)
    return definition, instance, Job.objects.get(process_instance_id=instance.id)


def test_a_failed_jobs_log_creation_then_each_failure(api, failed):
    definition, instance, job = failed
    rows = logs(api, {"jobId": job.id, "sortBy": "timestamp", "sortOrder": "asc"})
    assert [set(r) for r in rows] == [FIELDS] * 4
    assert [(r["creationLog"], r["failureLog"]) for r in rows] == [(True, False)] + [(False, True)] * 3
    assert [r["jobRetries"] for r in rows] == [3, 2, 1, 0]
    creation, first_failure = rows[0], rows[1]
    assert creation["jobExceptionMessage"] is None and creation["failedActivityId"] is None
    assert first_failure["jobExceptionMessage"] == job.exception_message and first_failure["failedActivityId"] == "service"
    assert (first_failure["processInstanceId"], first_failure["processDefinitionKey"], first_failure["deploymentId"]) == (
        instance.id, "logged", definition.deployment_id,
    )
    assert first_failure["jobDefinitionType"] == "async-continuation" and first_failure["batchId"] is None
    assert DATE.match(first_failure["timestamp"]) and first_failure["rootProcessInstanceId"] == instance.id
    assert api.get(f"{R}/history/job-log/count", {"jobId": job.id, "failureLog": "true"}).json() == {"count": 3}
    assert api.get(f"{R}/history/job-log/count", {"jobId": job.id, "failureLog": "false"}).json() == {"count": 4}  # false: no filter
    desc = logs(api, {"jobId": job.id, "sortBy": "jobRetries", "sortOrder": "asc"})
    assert [r["jobRetries"] for r in desc] == [0, 1, 2, 3]
    assert logs(api, {"deploymentId": definition.deployment_id, "failureLog": "true", "maxResults": "2"})[0]["jobId"] == job.id
    assert len(logs(api, {"jobId": job.id, "firstResult": "1", "maxResults": "2"})) == 2
    # POST with a body and sorting, as Camunda's client sends it
    response = api.post(f"{R}/history/job-log", {"jobId": job.id, "creationLog": True, "sorting": [{"sortBy": "deploymentId", "sortOrder": "desc"}]}, format="json")
    assert [r["id"] for r in response.json()] == [creation["id"]]
    assert api.post(f"{R}/history/job-log/count", {"processInstanceId": instance.id, "jobPriorityLowerThanOrEquals": 0}, format="json").json() == {"count": 4}


def test_success_and_deletion_logs(api):
    definition = deploy(key="ok")
    instance = start(definition)
    from engine.services.modification import instance_modify

    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    ran = Job.objects.get(process_instance_id=instance.id).id
    run_jobs()
    assert [r["successLog"] for r in logs(api, {"jobId": ran, "sortBy": "timestamp", "sortOrder": "asc"})] == [False, True]
    doomed = failed_instance(deploy(key="gone"))
    job = Job.objects.get(process_instance_id=doomed.id)
    job_delete(job=job, user_id="someone")
    deletion = logs(api, {"jobId": job.id, "deletionLog": "true"})
    assert len(deletion) == 1 and deletion[0]["jobRetries"] == 0


def test_stacktrace_and_detail(api, failed):
    _, _, job = failed
    failure = HistoricJobLog.objects.filter(job_id=job.id, failure_log=True).first()
    response = api.get(f"{R}/history/job-log/{failure.id}/stacktrace")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == failure.exception_stacktrace and "Traceback" in failure.exception_stacktrace
    assert api.get(f"{R}/history/job-log/{failure.id}").json()["id"] == failure.id
    assert_error(api.get(f"{R}/history/job-log/nope/stacktrace"), 404, "InvalidRequestException", "No historic job log found with id nope: historicJobLog is null")
    assert_error(api.get(f"{R}/history/job-log/nope"), 404, "InvalidRequestException", "Historic job log with id nope does not exist")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"executionIdIn": "a"}, "'executionIdIn'"),
        ({"failedActivityIdIn": "service"}, "'failedActivityIdIn'"),
        ({"jobIdd": "x"}, "'jobIdd'"),
        ({"failureLog": "perhaps"}, "Cannot set query parameter 'failureLog' to value 'perhaps'"),
        ({"jobPriorityHigherThanOrEquals": "high"}, "jobPriorityHigherThanOrEquals"),
        ({"sortBy": "executionId", "sortOrder": "asc"}, "sortBy"),
        ({"sortBy": "timestamp"}, "sortOrder"),
    ],
)
def test_unsupported_and_bad_parameters_are_400s_naming_them(api, params, fragment):
    for path in ("history/job-log", "history/job-log/count"):
        if path.endswith("count") and "sortBy" in params:
            continue
        response = api.get(f"{R}/{path}", params)
        assert response.status_code == 400, response.content
        assert fragment in response.json()["message"]


def test_the_job_log_is_filtered_to_the_users_tenants(db):
    a = failed_instance(deploy(key="ta", tenant_id="tenant-a"))
    b = failed_instance(deploy(key="tb", tenant_id="tenant-b"))
    operator = client_for(make_user("op-a", perms=True, tenants=("tenant-a",)))
    seen = {r["processInstanceId"] for r in logs(operator)}
    assert seen == {a.id}
    hidden = HistoricJobLog.objects.filter(process_instance_id=b.id, failure_log=True).first()
    assert operator.get(f"{R}/history/job-log/{hidden.id}/stacktrace").status_code == 404
    assert operator.get(f"{R}/history/job-log/count", {"tenantIdIn": "tenant-b"}).json() == {"count": 0}
