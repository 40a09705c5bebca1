"""The batch REST API: creation endpoints, their 400s, batch queries, statistics, history, auth, tenants."""
import pytest

from batches.models import Batch, HistoricBatch
from engine.models import HistoricProcessInstance, Job, UserOperationLogEntry
from engine.services.modification import instance_modify
from tests.rest.test_engine_api import DATE, assert_error, failed_instance
from tests.support.factories import deploy, job_of, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"
BATCH_FIELDS = {
    "id", "type", "totalJobs", "jobsCreated", "batchJobsPerSeed", "invocationsPerBatchJob", "seedJobDefinitionId",
    "monitorJobDefinitionId", "batchJobDefinitionId", "suspended", "tenantId", "createUserId", "startTime",
    "executionStartTime",
}
# Ours, beside Camunda's (batches.options): a Camunda client ignores fields it does not know.
OUR_BATCH_FIELDS = {"reason", "maxItemsPerSecond", "notBefore", "window", "retryOf"}


def post(api, path, payload):
    return api.post(f"{R}/{path}", payload, format="json")


def created(api, path, payload) -> dict:
    response = post(api, path, payload)
    assert response.status_code == 200, response.content
    return response.json()


def test_instance_deletion_endpoint_answers_the_batch_dto_and_runs(api):
    definition = deploy()
    a, b = start(definition), start(definition)
    body = created(api, "process-instance/delete", {"processInstanceIds": [a.id], "processInstanceQuery": {"processInstanceIds": [b.id]}, "deleteReason": "why"})
    assert set(body) == BATCH_FIELDS | OUR_BATCH_FIELDS
    assert (body["type"], body["jobsCreated"], body["suspended"], body["createUserId"]) == ("instance-deletion", 0, False, "alice-admin")
    assert DATE.match(body["startTime"]) and body["executionStartTime"] is None
    run_jobs()
    assert set(HistoricProcessInstance.objects.values_list("state", flat=True)) == {"EXTERNALLY_TERMINATED"}


def test_historic_deletion_only_deletes_finished_instances(api):
    definition = deploy()
    running = start(definition)
    done = start(definition)
    instance_modify(instance_id=done.id, instructions=[{"type": "cancel", "activityId": "task"}])
    body = created(api, "history/process-instance/delete", {"historicProcessInstanceQuery": {"processDefinitionKey": "proc"}})
    assert body["type"] == "historic-instance-deletion"
    run_jobs()
    assert list(HistoricProcessInstance.objects.values_list("id", flat=True)) == [running.id]
    items = api.get(f"{R}/history/batch/{body['id']}/items").json()
    assert [(i["targetId"], i["state"]) for i in items] == [(done.id, "SUCCEEDED")]


def test_historic_deletion_fail_if_not_exists(api):
    definition = deploy()
    done = start(definition)
    instance_modify(instance_id=done.id, instructions=[{"type": "cancel", "activityId": "task"}])
    strict = post(api, "history/process-instance/delete", {"historicProcessInstanceIds": [done.id, "ghost"]})
    assert_error(strict, 400, "InvalidRequestException", "no historic process instance found with id: ghost")
    assert not HistoricBatch.objects.exists()
    lenient = created(api, "history/process-instance/delete", {"historicProcessInstanceIds": [done.id, "ghost"], "failIfNotExists": False})
    run_jobs()
    items = {i["targetId"]: i["state"] for i in api.get(f"{R}/batch/{lenient['id']}/items").json()}
    assert items == {done.id: "SUCCEEDED", "ghost": "SKIPPED"}


def test_set_job_retries_by_jobs_and_by_process(api):
    definition = deploy()
    first, second = failed_instance(definition), failed_instance(definition)
    created(api, "job/retries", {"jobQuery": {"noRetriesLeft": True, "processInstanceId": first.id}, "retries": 0})
    body = created(api, "process-instance/job-retries", {"processInstances": [second.id], "retries": 0, "dueDate": "2030-01-01T00:00:00.000+0000"})
    assert body["type"] == "set-job-retries"
    run_jobs()
    assert job_of(second).due_date.year == 2030
    failed_job = job_of(first)
    created(api, "job/retries", {"jobIds": [failed_job.id], "retries": 5})
    from engine.services.jobs import job_execute
    from batches.execution import SEED_JOB

    for job in Job.objects.filter(job_type__in=[SEED_JOB, "set-job-retries"]):
        job_execute(job.id, owner="t")
    for job in Job.objects.filter(job_type="set-job-retries"):
        job_execute(job.id, owner="t")
    failed_job.refresh_from_db()
    assert failed_job.retries == 5
    assert api.get(f"{R}/incident/count", {"processInstanceId": first.id}).json() == {"count": 0}


def test_modification_batch_moves_tokens_and_skips_other_definitions(api):
    definition = deploy(key="mine")
    other = deploy(key="other")
    mine, foreign = start(definition), start(other)
    body = created(api, "modification/executeAsync", {
        "processDefinitionId": definition.id,
        "instructions": [{"type": "cancel", "activityId": "task"}, {"type": "startBeforeActivity", "activityId": "service"}],
        "processInstanceIds": [mine.id, foreign.id],
        "annotation": "move past the task",
    })
    run_jobs()
    assert HistoricProcessInstance.objects.get(id=mine.id).state == "COMPLETED"
    assert HistoricProcessInstance.objects.get(id=foreign.id).state == "ACTIVE"
    items = {i["targetId"]: (i["state"], i["detail"]) for i in api.get(f"{R}/history/batch/{body['id']}/items").json()}
    assert items[foreign.id] == ("SKIPPED", "instance belongs to another process definition")
    assert UserOperationLogEntry.objects.filter(batch_id=body["id"], annotation="move past the task").exists()


def test_suspension_batch_by_historic_query(api):
    definition = deploy()
    a = start(definition)
    created(api, "process-instance/suspended-async", {"historicProcessInstanceQuery": {"unfinished": True}, "suspended": True})
    run_jobs()
    assert api.get(f"{R}/process-instance/{a.id}").json()["suspended"] is True


@pytest.mark.parametrize(
    ("path", "payload", "message"),
    [
        ("process-instance/delete", {}, "processInstanceIds is empty"),
        ("process-instance/delete", {"processInstanceIds": []}, "processInstanceIds is empty"),
        ("process-instance/delete", {"processInstanceIds": ["a", None]}, "processInstanceIds"),
        ("process-instance/delete", {"processInstanceIds": "abc"}, "processInstanceIds"),
        ("process-instance/delete", {"processInstanceQuery": {"suspended": "perhaps"}}, "Cannot set query parameter 'suspended' to value 'perhaps'"),
        ("process-instance/delete", {"processInstanceIds": ["x"], "skipCustomListeners": "often"}, "skipCustomListeners"),
        ("history/process-instance/delete", {}, "historicProcessInstanceIds is empty"),
        ("history/process-instance/delete", {"historicProcessInstanceQuery": {"startedAfter": "tuesday"}}, "Cannot set query parameter 'startedAfter' to value 'tuesday'"),
        ("job/retries", {"jobIds": ["j"]}, "retries: This field is required."),
        ("job/retries", {"jobIds": ["j"], "retries": -1}, "The number of job retries must be a non-negative Integer, but '-1' has been provided."),
        ("job/retries", {"jobIds": ["j"], "retries": "3"}, "The number of job retries must be a non-negative Integer"),
        ("job/retries", {"retries": 1}, "jobIds is empty"),
        ("job/retries", {"jobIds": ["j"], "retries": 1, "dueDate": "soon"}, "dueDate: Cannot parse date 'soon'"),
        ("process-instance/job-retries", {"retries": 1}, "jobIds is empty"),
        ("process-instance/suspended-async", {"suspended": True}, "Either processInstanceIds, processInstanceQuery or historicProcessInstanceQuery should be set to update the suspension state."),
        ("modification/executeAsync", {"processInstanceIds": ["a"], "instructions": [{"type": "cancel", "activityId": "task"}]}, "processDefinitionId: This field is required."),
        ("modification/executeAsync", {"processDefinitionId": "DEF", "processInstanceIds": ["a"]}, "instructions: This field is required."),
        ("modification/executeAsync", {"processDefinitionId": "DEF", "instructions": [{"type": "cancel", "activityId": "task"}]}, "Either processInstanceIds, processInstanceQuery or historicProcessInstanceQuery has to be set"),
        ("modification/executeAsync", {"processDefinitionId": "DEF", "processInstanceIds": ["a"], "instructions": [{"type": "cancel"}]}, "instructions: For instruction type 'cancel': 'activityId' must be set"),
        ("modification/executeAsync", {"processDefinitionId": "DEF", "processInstanceIds": ["a"], "instructions": [{"type": "startTransition"}]}, "'transitionId' must be set"),
        ("modification/executeAsync", {"processDefinitionId": "DEF", "processInstanceIds": ["a"], "instructions": [{"type": "startBeforeActivity", "activityId": "ghost"}]}, "activity 'ghost' does not exist"),
        ("modification/executeAsync", {"processDefinitionId": "DEF", "processInstanceIds": ["a"], "instructions": [{"type": "startAfterActivity", "activityId": "end"}]}, "must have exactly one outgoing sequence flow"),
        ("modification/executeAsync", {"processDefinitionId": "nope", "processInstanceIds": ["a"], "instructions": [{"type": "cancel", "activityId": "task"}]}, "processDefinitionId: Process definition 'nope' does not exist"),
        ("modification/executeAsync", {"processDefinitionId": "DEF", "processInstanceQuery": {"processDefinitionKey": "none"}, "instructions": [{"type": "cancel", "activityId": "task"}]}, "Process instance ids is empty"),
    ],
)
def test_invalid_creation_requests_are_400s_naming_the_field(api, path, payload, message):
    definition = deploy()
    payload = {k: (definition.id if v == "DEF" else v) for k, v in payload.items()}
    assert_error(post(api, path, payload), 400, "InvalidRequestException", message)
    assert not Batch.objects.exists() and not HistoricBatch.objects.exists()


def test_a_non_object_body_is_a_400(api):
    assert_error(api.post(f"{R}/process-instance/delete", [1], format="json"), 400, "InvalidRequestException", "JSON object")


def test_batch_queries_filter_sort_page_and_404(api):
    definition = deploy()
    one = created(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    two = created(api, "process-instance/suspended-async", {"processInstanceIds": [start(definition).id], "suspended": True})
    assert api.put(f"{R}/batch/{two['id']}/suspended", {"suspended": True}, format="json").status_code == 204
    ids = lambda params: [b["id"] for b in api.get(f"{R}/batch", params).json()]  # noqa: E731
    assert ids({"type": "instance-deletion"}) == [one["id"]]
    assert ids({"suspended": "true"}) == [two["id"]]
    assert ids({"suspended": "false"}) == [one["id"]]
    assert ids({"sortBy": "batchId", "sortOrder": "desc"}) == sorted([one["id"], two["id"]], reverse=True)
    assert len(ids({"maxResults": 1})) == 1
    assert api.get(f"{R}/batch/count", {"withoutTenantId": "true"}).json() == {"count": 2}
    assert api.get(f"{R}/batch/{one['id']}").json()["id"] == one["id"]
    assert_error(api.get(f"{R}/batch/nope"), 404, "InvalidRequestException", "Batch with id 'nope' does not exist")
    assert_error(api.get(f"{R}/batch", {"sortBy": "batchId"}), 400, "InvalidRequestException", "Only a single sorting parameter specified. sortBy and sortOrder required")
    assert_error(api.get(f"{R}/batch", {"sortBy": "startTime", "sortOrder": "asc"}), 400, "InvalidRequestException", "Cannot set query parameter 'sortBy' to value 'startTime'")
    assert_error(api.get(f"{R}/batch", {"suspended": "yes"}), 400, "InvalidRequestException", "Cannot set query parameter 'suspended' to value 'yes'")
    # Camunda's BatchResourceImpl answers unknown ids of these two with 400 (research §8).
    assert_error(api.put(f"{R}/batch/nope/suspended", {"suspended": True}, format="json"), 400, "InvalidRequestException", "Unable to suspend batch with id 'nope'")
    assert_error(api.put(f"{R}/batch/nope/suspended", {}, format="json"), 400, "InvalidRequestException", "Unable to activate batch with id 'nope'")
    assert_error(api.delete(f"{R}/batch/nope"), 400, "InvalidRequestException", "Unable to delete batch with id 'nope'")
    assert_error(api.delete(f"{R}/history/batch/nope"), 400, "InvalidRequestException", "Unable to delete historic batch with id 'nope'")



@pytest.mark.parametrize(("raw", "cascade"), [("True", True), ("TRUE", True), ("true", True), ("maybe", False), ("", False), (None, False)])
def test_cascade_is_read_like_javas_boolean_value_of(api, raw, cascade):
    # Camunda binds `cascade` to a primitive boolean with Boolean.valueOf (research §8).
    batch = created(api, "process-instance/delete", {"processInstanceIds": [start(deploy()).id]})
    url = f"{R}/batch/{batch['id']}" + ("" if raw is None else f"?cascade={raw}")
    assert api.delete(url).status_code == 204
    assert HistoricBatch.objects.filter(id=batch["id"]).exists() is not cascade


def test_statistics_and_their_filters(api, admin_user, operator_api):
    definition = deploy()
    stuck = start(definition)
    from engine.services.lifecycle import instances_set_suspended

    instances_set_suspended(instance_ids=[stuck.id], suspended=True)
    failing = created(api, "modification/executeAsync", {"processDefinitionId": definition.id, "processInstanceIds": [stuck.id], "instructions": [{"type": "cancel", "activityId": "task"}]})
    run_jobs()
    waiting = created(operator_api, "process-instance/delete", {"processInstanceIds": [start(definition).id, start(definition).id]})
    rows = {row["id"]: row for row in api.get(f"{R}/batch/statistics").json()}
    assert set(rows) == {failing["id"], waiting["id"]}
    assert (rows[waiting["id"]]["remainingJobs"], rows[waiting["id"]]["itemsPending"]) == (1, 2)
    row = rows[failing["id"]]
    assert (row["remainingJobs"], row["completedJobs"], row["failedJobs"]) == (1, 0, 1)
    assert (row["itemsFailed"], row["totalItems"]) == (1, 1)
    assert set(BATCH_FIELDS) <= set(row)
    with_failures = [r["id"] for r in api.get(f"{R}/batch/statistics", {"withFailures": "true"}).json()]
    assert with_failures == [failing["id"]]
    without = [r["id"] for r in api.get(f"{R}/batch/statistics", {"withoutFailures": "true", "withFailures": "false"}).json()]
    assert without == [waiting["id"]]
    assert api.get(f"{R}/batch/statistics/count", {"createdBy": "alice-admin"}).json() == {"count": 1}
    assert api.get(f"{R}/batch/statistics/count", {"startedAfter": "2999-01-01T00:00:00.000+0000"}).json() == {"count": 0}
    assert api.get(f"{R}/batch/statistics", {"sortBy": "startTime", "sortOrder": "desc"}).status_code == 200
    assert_error(api.get(f"{R}/batch/statistics", {"startedBefore": "noon"}), 400, "InvalidRequestException", "Cannot set query parameter 'startedBefore' to value 'noon'")


def test_history_queries_and_history_deletion(api):
    definition = deploy()
    done = created(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    run_jobs()
    running = created(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    completed = api.get(f"{R}/history/batch", {"completed": "true"}).json()
    assert [h["id"] for h in completed] == [done["id"]]
    assert completed[0]["finalState"] == "completed" and DATE.match(completed[0]["endTime"])
    assert [h["id"] for h in api.get(f"{R}/history/batch", {"completed": "false"}).json()] == [running["id"]]
    assert api.get(f"{R}/history/batch/count").json() == {"count": 2}
    assert api.get(f"{R}/history/batch", {"sortBy": "endTime", "sortOrder": "asc"}).status_code == 200
    assert_error(api.delete(f"{R}/history/batch/{running['id']}"), 400, "InvalidRequestException", "running batch")
    assert api.delete(f"{R}/history/batch/{done['id']}").status_code == 204
    assert_error(api.get(f"{R}/history/batch/{done['id']}"), 404, "InvalidRequestException", f"Historic batch with id '{done['id']}' does not exist")


def test_delete_batch_with_and_without_cascade(api):
    definition = deploy()
    kept = created(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    gone = created(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    assert api.delete(f"{R}/batch/{kept['id']}").status_code == 204
    assert api.delete(f"{R}/batch/{gone['id']}?cascade=true").status_code == 204
    assert api.get(f"{R}/history/batch/{kept['id']}").json()["finalState"] == "canceled"
    assert api.get(f"{R}/history/batch/{gone['id']}").status_code == 404
    assert api.delete(f"{R}/batch/{kept['id']}").status_code == 400  # ended: no runtime batch any more
    deletions = UserOperationLogEntry.objects.filter(operation_type="Delete", entity_type="Batch")
    assert set(deletions.values_list("batch_id", "new_value", "user_id")) == {
        (kept["id"], "false", "alice-admin"),
        (gone["id"], "true", "alice-admin"),
    }


def test_creating_suspending_and_deleting_need_permissions(viewer_api, api):
    definition = deploy()
    batch = created(api, "process-instance/delete", {"processInstanceIds": [start(definition).id]})
    response = post(viewer_api, "process-instance/delete", {"processInstanceIds": ["x"]})
    assert_error(response, 403, "AuthorizationException", "batches.create_instance_deletion")
    assert viewer_api.put(f"{R}/batch/{batch['id']}/suspended", {"suspended": True}, format="json").status_code == 403
    assert viewer_api.delete(f"{R}/batch/{batch['id']}").status_code == 403
    assert viewer_api.delete(f"{R}/history/batch/{batch['id']}").status_code == 403
    assert viewer_api.get(f"{R}/batch/{batch['id']}").status_code == 200  # reads are filtered, not refused


def test_batches_take_the_tenant_of_their_targets_and_reads_are_filtered(api, operator_api):
    theirs = start(deploy(key="claims", tenant_id="tenant-b"))
    mine = start(deploy(key="claims", tenant_id="tenant-a"))
    foreign = created(api, "process-instance/delete", {"processInstanceIds": [theirs.id]})
    assert foreign["tenantId"] == "tenant-b"
    assert operator_api.get(f"{R}/batch/{foreign['id']}").status_code == 404
    assert operator_api.get(f"{R}/batch/count").json() == {"count": 0}
    assert operator_api.get(f"{R}/history/batch/{foreign['id']}/items").status_code == 404
    # An operator naming a foreign instance by id gets it skipped, never deleted.
    own = created(operator_api, "process-instance/delete", {"processInstanceIds": [mine.id, theirs.id]})
    assert own["tenantId"] is None
    Job.objects.filter(job_definition_id=foreign["batchJobDefinitionId"]).delete()
    Batch.objects.filter(id=foreign["id"]).update(suspended=True)
    Job.objects.filter(job_definition_id=foreign["seedJobDefinitionId"]).update(suspended=True)
    run_jobs()
    items = {i["targetId"]: i["state"] for i in operator_api.get(f"{R}/history/batch/{own['id']}/items").json()}
    assert items == {mine.id: "SUCCEEDED", theirs.id: "SKIPPED"}
    assert HistoricProcessInstance.objects.get(id=theirs.id).state == "ACTIVE"
    # A query cannot reach them either.
    response = post(operator_api, "process-instance/delete", {"processInstanceQuery": {"tenantIdIn": ["tenant-b"]}})
    assert_error(response, 400, "InvalidRequestException", "processInstanceIds is empty")


def test_a_batch_of_several_targets_of_one_tenant_takes_that_tenant(api, operator_api):
    """Several targets (not just one) sharing a tenant give the batch that tenant, so other tenants'
    users do not see it (tenant-less batches are shared); mixed ones none. The check once ran
    DISTINCT over the model's ordering columns too, so two rows always differed."""
    definition = deploy(key="claims", tenant_id="tenant-b")
    ids = [start(definition).id for _ in range(3)]
    batch = created(api, "process-instance/delete", {"processInstanceIds": ids})
    assert batch["tenantId"] == "tenant-b"
    assert operator_api.get(f"{R}/batch/{batch['id']}").status_code == 404  # the operator is of tenant-a
    assert operator_api.get(f"{R}/history/batch/{batch['id']}/items").status_code == 404
    other = start(deploy(key="claims", tenant_id="tenant-a")).id
    assert created(api, "process-instance/delete", {"processInstanceIds": [*ids, other]})["tenantId"] is None
    untenanted = start(deploy(key="plain")).id
    assert created(api, "process-instance/delete", {"processInstanceIds": [untenanted, *ids]})["tenantId"] is None


def test_a_million_ids_get_a_clear_4xx_not_an_out_of_memory(api):
    ids = [f"{i:036d}" for i in range(1_000_000)]
    response = post(api, "process-instance/delete", {"processInstanceIds": ids})
    assert_error(response, 413, "InvalidRequestException", "larger than the limit")
    assert not Batch.objects.exists()


def test_more_ids_than_a_list_may_hold_is_a_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
    ids = [f"{i:x}" for i in range(100_001)]
    response = post(api, "process-instance/delete", {"processInstanceIds": ids})
    assert_error(response, 400, "InvalidRequestException", "processInstanceIds")
    assert not Batch.objects.exists()
