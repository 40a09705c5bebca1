"""Typed process variables over REST: one instance's variables, the variable queries, history and op log."""
import base64

import pytest

from engine.models import HistoricVariableInstance, HistoricVariableUpdate, UserOperationLogEntry, VariableInstance
from engine.services.instance_actions import instance_delete, instance_set_suspended
from engine.services.variables import variables_of
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"


def assert_error(response, status: int, type_name: str, message: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["type"], body["message"]) == (type_name, message), body


def put(api, instance_id: str, name: str, value, kind):
    return api.put(f"{R}/process-instance/{instance_id}/variables/{name}", {"value": value, "type": kind}, format="json")


# --- one instance's variables ---------------------------------------------------------------------


def test_the_variables_of_an_instance_are_camundas_typed_values(api):
    instance = start(deploy(), amount=5, note="hi", ok=True)
    response = api.get(f"{R}/process-instance/{instance.id}/variables?deserializeValues=false")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "amount": {"type": "Integer", "value": 5, "valueInfo": {}},
        "note": {"type": "String", "value": "hi", "valueInfo": {}},
        "ok": {"type": "Boolean", "value": True, "valueInfo": {}},
    }
    one = api.get(f"{R}/process-instance/{instance.id}/variables/amount").json()
    assert one == {"type": "Integer", "value": 5, "valueInfo": {}}


@pytest.mark.parametrize(
    ("value", "kind", "stored"),
    [
        ("text", "String", {"value": "text", "type": "String"}),
        (7, "string", {"value": "7", "type": "String"}),  # Camunda lower-cases only the first letter
        ("42", "Integer", {"value": 42, "type": "Integer"}),  # a text read as Jackson reads it
        (-32768, "Short", {"value": -32768, "type": "Short"}),
        (2**40, "Long", {"value": 2**40, "type": "Long"}),
        (5, "Double", {"value": 5.0, "type": "Double"}),
        ("TRUE", "Boolean", {"value": True, "type": "Boolean"}),
        ("2026-03-01T12:00:00.000+0200", "Date", {"value": "2026-03-01T10:00:00.000+0000", "type": "Date"}),
        ('{"a": [1, 2]}', "Json", {"value": '{"a": [1, 2]}', "type": "Json"}),
        ("ignored", "Null", {"value": None, "type": "Null"}),
        (2**31, None, {"value": 2**31, "type": "Long"}),  # untyped: typed by the JSON value
    ],
)
def test_put_stores_each_type_as_camunda_converts_it(api, value, kind, stored):
    instance = start(deploy())
    response = put(api, instance.id, "v", value, kind)
    assert response.status_code == 204, response.content
    assert variables_of(instance.id)["v"] == stored


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("abc", "Integer", "Cannot convert value 'abc' of type 'Integer' to java type java.lang.Integer"),
        (5.5, "Integer", "Cannot convert value '5.5' of type 'Integer' to java type java.lang.Integer"),
        (40000, "Short", "Cannot convert value '40000' of type 'Short' to java type java.lang.Short"),
        (1, "Boolean", "Cannot convert value '1' of type 'Boolean' to java type java.lang.Boolean"),
        ("yesterday", "Date", "Cannot convert value 'yesterday' of type 'Date' to java type java.util.Date"),
        ({"a": 1}, "Json", "Must provide 'null' or String value for value of SerializableValue type 'Json'."),
        ("{nope", "Json", "Cannot convert value '{nope' of type 'Json': it is not valid JSON"),
        ("x", "Banana", "Unsupported value type 'Banana'"),
        ("x", "STRING", "Unsupported value type 'STRING'"),
        (
            "rO0ABXQ=", "Object",
            "Unsupported value type 'Object': this engine stores no serialized Java objects; "
            "send structured data as type 'Json' (a JSON string)",
        ),
        ("Zm9v", "File", "Unsupported value type 'File': this engine stores no file variables"),
        ("Zm9v", "Bytes", "Unsupported value type 'Bytes': this engine stores no binary variables"),
    ],
)
def test_a_value_that_does_not_convert_is_a_400_with_camundas_message(api, value, kind, message):
    instance = start(deploy())
    response = put(api, instance.id, "amount", value, kind)
    assert_error(response, 400, "InvalidRequestException", f"Cannot put process instance variable amount: {message}")
    assert "amount" not in variables_of(instance.id)


def test_an_instance_that_does_not_run_or_is_not_visible_is_camundas_missing_execution(api, operator_api):
    foreign = start(deploy(key="b", tenant_id="tenant-b"))
    gone = start(deploy())
    instance_delete(instance=gone, delete_reason=None, user_id="x")
    for instance_id, client in ((gone.id, api), (foreign.id, operator_api)):
        missing = f"execution {instance_id} doesn't exist: execution is null"
        assert_error(client.get(f"{R}/process-instance/{instance_id}/variables"), 400, "NullValueException", missing)
        assert_error(
            client.get(f"{R}/process-instance/{instance_id}/variables/a"), 400, "RestException",
            f"Cannot get process instance variable a: {missing}",
        )
        assert_error(
            put(client, instance_id, "a", 1, "Integer"), 400, "RestException",
            f"Cannot put process instance variable a: {missing}",
        )
        assert_error(
            client.delete(f"{R}/process-instance/{instance_id}/variables/a"), 400, "RestException",
            f"Cannot delete process instance variable a: {missing}",
        )
        assert_error(
            client.post(f"{R}/process-instance/{instance_id}/variables", {"deletions": ["a"]}, format="json"), 400,
            "RestException", f"Cannot modify variables for process instance {instance_id}: {missing}",
        )
    assert not VariableInstance.objects.filter(process_instance_id=foreign.id).exists()


def test_an_unknown_variable_is_a_404(api):
    instance = start(deploy())
    response = api.get(f"{R}/process-instance/{instance.id}/variables/nothing")
    assert_error(response, 404, "InvalidRequestException", "process instance variable with name nothing does not exist")


def test_writes_log_camundas_variable_operations(api, admin_user):
    instance = start(deploy(), keep=1, drop=2)
    assert put(api, instance.id, "amount", 3, "Integer").status_code == 204
    assert api.delete(f"{R}/process-instance/{instance.id}/variables/drop").status_code == 204
    response = api.post(
        f"{R}/process-instance/{instance.id}/variables",
        {"modifications": {"keep": {"value": "new", "type": "String"}, "extra": {"value": 1.5, "type": "Double"}},
         "deletions": ["amount", "unknown"]},
        format="json",
    )
    assert response.status_code == 204, response.content
    assert variables_of(instance.id) == {"keep": {"value": "new", "type": "String"}, "extra": {"value": 1.5, "type": "Double"}}
    entries = UserOperationLogEntry.objects.filter(process_instance_id=instance.id, entity_type="Variable").order_by("timestamp", "id")
    assert [e.operation_type for e in entries] == ["SetVariable", "RemoveVariable", "ModifyVariable"]
    for entry in entries:
        assert (entry.category, entry.property, entry.user_id) == ("Operator", None, admin_user.username)
        assert (entry.execution_id, entry.process_definition_id) == (instance.id, instance.process_definition_id)
    # Readable as Camunda's op log.
    logged = api.get(f"{R}/history/user-operation?entityType=Variable&processInstanceId={instance.id}").json()
    assert {e["operationType"] for e in logged} == {"SetVariable", "RemoveVariable", "ModifyVariable"}


def test_a_patch_with_bad_parts_changes_nothing(api):
    instance = start(deploy(), keep=1)
    bad = [
        ({"modifications": {"keep": {"value": "x", "type": "Long"}}},
         "Cannot modify variables for process instance: Cannot convert value 'x' of type 'Long' to java type java.lang.Long"),
        ({"modifications": ["keep"]}, "Cannot modify variables for process instance: modifications must be a JSON object of variables"),
        ({"deletions": "keep"}, "deletions must be a list of variable names"),
    ]
    for body, message in bad:
        assert_error(api.post(f"{R}/process-instance/{instance.id}/variables", body, format="json"), 400, "InvalidRequestException", message)
    assert variables_of(instance.id) == {"keep": {"value": 1, "type": "Integer"}}
    assert not UserOperationLogEntry.objects.filter(entity_type="Variable").exists()


def test_a_suspended_instance_takes_variable_writes_as_in_camunda(api):
    instance = start(deploy())
    instance_set_suspended(instance=instance, suspended=True, user_id="x")
    assert put(api, instance.id, "late", "yes", "String").status_code == 204
    assert variables_of(instance.id)["late"]["value"] == "yes"


def test_writes_need_the_permission(viewer_api):
    instance = start(deploy(), a=1)
    assert put(viewer_api, instance.id, "a", 2, "Integer").status_code == 403
    assert viewer_api.delete(f"{R}/process-instance/{instance.id}/variables/a").status_code == 403
    assert variables_of(instance.id)["a"]["value"] == 1


def test_history_keeps_every_write_and_a_removed_variable(api):
    instance = start(deploy(), amount=1)
    put(api, instance.id, "amount", 2, "Integer")
    updates = HistoricVariableUpdate.objects.filter(process_instance_id=instance.id, name="amount").order_by("revision")
    assert [(u.revision, u.long_value, u.initial) for u in updates] == [(0, 1, True), (1, 2, False)]
    api.delete(f"{R}/process-instance/{instance.id}/variables/amount")
    history = HistoricVariableInstance.objects.get(process_instance_id=instance.id, name="amount")
    assert history.state == "DELETED"
    base = f"{R}/history/variable-instance?processInstanceId={instance.id}"
    assert api.get(base).json() == []
    assert api.get(f"{R}/history/variable-instance/{history.id}").status_code == 404
    deleted = api.get(base + "&includeDeleted=true").json()
    assert [(v["name"], v["state"], v["value"]) for v in deleted] == [("amount", "DELETED", 2)]
    # Set again: the same history row is CREATED again, the next revision recorded.
    put(api, instance.id, "amount", 3, "Integer")
    again = api.get(base).json()
    assert [(v["id"], v["state"], v["value"]) for v in again] == [(history.id, "CREATED", 3)]
    assert updates.last().revision == 2


# --- the variable queries --------------------------------------------------------------------------


def test_the_variable_instance_query_filters_sorts_and_counts(api):
    definition = deploy()
    a = start(definition, amount=5, Note="x")
    b = start(definition, amount=50, note="y")
    base = f"{R}/variable-instance"
    names = lambda response: sorted((v["processInstanceId"] == a.id, v["name"]) for v in response.json())  # noqa: E731
    assert names(api.get(f"{base}?variableName=amount")) == [(False, "amount"), (True, "amount")]
    assert names(api.get(f"{base}?variableNameLike=no%25")) == [(False, "note")]
    assert names(api.get(f"{base}?processInstanceIdIn={a.id}")) == [(True, "Note"), (True, "amount")]
    body = {"variableValues": [{"name": "amount", "operator": "gt", "value": 10}]}
    assert names(api.post(base, body, format="json")) == [(False, "amount")]
    body = {"variableValues": [{"name": "NOTE", "operator": "eq", "value": "X"}], "variableNamesIgnoreCase": True,
            "variableValuesIgnoreCase": True}
    assert names(api.post(base, body, format="json")) == [(True, "Note")]
    # In a query string values are strings (Camunda): an Integer does not equal the text "5".
    assert api.get(f"{base}?variableValues=amount_eq_5").json() == []
    assert api.get(f"{base}/count?variableName=amount").json() == {"count": 2}
    assert api.post(f"{base}/count", {"processInstanceIdIn": [b.id]}, format="json").json() == {"count": 2}
    ordered = api.get(f"{base}?sortBy=variableName&sortOrder=desc&maxResults=2&deserializeValues=false").json()
    assert [v["name"] for v in ordered] == ["note", "amount"]
    row = api.get(f"{base}?variableName=Note").json()[0]
    assert row == {
        "id": row["id"], "name": "Note", "type": "String", "value": "x", "valueInfo": {},
        "processDefinitionId": definition.id, "processInstanceId": a.id, "executionId": a.id,
        "caseInstanceId": None, "caseExecutionId": None, "taskId": None, "batchId": None,
        "activityInstanceId": a.id, "errorMessage": None, "tenantId": None,
    }
    assert api.get(f"{base}/{row['id']}").json() == row


def test_unsupported_and_unknown_parameters_are_refused_by_name(api):
    response = api.get(f"{R}/variable-instance?batchIdIn=b1")
    assert_error(response, 400, "InvalidRequestException", (
        "Query parameter 'batchIdIn' is not supported by this engine: it is refused rather than ignored, "
        "so that the query never matches more than asked"
    ))
    response = api.post(f"{R}/history/variable-instance", {"variableValue": 5}, format="json")
    assert_error(response, 400, "InvalidRequestException", (
        "Only a single variable value parameter specified: variable name and value are required to be able to "
        "query after a specific variable value."
    ))
    assert api.get(f"{R}/variable-instance?colour=red").status_code == 400
    assert api.get(f"{R}/variable-instance?sortBy=value&sortOrder=asc").status_code == 400


def test_unknown_ids_are_camundas_404s(api):
    assert_error(api.get(f"{R}/variable-instance/nope"), 404, "InvalidRequestException", "Variable instance with Id 'nope' does not exist.")
    assert_error(
        api.get(f"{R}/history/variable-instance/nope"), 404, "InvalidRequestException",
        "Historic variable instance with Id 'nope' does not exist.",
    )


def test_variables_of_other_tenants_stay_hidden(operator_api):
    mine = start(deploy(key="a", tenant_id="tenant-a"), secret=1)
    theirs = start(deploy(key="b", tenant_id="tenant-b"), secret=2)
    found = operator_api.get(f"{R}/variable-instance?variableName=secret").json()
    assert [(v["processInstanceId"], v["tenantId"]) for v in found] == [(mine.id, "tenant-a")]
    hidden = VariableInstance.objects.get(process_instance_id=theirs.id)
    assert operator_api.get(f"{R}/variable-instance/{hidden.id}").status_code == 404
    assert operator_api.get(f"{R}/history/variable-instance/count?variableName=secret").json() == {"count": 1}


def test_historic_variables_outlive_their_instance(api):
    definition = deploy()
    instance = start(definition, amount=7, when="x")
    put(api, instance.id, "when", "2026-01-02T03:04:05.000+0000", "Date")
    instance_delete(instance=instance, delete_reason="done", user_id="x")
    base = f"{R}/history/variable-instance"
    rows = api.get(f"{base}?processInstanceId={instance.id}&sortBy=variableName&sortOrder=asc").json()
    assert [(v["name"], v["type"], v["value"], v["state"]) for v in rows] == [
        ("amount", "Integer", 7, "CREATED"), ("when", "Date", "2026-01-02T03:04:05.000+0000", "CREATED"),
    ]
    assert rows[0]["processDefinitionKey"] == definition.key and rows[0]["activityInstanceId"] == instance.id
    assert api.get(f"{base}?variableTypeIn=date,STRING").json()[0]["name"] == "when"
    body = {"variableName": "amount", "variableValue": 7}
    assert [v["name"] for v in api.post(base, body, format="json").json()] == ["amount"]
    assert api.get(f"{base}?variableName=amount&variableValue=7").json() == []  # text "7" is no Integer
    assert api.get(f"{base}?variableName=AMOUNT&variableNamesIgnoreCase=true").json()[0]["value"] == 7
    assert api.post(f"{base}/count", {"processInstanceIdIn": [instance.id]}, format="json").json() == {"count": 2}
    assert api.get(f"{base}/{rows[0]['id']}").json() == rows[0]


# --- a real Camunda 7 client ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_camunda_client_drives_the_variable_endpoints_unchanged(live_server, admin_user):
    from generic_camunda_client import (
        ApiClient,
        Configuration,
        HistoricVariableInstanceApi,
        PatchVariablesDto,
        ProcessInstanceApi,
        SetVariablesAsyncDto,
        VariableInstanceApi,
        VariableValueDto,
    )
    from generic_camunda_client.exceptions import ApiException

    from tests.conftest import PASSWORD
    from tests.support.factories import run_jobs

    token = base64.b64encode(f"{admin_user.username}:{PASSWORD}".encode()).decode()
    camunda = ApiClient(Configuration(host=f"{live_server.url}/engine-rest"), header_name="Authorization", header_value=f"Basic {token}")
    instances = [start(deploy(key="client"), amount=1) for _ in range(2)]
    api = ProcessInstanceApi(camunda)
    api.set_process_instance_variable(instances[0].id, "note", variable_value_dto=VariableValueDto(value="hello", type="String"))
    api.modify_process_instance_variables(instances[0].id, patch_variables_dto=PatchVariablesDto(
        modifications={"amount": VariableValueDto(value=2, type="Long")}, deletions=["nothing"],
    ))
    variables = api.get_process_instance_variables(instances[0].id, deserialize_values=False)
    assert {name: (v.type, v.value) for name, v in variables.items()} == {"amount": ("Long", 2), "note": ("String", "hello")}
    assert api.get_process_instance_variable(instances[0].id, "note").value == "hello"
    api.delete_process_instance_variable(instances[0].id, "note")
    with pytest.raises(ApiException) as missing:
        api.get_process_instance_variable(instances[0].id, "note")
    assert missing.value.status == 404
    batch = api.set_variables_async_operation(set_variables_async_dto=SetVariablesAsyncDto(
        process_instance_ids=[i.id for i in instances], variables={"checked": VariableValueDto(value=True, type="Boolean")},
    ))
    assert batch.type == "set-variables" and batch.total_jobs == 1
    run_jobs()
    found = VariableInstanceApi(camunda).get_variable_instances(variable_name="checked")
    assert sorted(v.process_instance_id for v in found) == sorted(i.id for i in instances) and found[0].value is True
    assert VariableInstanceApi(camunda).get_variable_instances_count(variable_name="checked").count == 2
    history = HistoricVariableInstanceApi(camunda).get_historic_variable_instances(process_instance_id=instances[0].id)
    assert sorted((h.name, h.state) for h in history) == [("amount", "CREATED"), ("checked", "CREATED")]
