"""The wizard without a browser: drafts, parity with the REST API, execution, permissions."""
import json
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from batches.models import Batch
from cockpit.models import WizardSubmission
from cockpit.wizard import build_draft
from engine.models import HistoricProcessInstance
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


def test_selected_ids_become_the_id_list(admin_user):
    definition = deploy()
    a, b = start(definition), start(definition)
    draft = draft_for(admin_user, op="retries", select="ids", id=[a.id, b.id, a.id], retries="2")
    assert draft.valid and draft.count == 2
    assert draft.payload == {"processInstances": [a.id, b.id], "retries": 2}


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"op": "retries", "retries": "-3"}, "retries", "The number of job retries must be a non-negative Integer, but '-3' has been provided."),
        ({"op": "retries"}, "retries", "This field may not be null."),
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
    form = {"op": "cancel", "token": token, "payload": payload, "params": params}
    first = client.post("/cockpit/batch/operation/execute", form)
    second = client.post("/cockpit/batch/operation/execute", form)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert Batch.objects.count() == 1
    result = client.get(first["Location"]).content.decode()
    assert Batch.objects.get().id in result
    assert json.loads(payload)["deleteReason"] == "done"


def test_confirm_redirects_back_while_the_draft_is_invalid(admin_user, client):
    client.force_login(admin_user)
    response = client.get("/cockpit/batch/operation/confirm?op=retries&retries=-1")
    assert response.status_code == 302 and response["Location"].startswith("/cockpit/batch/operation?")


def test_an_error_at_execution_is_shown_with_a_way_back(admin_user, client):
    client.force_login(admin_user)
    form = {"op": "cancel", "token": "t1", "payload": json.dumps({"processInstanceIds": []}), "params": "op=cancel"}
    response = client.post("/cockpit/batch/operation/execute", form, follow=True)
    page = response.content.decode()
    assert "The batch could not be created" in page and "processInstanceIds is empty" in page
    assert 'href="/cockpit/batch/operation?op=cancel"' in page
    assert WizardSubmission.objects.get(token="t1").error == "processInstanceIds is empty"


def test_the_wizard_offers_only_permitted_operations(client):
    user = make_user("limited")
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="create_instance_deletion"))
    client.force_login(user)
    page = client.get("/cockpit/batch/operation").content.decode()
    assert 'value="cancel"' in page and 'value="delete-history"' not in page
    form = {"op": "delete-history", "token": "t2", "payload": json.dumps({"historicProcessInstanceIds": ["x"]})}
    client.post("/cockpit/batch/operation/execute", form)
    assert "may not" in WizardSubmission.objects.get(token="t2").error
    assert not Batch.objects.exists()


def test_pages_need_login(client):
    for url in ["/", "/cockpit/batch", "/cockpit/batch/operation", "/cockpit/batch/x"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_execute_requires_csrf(admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/cockpit/batch/operation/execute", {"op": "cancel", "token": "t", "payload": "{}"})
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
