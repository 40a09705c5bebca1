"""The wizard's typed variables editor and the set-variables operation, without a browser."""
import json
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from batches.models import Batch
from cockpit.fields import VARIABLE_NAME_MISSING, VARIABLE_TWICE, VARIABLE_VALUE_MISSING
from cockpit.wizard import build_draft
from engine.services.instance_actions import instance_delete
from engine.services.lifecycle import instances_set_suspended
from engine.services.variables import variables_of
from tests.conftest import client_for
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"
EDITOR_ERROR = "variables-editor"


def draft_for(user, **params):
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return build_draft(query, user)


def rows(*triples) -> dict:
    names, types, values = zip(*triples, strict=True)
    return {"variables_name": list(names), "variables_type": list(types), "variables_value": list(values)}


def test_the_rows_become_camundas_typed_variables_map(admin_user):
    definition = deploy(key="vars")
    start(definition)
    draft = draft_for(admin_user, op="set-variables", key="vars", **rows(
        ("note", "String", " keeps spaces "),
        ("amount", "Integer", "42"),
        ("rate", "Double", "2.5"),
        ("ok", "Boolean", "true"),
        ("due", "Date", "2026-11-22T14:00"),
        ("doc", "Json", '{"a": 1}'),
        ("gone", "Null", ""),
        ("", "String", ""),  # a blank row is left out
    ))
    assert draft.valid, draft.errors
    assert draft.payload == {
        "processInstanceQuery": {"processDefinitionKey": "vars"},
        "variables": {
            "note": {"value": " keeps spaces ", "type": "String"},
            "amount": {"value": 42, "type": "Integer"},
            "rate": {"value": 2.5, "type": "Double"},
            "ok": {"value": True, "type": "Boolean"},
            "due": {"value": "2026-11-22T14:00:00.000+0000", "type": "Date"},
            "doc": {"value": '{"a": 1}', "type": "Json"},
            "gone": {"value": None, "type": "Null"},
        },
    }
    # The same payload is what the REST endpoint takes.
    response = client_for(admin_user).post(f"{R}/process-instance/variables-async", draft.payload, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("triples", "message"),
    [
        ((), "Add at least one variable."),
        ((("", "String", "orphan"),), VARIABLE_NAME_MISSING.format(row=1)),
        ((("a", "String", "1"), ("a", "Integer", "2")), VARIABLE_TWICE.format(name="a")),
        ((("amount", "Integer", ""),), VARIABLE_VALUE_MISSING.format(name="amount", hint="a whole number")),
        ((("amount", "Integer", "12.5"),), "amount: Cannot convert value '12.5' of type 'Integer' to java type java.lang.Integer"),
        ((("doc", "Json", "{nope"),), "doc: Cannot convert value '{nope' of type 'Json': it is not valid JSON"),
        ((("when", "Date", "soon"),), "when: Cannot convert value 'soon' of type 'Date' to java type java.util.Date"),
    ],
)
def test_a_bad_row_is_reported_in_the_editor_and_blocks_next(admin_user, triples, message):
    start(deploy())
    params = rows(*triples) if triples else {}
    draft = draft_for(admin_user, op="set-variables", **params)
    assert not draft.valid
    assert draft.errors[EDITOR_ERROR] == message
    assert "variables" not in draft.errors  # the search's variable filter keeps its own error slot
    assert draft.editors["variables"]["error"] == message


def test_the_search_filter_and_the_editor_keep_their_errors_apart(admin_user):
    start(deploy(), amount=5)
    draft = draft_for(
        admin_user, op="set-variables", var_name="amount", var_op="gt", var_value="true", **rows(("x", "Integer", "z"))
    )
    assert draft.errors["variables"] == "Booleans and null cannot be used in 'greater than' condition"
    assert draft.errors[EDITOR_ERROR].startswith("x: Cannot convert value 'z'")


def test_rows_are_added_and_removed_without_javascript(admin_user):
    draft = draft_for(admin_user, op="set-variables", variables_rows="4", **rows(("a", "String", "1"), ("b", "String", "2")))
    assert draft.editors["variables"]["rows"] == [("a", "String", "1"), ("b", "String", "2"), ("", "String", ""), ("", "String", "")]
    draft = draft_for(admin_user, op="set-variables", variables_remove="0", **rows(("a", "String", "1"), ("b", "String", "2")))
    assert draft.editors["variables"]["rows"][0] == ("b", "String", "2")
    assert "a" not in draft.payload["variables"]


def test_the_page_renders_the_editor_and_its_script(admin_user, client):
    client.force_login(admin_user)
    start(deploy())
    page = client.get("/cockpit/batch/operation?" + urlencode({"op": "set-variables", **rows(("a", "Long", "x"))}, doseq=True))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="variables_name"' in html and 'value="Long" selected' in html
    assert 'id="error-variables-editor"' in html and "Cannot convert value &#x27;x&#x27;" in html
    assert "cockpit/variables_editor.js" in html
    # The live search (htmx) refreshes the editor's error out of band.
    live = client.get(
        "/cockpit/batch/operation?" + urlencode({"op": "set-variables", **rows(("a", "Long", "1"))}, doseq=True),
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET="live",
    ).content.decode()
    assert 'id="error-variables-editor" hx-swap-oob="true"></span>' in live


def test_confirm_shows_the_rest_call_and_execute_sets_the_variables(admin_user, client):
    client.force_login(admin_user)
    definition = deploy(key="confirm")
    running = [start(definition), start(definition)]
    instances_set_suspended(instance_ids=[running[1].id], suspended=True)
    params = urlencode({"op": "set-variables", "key": "confirm", **rows(("checked", "Boolean", "true"))}, doseq=True)
    confirm = client.get(f"/cockpit/batch/operation/confirm?{params}")
    page = confirm.content.decode()
    assert "You are about to set variables on <strong>2</strong> instances." in page
    assert "POST /engine-rest/process-instance/variables-async" in page
    assert json.loads(confirm.context["payload_json"]) == {
        "processInstanceQuery": {"processDefinitionKey": "confirm"},
        "variables": {"checked": {"value": True, "type": "Boolean"}},
    }
    response = client.post("/cockpit/batch/operation/execute", {"token": confirm.context["token"], "params": params})
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert (batch.type, batch.total_items) == ("set-variables", 2)
    run_jobs()
    assert all(variables_of(i.id)["checked"] == {"value": True, "type": "Boolean"} for i in running)


def test_confirm_counts_instances_that_ended_since_as_skipped(admin_user, client):
    client.force_login(admin_user)
    definition = deploy(key="ending")
    start(definition)
    goes = start(definition)
    params = urlencode({"op": "set-variables", "key": "ending", **rows(("a", "String", "b"))}, doseq=True)
    client.get(f"/cockpit/batch/operation/confirm?{params}")  # freezes both
    instance_delete(instance=goes, delete_reason=None, user_id="x")
    from cockpit.confirmation import confirm_context
    from cockpit.models import ConfirmedSelection

    context = confirm_context(ConfirmedSelection.objects.get(), admin_user)
    assert context["summary"].groups == [("1", "is not running and will be skipped")]
