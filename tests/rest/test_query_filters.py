"""Every query filter selects exactly the matching rows (nothing when nothing matches); what the engine cannot answer is a 400."""
import pytest

from engine.models import Job
from engine.services.instance_actions import instance_delete
from engine.services.jobs import job_execute
from engine.services.modification import instance_modify
from engine.services.runtime import task_complete
from tests.rest.test_engine_api import assert_error
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()}


@pytest.fixture
def world(db):
    """Instances with typed variables in every state: waiting, at a failed job, suspended, completed, cancelled."""
    definition = deploy()
    other = deploy(key="other")
    rows = {
        "small": start(definition, "INV-1", amount=5, customer="ACME Corp", ratio=0.5, vip=False),
        "big": start(definition, "INV-2", amount=2_000_000, customer="Globex", ratio=2.5, vip=True),
        "text": start(definition, "INV-3", amount="2000000", customer="acme corp"),
        "other": start(other, "ORD-1", amount=700),
        "failing": start(definition, "INV-4", amount=50, fail=True),
        "done": start(definition, "INV-5", amount=6),
        "cancelled": start(definition, "INV-6", amount=7),
    }
    instance_modify(instance_id=rows["failing"].id, instructions=[{"type": "cancel", "activityId": "task"}, {"type": "startBeforeActivity", "activityId": "service"}])
    failing_job = Job.objects.get(process_instance_id=rows["failing"].id)
    for _ in range(3):
        job_execute(failing_job.id, owner="test")
    task = rows["done"].tokens.get().id
    task_complete(task_id=task)
    job_execute(Job.objects.get(process_instance_id=rows["done"].id).id, owner="test")
    instance_delete(instance=rows["cancelled"], delete_reason="test", user_id="t")
    return {name: instance.id for name, instance in rows.items()}


def runtime(api, body: dict) -> set[str]:
    return ids(api.post(f"{R}/process-instance", body, format="json"))


def historic(api, body: dict) -> set[str]:
    return ids(api.post(f"{R}/history/process-instance", body, format="json"))


def var(name: str, operator: str, value) -> dict:
    return {"variables": [{"name": name, "operator": operator, "value": value}]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (var("amount", "gt", 1_000_000), {"big"}),
        (var("amount", "gteq", 700), {"big", "other"}),
        (var("amount", "lt", 50), {"small"}),
        (var("amount", "lteq", 50), {"small", "failing"}),
        (var("amount", "eq", 5), {"small"}),
        (var("amount", "eq", 5.0), {"small"}),
        # neq: a variable of the name with another value or another type (Camunda's SQL).
        (var("amount", "neq", 5), {"big", "text", "other", "failing"}),
        (var("amount", "eq", "2000000"), {"text"}),  # a string matches String variables only
        (var("amount", "gt", 10_000_000), set()),
        (var("ratio", "gt", 1), {"big"}),
        (var("ratio", "lt", 1.5), {"small"}),
        (var("amount", "gt", 5.5), set()),  # 5.5 matches Double variables only (Camunda's composite number condition)
        (var("vip", "eq", True), {"big"}),
        (var("vip", "neq", True), {"small"}),
        (var("customer", "eq", "ACME Corp"), {"small"}),
        (var("customer", "like", "ACME%"), {"small"}),
        (var("customer", "like", "%corp"), {"text"}),
        ({**var("customer", "eq", "acme corp"), "variableValuesIgnoreCase": True}, {"small", "text"}),
        ({**var("CUSTOMER", "eq", "Globex"), "variableNamesIgnoreCase": True}, {"big"}),
        (var("CUSTOMER", "eq", "Globex"), set()),
        (var("nobody", "eq", 1), set()),
        ({"variables": [{"name": "amount", "operator": "gt", "value": 1}, {"name": "customer", "operator": "like", "value": "G%"}]}, {"big"}),
    ],
)
def test_variable_filters_on_running_instances(api, world, query, expected):
    assert runtime(api, query) == {world[name] for name in expected}


def test_the_measured_bug_a_variable_filter_no_longer_counts_everything(api, world):
    # The measurement: this counted every running instance before.
    body = {"variables": [{"name": "amount", "operator": "gt", "value": 1_000_000}]}
    assert api.post(f"{R}/process-instance/count", body, format="json").json() == {"count": 1}


def test_variable_filters_in_the_query_string_compare_strings(api, world):
    # Camunda: "Values are always treated as String objects on server side".
    assert ids(api.get(f"{R}/process-instance", {"variables": "customer_eq_Globex"})) == {world["big"]}
    assert ids(api.get(f"{R}/process-instance", {"variables": "amount_eq_2000000"})) == {world["text"]}
    assert ids(api.get(f"{R}/process-instance", {"variables": "customer_like_%corp,amount_neq_x"})) == {world["text"]}


def test_historic_variable_filters_see_finished_instances(api, world):
    assert historic(api, var("amount", "lteq", 7)) == {world["small"], world["done"], world["cancelled"]}
    assert historic(api, {**var("amount", "gt", 5), "finished": True}) == {world["done"], world["cancelled"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (var("amount", "notLike", "x"), "Invalid variable comparator specified: notLike"),
        (var("amount", "between", 1), "Invalid variable comparator specified: between"),
        (var("amount", {"op": "gt"}, 1), "Invalid variable comparator specified: {'op': 'gt'}"),
        (var("amount", ["gt"], 1), "Invalid variable comparator specified: ['gt']"),
        (var("vip", "gt", True), "Booleans and null cannot be used in 'greater than' condition"),
        (var("vip", "lteq", None), "Booleans and null cannot be used in 'less than or equal' condition"),
        (var("vip", "like", None), "Booleans and null cannot be used in 'like' condition"),
        (var("amount", "like", 5), "Only string values can be used with 'like' condition"),
        ({"variables": [{"operator": "eq", "value": 1}]}, "variables: every entry needs a 'name'"),
        ({"variables": [{"name": "a", "operator": "eq", "value": {"x": 1}}]}, "must be a string, number, boolean or null"),
        ({"variables": "amount_gt_5"}, "Cannot set query parameter 'variables'"),
    ],
)
def test_bad_variable_filters_are_400s(api, world, body, message):
    for path in ("process-instance", "history/process-instance"):
        assert_error(api.post(f"{R}/{path}", body, format="json"), 400, "InvalidRequestException", message)


def test_a_query_string_variable_needs_three_parts(api, world):
    response = api.get(f"{R}/process-instance", {"variables": "amount_gt"})
    assert_error(response, 400, "InvalidRequestException", "variable query parameter has to have format KEY_OPERATOR_VALUE")


def test_runtime_incident_filters(api, world):
    from engine.models import Incident

    incident = Incident.objects.get(process_instance_id=world["failing"])
    failing = {world["failing"]}
    assert runtime(api, {"withIncident": True}) == failing
    assert runtime(api, {"incidentType": "failedJob"}) == failing
    assert runtime(api, {"incidentType": "failedExternalTask"}) == set()
    assert runtime(api, {"incidentId": incident.id}) == failing
    assert runtime(api, {"incidentId": "nope"}) == set()
    assert runtime(api, {"incidentMessage": incident.incident_message}) == failing
    assert runtime(api, {"incidentMessageLike": "%variable 'fail'%"}) == failing
    assert runtime(api, {"incidentMessageLike": "variable 'fail'"}) == set()  # LIKE: no % added


def test_historic_incident_filters_see_resolved_incidents(api, world):
    from engine.models import Incident
    from engine.services.jobs import jobs_set_retries

    failing = {world["failing"]}
    assert historic(api, {"withIncidents": True}) == failing
    assert historic(api, {"incidentStatus": "open"}) == failing
    assert historic(api, {"incidentStatus": "resolved"}) == set()
    incident_id = Incident.objects.get(process_instance_id=world["failing"]).id
    jobs_set_retries(job_ids=list(Job.objects.filter(process_instance_id=world["failing"]).values_list("id", flat=True)), retries=1)
    assert historic(api, {"incidentStatus": "resolved"}) == failing
    assert historic(api, {"incidentStatus": "open"}) == set()
    assert historic(api, {"withIncidents": True, "incidentType": "failedJob"}) == failing
    assert historic(api, {"incidentIdIn": [incident_id]}) == failing
    assert historic(api, {"incidentMessageLike": "Service task%"}) == failing
    assert historic(api, {"withJobsRetrying": True}) == failing  # failed before, retries left now
    assert_error(api.post(f"{R}/history/process-instance", {"incidentStatus": "closed"}, format="json"), 400, "InvalidRequestException", "incidentStatus")


def test_definition_key_filters(api, world):
    every_running = {world[n] for n in ("small", "big", "text", "other", "failing")}
    assert runtime(api, {"processDefinitionKeyIn": ["other"]}) == {world["other"]}
    assert runtime(api, {"processDefinitionKeyNotIn": ["other"]}) == every_running - {world["other"]}
    assert runtime(api, {"processDefinitionKeyIn": ["nothing"]}) == set()
    assert historic(api, {"processDefinitionKeyNotIn": ["proc"]}) == {world["other"]}
    assert historic(api, {"processDefinitionKeyIn": ["other", "proc"]}) == set(world.values())


def test_historic_activity_filters(api, world):
    waiting = {world[n] for n in ("small", "big", "text", "other")}
    assert historic(api, {"activityIdIn": ["task"]}) == waiting
    assert historic(api, {"activityIdIn": ["service"]}) == {world["failing"]}  # an incident activity counts
    assert historic(api, {"activeActivityIdIn": ["task"]}) == waiting
    assert historic(api, {"executedActivityIdIn": ["service"]}) == {world["done"]}
    assert historic(api, {"executedActivityIdIn": ["task"]}) == {world["failing"], world["done"], world["cancelled"]}
    assert historic(api, {"executedActivityIdIn": ["nowhere"]}) == set()


def test_historic_ids_and_dates(api, world):
    everyone = set(world.values())
    assert historic(api, {"processInstanceIdNotIn": [world["small"], world["big"]]}) == everyone - {world["small"], world["big"]}
    assert historic(api, {"finishedAfter": "2000-01-01T00:00:00.000+0000"}) == {world["done"], world["cancelled"]}
    assert historic(api, {"finishedBefore": "2000-01-01T00:00:00.000+0000"}) == set()
    assert historic(api, {"executedJobAfter": "2000-01-01T00:00:00.000+0000"}) == {world["failing"], world["done"]}
    assert historic(api, {"processInstanceBusinessKeyIn": ["INV-1", "ORD-1"]}) == {world["small"], world["other"]}
    assert historic(api, {"externallyTerminated": True}) == {world["cancelled"]}
    assert historic(api, {"completed": True}) == {world["done"]}


def test_root_leaf_and_super_filters_follow_an_engine_without_call_activities(api, world):
    running = runtime(api, {})
    assert runtime(api, {"rootProcessInstances": True}) == running
    assert runtime(api, {"leafProcessInstances": True}) == running
    assert runtime(api, {"superProcessInstance": world["small"]}) == set()
    assert runtime(api, {"rootProcessInstanceId": world["small"]}) == {world["small"]}
    assert historic(api, {"rootProcessInstances": True}) == set(world.values())


def test_two_historic_states_are_camundas_usage_error(api, world):
    response = api.post(f"{R}/history/process-instance", {"active": True, "completed": True}, format="json")
    assert_error(response, 400, "InvalidRequestException", "Already querying for historic process instance with another state: ACTIVE is not empty")


def test_or_queries(api, world):
    body = {"orQueries": [{"businessKey": "INV-1", "processDefinitionKey": "other"}]}
    assert runtime(api, body) == {world["small"], world["other"]}
    body = {"processDefinitionKey": "proc", "orQueries": [{"businessKey": "INV-1", "withIncident": True}]}
    assert runtime(api, body) == {world["small"], world["failing"]}
    historic_body = {"orQueries": [{"completed": True, "externallyTerminated": True}]}
    assert historic(api, historic_body) == {world["done"], world["cancelled"]}
    assert_error(api.post(f"{R}/process-instance", {"orQueries": [{"sorting": []}]}, format="json"), 400, "InvalidRequestException", "'sorting'")


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("process-instance", "colour"),
        ("process-instance", "processInstanceIdIn"),
        ("history/process-instance", "processVariables"),
        ("history/process-instance", "state"),
        ("job", "noTenantId"),
        ("job", "orQueries"),
        ("process-definition", "versionTag"),
    ],
)
def test_every_key_the_engine_cannot_answer_is_a_400_naming_it(api, world, path, key):
    for response in (
        api.post(f"{R}/{path}", {key: "x"}, format="json") if path != "process-definition" else api.get(f"{R}/{path}", {key: "x"}),
        api.get(f"{R}/{path}/count", {key: "x"}),
    ):
        assert response.status_code == 400, (key, response.content)
        assert f"'{key}'" in response.json()["message"]


def test_a_null_value_is_no_filter(api, world):
    assert runtime(api, {"businessKey": None, "variables": None}) == runtime(api, {})


@pytest.mark.parametrize(
    "endpoint",
    ["process-instance/delete", "process-instance/suspended-async", "process-instance/job-retries", "modification/executeAsync"],
)
def test_batch_creation_refuses_an_unknown_key_in_its_query(api, world, endpoint):
    body = {"processInstanceQuery": {"processDefinitionKey": "proc", "amountAbove": 1_000_000}, "suspended": True, "retries": 1,
            "processDefinitionId": "x", "instructions": [{"type": "cancel", "activityId": "task"}]}
    response = api.post(f"{R}/{endpoint}", body, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["message"]
    assert "'amountAbove'" in message and message.count("processInstanceQuery") == 1


def test_a_batch_with_a_variable_query_cancels_exactly_the_matching_instances(api, world):
    body = {"processInstanceQuery": var("amount", "gt", 1_000_000)}
    response = api.post(f"{R}/process-instance/delete", body, format="json")
    assert response.status_code == 200, response.content
    from batches.models import BatchItem

    assert set(BatchItem.objects.filter(batch_id=response.json()["id"]).values_list("target_id", flat=True)) == {world["big"]}


# --- jobs -----------------------------------------------------------------------------------


def test_job_filters(api, world):
    failed = Job.objects.get(process_instance_id=world["failing"])
    instance_modify(instance_id=world["small"], instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    fresh = Job.objects.get(process_instance_id=world["small"])
    jobs = lambda body: ids(api.post(f"{R}/job", body, format="json"))  # noqa: E731
    assert jobs({"failedActivityId": "service"}) == {failed.id}
    assert jobs({"noRetriesLeft": True}) == {failed.id}
    assert jobs({"withRetriesLeft": True}) == {fresh.id}
    assert jobs({"executable": True}) == {fresh.id}
    assert jobs({"messages": True}) == {failed.id, fresh.id}
    assert jobs({"timers": True}) == set()
    assert jobs({"dueDates": [{"operator": "gt", "value": "2000-01-01T00:00:00.000+0000"}]}) == set()  # no due dates set
    assert jobs({"createTimes": [{"operator": "gt", "value": "2000-01-01T00:00:00.000+0000"}]}) == {failed.id, fresh.id}
    assert jobs({"createTimes": [{"operator": "lt", "value": "2000-01-01T00:00:00.000+0000"}]}) == set()
    assert jobs({"priorityHigherThanOrEquals": 1}) == set()
    assert jobs({"priorityLowerThanOrEquals": 0}) == {failed.id, fresh.id}
    assert jobs({"acquired": True}) == set()
    assert jobs({"withException": True, "exceptionMessage": failed.exception_message}) == {failed.id}
    assert jobs({"tenantIdIn": ["tenant-x"]}) == set()
    assert jobs({"tenantIdIn": ["tenant-x"], "includeJobsWithoutTenantId": True}) == {failed.id, fresh.id}
    get = ids(api.get(f"{R}/job", {"createTimes": "gt_2000-01-01T00:00:00.000+0000"}))
    assert get == {failed.id, fresh.id}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timers": "true", "messages": "true"}, "Parameter timers cannot be used together with parameter messages."),
        ({"dueDates": "eq_2000-01-01T00:00:00.000+0000"}, "Invalid due date comparator specified: eq"),
        ({"createTimes": "gt_yesterday"}, "Invalid create time format: Cannot convert value yesterday"),
        ({"dueDates": "gt"}, "condition query parameter has to have format OPERATOR_VALUE."),
        ({"priorityLowerThanOrEquals": "high"}, "Cannot set query parameter 'priorityLowerThanOrEquals' to value 'high'"),
    ],
)
def test_bad_job_filters_are_400s(api, world, params, message):
    assert_error(api.get(f"{R}/job", params), 400, "InvalidRequestException", message)


def test_a_number_beyond_a_double_is_a_400_not_a_500(api, world):
    body = '{"variables": [{"name": "amount", "operator": "gt", "value": 1' + "0" * 400 + "}]}"
    response = api.post(f"{R}/process-instance", body, content_type="application/json")
    assert_error(response, 400, "InvalidRequestException", "not a finite number")
