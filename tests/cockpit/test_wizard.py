"""The wizard without a browser: drafts, parity with the REST API, execution, permissions."""
import json
import re
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from batches.models import Batch
from cockpit.confirmation import CONFIRMATION_GONE, NOTHING_LEFT
from cockpit.models import ConfirmedSelection, WizardSubmission
from cockpit.wizard import MISSING_VALUE, OPERATIONS, build_draft
from engine.models import HistoricProcessInstance, ProcessInstance
from engine.services.runtime import task_complete
from tests.conftest import client_for, make_user
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def draft_for(user, **params):
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return build_draft(query, user)


def test_a_query_draft_carries_the_filters_in_camunda_names(admin_user):
    definition = deploy(key="invoice")
    start(definition, business_key="A-1")
    start(definition, business_key="B-2")
    draft = draft_for(admin_user, op="cancel", key="invoice", businessKey="A-", deleteReason="old", startedAfter="2020-01-01T00:00")
    assert draft.valid and draft.count == 1
    assert draft.payload["processInstanceQuery"] == {
        "processDefinitionKey": "invoice",
        "businessKeyLike": "%A-%",
        "startedAfter": "2020-01-01T00:00:00.000+0000",
    }
    assert draft.payload["deleteReason"] == "old"


def with_job(definition, **variables):
    """An instance past its user task, waiting on its service task's job."""
    instance = start(definition, **variables)
    task_complete(task_id=instance.tokens.get().id)
    return instance


def test_selected_ids_become_the_id_list(admin_user):
    definition = deploy()
    a, b = with_job(definition), with_job(definition)
    draft = draft_for(admin_user, op="retries", select="ids", id=[a.id, b.id, a.id], retries="2")
    assert draft.valid and draft.count == 2 and draft.jobs == 2
    assert draft.payload == {"processInstances": [a.id, b.id], "retries": 2}


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"op": "retries", "retries": "-3"}, "retries", "The number of job retries must be a non-negative Integer, but '-3' has been provided."),
        ({"op": "retries"}, "retries", "Enter the number of retries."),
        ({"op": "correlate"}, "messageName", "Enter the name of the message."),
        ({"op": "removal-time", "calculatedRemovalTime": "on", "clearedRemovalTime": "on"}, "calculatedRemovalTime", "Choose only one"),
        ({"op": "suspend"}, "suspended", "Choose whether to suspend or to activate."),
        ({"op": "modify"}, "version", "Choose the process definition version to modify."),
        ({"op": "cancel", "startedAfter": "yesterday"}, "startedAfter", "Enter a date and time"),
        ({"op": "cancel", "select": "ids"}, "selection", "Tick at least one instance"),
        ({"op": "cancel", "key": "nothing-like-this"}, "selection", "No instances match the search"),
    ],
)
def test_invalid_input_is_reported_next_to_its_field(admin_user, params, field, message):
    start(deploy())
    draft = draft_for(admin_user, **params)
    assert not draft.valid
    assert message in draft.errors[field]


def test_no_error_shows_before_the_operation_s_fields_are_sent(admin_user, client):
    client.force_login(admin_user)
    start(deploy())
    chosen = client.get("/cockpit/batch/operation?op=retries").content.decode()
    assert '<span class="field-error" id="error-retries"></span>' in chosen
    assert 'id="next" type="submit" formaction="/cockpit/batch/operation/confirm" disabled' in chosen
    sent = client.get("/cockpit/batch/operation?op=retries&retries=&dueDate=").content.decode()
    assert '<span class="field-error" id="error-retries">Enter the number of retries.</span>' in sent


@pytest.mark.parametrize("key", sorted(OPERATIONS))
def test_a_missing_value_is_asked_for_in_the_operator_s_words(admin_user, key):
    definition = deploy()
    start(definition)
    params = {"op": key, "version": definition.id, "ins_type": "", "target": "", "variables_name": ""}
    params.update({f.name: "" for f in OPERATIONS[key].fields})
    draft = draft_for(admin_user, **params)
    for message in draft.shown_errors.values():
        assert message not in MISSING_VALUE
        assert not re.search(r"is (empty|null)|cannot be null|may not be", message), message


@pytest.mark.parametrize(("key", "fields"), [("cancel", {}), ("correlate", {"messageName": "go"}), ("set-variables", {"variables_name": "a", "variables_type": "String", "variables_value": "x"})])
def test_a_query_selection_that_empties_before_execute_says_so_in_words(admin_user, client, key, fields):
    client.force_login(admin_user)
    definition = deploy()
    for _ in range(3):
        start(definition)
    params = urlencode({"op": key, "key": definition.key, **fields})
    confirm = client.get(f"/cockpit/batch/operation/confirm?{params}")
    assert confirm.status_code == 200
    ProcessInstance.objects.all().delete()
    page = client.post(
        "/cockpit/batch/operation/execute", {"token": confirm.context["token"], "params": params}, follow=True
    ).content.decode()
    assert NOTHING_LEFT in page
    assert "is empty" not in page
    assert not Batch.objects.exists()


def test_wizard_and_rest_report_the_same_error_for_the_same_payload(admin_user):
    start(deploy())
    draft = draft_for(admin_user, op="retries", retries="-1")
    response = client_for(admin_user).post(f"{R}/process-instance/job-retries", draft.payload, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == f"retries: {draft.errors['retries']}"


def test_modification_instructions_are_checked_against_the_chosen_version(admin_user):
    definition = deploy()
    start(definition)
    draft = draft_for(admin_user, op="modify", version=definition.id, ins_type=["startAfterActivity"], ins_id=["end"])
    assert "must have exactly one outgoing sequence flow" in draft.errors["instructions"]
    good = draft_for(admin_user, op="modify", version=definition.id, ins_type=["cancel", ""], ins_id=["task", ""])
    assert good.valid and good.payload["instructions"] == [{"type": "cancel", "activityId": "task"}]


def test_the_steps_render_and_execute_creates_exactly_one_batch(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    start(definition)
    params = urlencode({"op": "cancel", "key": definition.key, "deleteReason": "done"})
    assert client.get(f"/cockpit/batch/operation?{params}").status_code == 200
    confirm = client.get(f"/cockpit/batch/operation/confirm?{params}")
    page = confirm.content.decode()
    assert "You are about to cancel <strong>1</strong> instance." in page
    assert "POST /engine-rest/process-instance/delete" in page
    token = confirm.context["token"]
    payload = confirm.context["payload_json"]
    form = {"token": token, "params": params}
    first = client.post("/cockpit/batch/operation/execute", form)
    second = client.post("/cockpit/batch/operation/execute", form)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert Batch.objects.count() == 1
    result = client.get(first["Location"]).content.decode()
    assert Batch.objects.get().id in result
    assert json.loads(payload)["deleteReason"] == "done"
    assert Batch.objects.get().configuration["deleteReason"] == "done"


def test_confirm_redirects_back_while_the_draft_is_invalid(admin_user, client):
    client.force_login(admin_user)
    response = client.get("/cockpit/batch/operation/confirm?op=retries&retries=-1")
    assert response.status_code == 302 and response["Location"].startswith("/cockpit/batch/operation?")


def test_an_error_at_execution_is_shown_with_a_way_back(client):
    from django.contrib.auth.models import Permission

    user = make_user("revoked")
    user.user_permissions.add(Permission.objects.get(codename="create_instance_deletion"))
    client.force_login(user)
    start(deploy())
    confirm = client.get("/cockpit/batch/operation/confirm?op=cancel")
    user.user_permissions.clear()  # revoked between the confirmation and Execute
    form = {"token": confirm.context["token"], "params": "op=cancel"}
    response = client.post("/cockpit/batch/operation/execute", form, follow=True)
    page = response.content.decode()
    assert "The batch could not be created" in page and "You may not cancel instances" in page
    assert 'href="/cockpit/batch/operation?op=cancel"' in page
    assert "may not" in WizardSubmission.objects.get(token=confirm.context["token"]).error
    assert not Batch.objects.exists()


def test_an_unknown_token_executes_nothing_and_says_why(admin_user, client):
    client.force_login(admin_user)
    start(deploy())
    form = {"token": "t1", "params": "op=cancel"}
    response = client.post("/cockpit/batch/operation/execute", form)
    page = response.content.decode()
    assert response.status_code == 409 and CONFIRMATION_GONE in page
    assert 'href="/cockpit/batch/operation?op=cancel"' in page
    assert not Batch.objects.exists() and not WizardSubmission.objects.exists()


def test_the_wizard_offers_only_permitted_operations(client):
    user = make_user("limited")
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="create_instance_deletion"))
    client.force_login(user)
    page = client.get("/cockpit/batch/operation").content.decode()
    assert 'value="cancel"' in page and 'value="delete-history"' not in page
    response = client.get("/cockpit/batch/operation/confirm?op=delete-history")
    assert response.status_code == 302 and not ConfirmedSelection.objects.exists()
    client.post("/cockpit/batch/operation/execute", {"token": "t2"})
    assert not Batch.objects.exists()


def test_pages_need_login(client):
    for url in ["/", "/cockpit/batch", "/cockpit/batch/operation", "/cockpit/batch/x"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_execute_requires_csrf(admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/cockpit/batch/operation/execute", {"token": "t"})
    assert response.status_code == 403


def test_business_keys_are_escaped(admin_user, client):
    client.force_login(admin_user)
    start(deploy(), business_key="<script>alert(1)</script>")
    page = client.get("/cockpit/batch/operation?op=cancel").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_finished_instances_are_listed_for_history_deletion(admin_user):
    from engine.services.modification import instance_modify

    definition = deploy()
    start(definition)  # running: not offered for history deletion
    done = start(definition)
    instance_modify(instance_id=done.id, instructions=[{"type": "cancel", "activityId": "task"}])
    draft = draft_for(admin_user, op="delete-history")
    assert draft.count == 1 and draft.payload["historicProcessInstanceQuery"] == {"finished": True}
    assert HistoricProcessInstance.objects.count() == 2


def test_started_after_and_before_filter_running_instances(admin_user):
    from datetime import timedelta

    from django.utils import timezone

    from engine.models import ProcessInstance

    definition = deploy(key="dated")
    old, new = start(definition), start(definition)
    ProcessInstance.objects.filter(id=old.id).update(start_time=timezone.now() - timedelta(days=10))
    cutoff = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    after = draft_for(admin_user, op="cancel", key="dated", startedAfter=cutoff)
    before = draft_for(admin_user, op="suspend", key="dated", suspended="true", startedBefore=cutoff)
    assert after.count == 1 and [i.id for i in matches_of(after, admin_user)] == [new.id]
    assert before.count == 1 and [i.id for i in matches_of(before, admin_user)] == [old.id]
    response = client_for(admin_user).post(f"{R}/process-instance/count", {"startedAfter": after.query["startedAfter"]}, format="json")
    assert response.json() == {"count": 1}


def matches_of(draft, user):
    from cockpit.wizard import matches

    return list(matches(draft, user))


@pytest.mark.parametrize(
    ("typed", "value"),
    [("1000", 1000), ("-2.5", -2.5), ("1e3", 1000.0), ("true", True), ("false", False), ('"1000"', "1000"),
     ('"true"', "true"), ("gold", "gold"), ("1_000", "1_000"), (" 42 ", 42), ("", ""), ("1e999", "1e999"),
     ("9" * 400, "9" * 400)],
)
def test_a_typed_variable_value_is_a_number_a_boolean_or_text(typed, value):
    from cockpit.search import typed_value

    assert typed_value(typed) == value and type(typed_value(typed)) is type(value)


def test_a_variable_filter_narrows_the_count_and_is_sent_in_the_query(admin_user):
    definition = deploy(key="amounts")
    start(definition, amount=500)
    big = start(definition, amount=5000)
    draft = draft_for(
        admin_user, op="cancel", key="amounts", var_name=["amount", ""], var_op=["gt", "eq"], var_value=["1000", ""]
    )
    assert draft.valid and draft.count == 1 and [i.id for i in matches_of(draft, admin_user)] == [big.id]
    assert draft.payload["processInstanceQuery"]["variables"] == [{"name": "amount", "operator": "gt", "value": 1000}]
    response = client_for(admin_user).post(f"{R}/process-instance/count", draft.query, format="json")
    assert response.json() == {"count": 1}


def test_quotes_compare_a_number_as_text(admin_user):
    definition = deploy(key="codes")
    text = start(definition, code="1000")
    start(definition, code=1000)
    draft = draft_for(admin_user, op="cancel", key="codes", var_name="code", var_op="eq", var_value='"1000"')
    assert draft.count == 1 and [i.id for i in matches_of(draft, admin_user)] == [text.id]


@pytest.mark.parametrize(
    ("operator", "value", "message"),
    [
        ("zz", "1", "Invalid variable comparator specified: zz"),
        ("like", "10", "Only string values can be used with 'like' condition"),
        ("gt", "true", "Booleans and null cannot be used in 'greater than' condition"),
    ],
)
def test_a_bad_variable_filter_shows_the_rest_apis_message_next_to_it(admin_user, operator, value, message):
    start(deploy())
    draft = draft_for(admin_user, op="cancel", var_name="amount", var_op=operator, var_value=value)
    assert not draft.valid and draft.errors["variables"] == message
    response = client_for(admin_user).post(f"{R}/process-instance/delete", draft.payload, format="json")
    assert response.status_code == 400 and response.json()["message"] == f"processInstanceQuery: {message}"
    assert list(matches_of(draft, admin_user)) == []


def test_a_variable_value_without_a_name_is_refused(admin_user):
    from cockpit.search import VARIABLE_NAME_MISSING

    start(deploy())
    draft = draft_for(admin_user, op="cancel", var_name="", var_op="eq", var_value="5")
    assert draft.errors["variables"] == VARIABLE_NAME_MISSING


def test_the_incident_type_filter_finds_instances_with_such_an_incident(admin_user, client):
    from tests.support.factories import run_jobs

    definition = deploy(key="incidents")
    failing = with_job(definition, fail=True)
    start(definition)
    run_jobs()
    draft = draft_for(admin_user, op="cancel", key="incidents", incidentType="failedJob")
    assert draft.count == 1 and [i.id for i in matches_of(draft, admin_user)] == [failing.id]
    assert draft.payload["processInstanceQuery"]["incidentType"] == "failedJob"
    client.force_login(admin_user)
    page = client.get("/cockpit/batch/operation?op=cancel&incidentType=failedJob").content.decode()
    assert '<option value="failedJob" selected>failedJob</option>' in page


def test_finished_instances_are_searched_by_their_variables_too(admin_user):
    from engine.services.modification import instance_modify

    definition = deploy(key="finished")
    for amount in (10, 20):
        done = start(definition, amount=amount)
        instance_modify(instance_id=done.id, instructions=[{"type": "cancel", "activityId": "task"}])
    draft = draft_for(admin_user, op="delete-history", var_name="amount", var_op="lteq", var_value="10")
    assert draft.count == 1
    variables = draft.payload["historicProcessInstanceQuery"]["variables"]
    assert variables == [{"name": "amount", "operator": "lteq", "value": 10}]


def test_set_retries_counts_the_jobs_and_refuses_instances_without_any(admin_user, client):
    from cockpit.wizard import NO_JOBS

    definition = deploy(key="jobs")
    with_job(definition)
    start(definition)
    draft = draft_for(admin_user, op="retries", key="jobs", retries="1")
    assert draft.valid and (draft.count, draft.jobs) == (2, 1)
    idle = deploy(key="idle")
    start(idle)
    empty = draft_for(admin_user, op="retries", key="idle", retries="1")
    assert not empty.valid and empty.errors["selection"] == NO_JOBS
    client.force_login(admin_user)
    page = client.get("/cockpit/batch/operation?op=retries&key=idle&retries=1").content.decode()
    next_button = page.split('id="next"')[1].split(">")[0]
    assert NO_JOBS in page and "disabled" in next_button
    assert client.get("/cockpit/batch/operation/confirm?op=retries&key=idle&retries=1").status_code == 302


@pytest.mark.parametrize("value", ["1e999", "9" * 400, "nan", "-", '"'])
def test_odd_variable_values_never_break_the_pages(admin_user, client, value):
    client.force_login(admin_user)
    start(deploy(key="odd"), amount=5)
    params = urlencode({"op": "cancel", "key": "odd", "var_name": "amount", "var_op": "gt", "var_value": value})
    assert client.get(f"/cockpit/batch/operation?{params}").status_code == 200
    assert client.get(f"/cockpit/batch/operation/confirm?{params}").status_code in (200, 302)
