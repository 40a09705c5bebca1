"""POST /message and GET /event-subscription: Camunda's bodies, result DTOs, errors, permissions and tenants."""
import re

import pytest

from engine.models import EventSubscription, HistoricProcessInstance, ProcessInstance, UserOperationLogEntry
from engine.services.runtime import instance_start
from engine.variables import parse_typed_variables
from tests.conftest import client_for, make_user
from tests.engine.test_messages import CATCH_AND_BOUNDARY, MESSAGE_START_ONLY, deploy_doc, document
from tests.rest.test_engine_api import upload
from tests.support.factories import tokens

pytestmark = pytest.mark.django_db
R = "/engine-rest"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
MISMATCH = "org.camunda.bpm.engine.MismatchingMessageCorrelationException: "


def assert_error(response, status, type_name, fragment):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["type"] == type_name and fragment in body["message"], body


def waiting(definition, business_key=None, **variables):
    typed = parse_typed_variables({k: {"value": v, "type": None} for k, v in variables.items()})
    return instance_start(definition=definition, business_key=business_key, variables=typed)


def test_a_message_continues_the_waiting_instance_with_204(api):
    instance = waiting(deploy_doc(CATCH_AND_BOUNDARY), "order-1")
    response = api.post(f"{R}/message", {"messageName": "PaymentReceived", "businessKey": "order-1",
                                         "processVariables": {"amount": {"value": 100, "type": "Long"}}}, format="json")
    assert response.status_code == 204, response.content
    assert tokens(instance) == ["ship"]
    assert not UserOperationLogEntry.objects.filter(operation_type="CorrelateMessage").exists()  # as Camunda: only `all` logs


def test_results_are_camunda_dtos_with_and_without_variables(api):
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    instance = waiting(definition, "k", customer="ACME")
    token_id = instance.tokens.get().id
    response = api.post(f"{R}/message", {"messageName": "PaymentReceived", "resultEnabled": True}, format="json")
    assert response.status_code == 200
    assert response.json() == [{
        "resultType": "Execution", "processInstance": None,
        "execution": {"id": token_id, "processInstanceId": instance.id, "ended": False, "tenantId": None},
    }]
    ship = instance.tokens.get().id
    response = api.post(f"{R}/message", {
        "messageName": "OrderCancelled", "processInstanceId": instance.id, "resultEnabled": True,
        "variablesInResultEnabled": True, "processVariablesLocal": {"reason": {"value": "fraud", "type": "String"}},
    }, format="json")
    [result] = response.json()
    assert result["execution"] == {"id": ship, "processInstanceId": instance.id, "ended": True, "tenantId": None}
    assert result["variables"] == {
        "customer": {"type": "String", "value": "ACME", "valueInfo": {}},
        "reason": {"type": "String", "value": "fraud", "valueInfo": {}},
    }
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED"


def test_a_message_start_event_starts_an_instance(api):
    definition = deploy_doc(MESSAGE_START_ONLY, key="advice")
    response = api.post(f"{R}/message", {"messageName": "PaymentAdvice", "businessKey": "adv", "resultEnabled": True,
                                         "variablesInResultEnabled": True, "processVariables": {"x": {"value": 1, "type": "Integer"}}}, format="json")
    [result] = response.json()
    assert result["resultType"] == "ProcessDefinition" and result["execution"] is None
    started = result["processInstance"]
    assert (started["definitionId"], started["businessKey"], started["ended"], started["suspended"]) == (definition.id, "adv", False, False)
    assert result["variables"] == {"x": {"type": "Integer", "value": 1, "valueInfo": {}}}
    assert tokens(ProcessInstance.objects.get(id=started["id"])) == ["check"]
    # Started by key, a process without a none start event is Camunda's error (its 500 as a 400).
    assert_error(api.post(f"{R}/process-definition/key/advice/start", {}, format="json"), 400, "RestException",
                 f"Cannot instantiate process definition {definition.id}: Process 'null' has no default start activity")


def test_correlate_all_answers_every_result_and_writes_camunda_op_log(api, admin_user):
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    instances = [waiting(definition) for _ in range(2)]
    response = api.post(f"{R}/message", {"messageName": "PaymentReceived", "all": True, "resultEnabled": True}, format="json")
    assert sorted(r["execution"]["processInstanceId"] for r in response.json()) == sorted(i.id for i in instances)
    entries = UserOperationLogEntry.objects.filter(operation_type="CorrelateMessage")
    assert {e.property: e.new_value for e in entries} == {"messageName": "PaymentReceived", "nrOfInstances": "2"}
    assert {(e.user_id, e.entity_type, e.category) for e in entries} == {(admin_user.username, "ProcessInstance", "Operator")}
    empty = api.post(f"{R}/message", {"messageName": "PaymentReceived", "all": True, "resultEnabled": True}, format="json")
    assert (empty.status_code, empty.json()) == (200, [])


@pytest.mark.parametrize(
    ("body", "status", "type_name", "fragment"),
    [
        ({}, 400, "InvalidRequestException", "No message name supplied"),
        ({"messageName": 5}, 400, "InvalidRequestException", "messageName must be a string"),
        ({"messageName": "m", "tenantId": "t", "withoutTenantId": True}, 400, "InvalidRequestException",
         "Parameter 'tenantId' cannot be used together with parameter 'withoutTenantId'."),
        ({"messageName": "m", "variablesInResultEnabled": True}, 400, "InvalidRequestException",
         "Parameter 'variablesInResultEnabled' cannot be used without 'resultEnabled' set to true."),
        ({"messageName": "m", "correlationKeys": {"a": {"value": "1abc", "type": "Integer"}}}, 400, "InvalidRequestException",
         "Cannot deliver message: correlationKeys.a: cannot convert value '1abc'"),
        ({"messageName": "m", "correlationKeys": {"a": {"value": "{}", "type": "Json"}}}, 400, "InvalidRequestException", "cannot be used to correlate"),
        ({"messageName": "m", "all": "yes"}, 400, "InvalidRequestException", "all must be a boolean"),
        ({"messageName": "m", "procesVariables": {}}, 400, "InvalidRequestException", "Unknown property 'procesVariables'"),
        ({"messageName": "m", "processInstanceId": "x", "withoutTenantId": True}, 400, "BadUserRequestException", "ENGINE-13028"),
        ({"messageName": "nobody-waits"}, 400, "RestException",
         MISMATCH + "Cannot correlate message 'nobody-waits': No process definition or execution matches the parameters"),
    ],
)
def test_bad_requests_are_400_with_camunda_messages(api, body, status, type_name, fragment):
    assert_error(api.post(f"{R}/message", body, format="json"), status, type_name, fragment)


def test_two_matches_without_all_is_an_error_and_nothing_moves(api):
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    instances = [waiting(definition) for _ in range(2)]
    response = api.post(f"{R}/message", {"messageName": "PaymentReceived"}, format="json")
    assert_error(response, 400, "RestException", MISMATCH + "ENGINE-13031 Cannot correlate a message with name 'PaymentReceived' to a single execution. 2 executions")
    assert all(tokens(i) == ["waitPayment"] for i in instances)


def test_permissions_and_tenants(db, operator_api, viewer_api):
    mine = waiting(deploy_doc(CATCH_AND_BOUNDARY, tenant_id="tenant-a"), "x")
    theirs = waiting(deploy_doc(CATCH_AND_BOUNDARY, tenant_id="tenant-b"), "y")
    # The viewer sees no tenant's instance: no match at all.
    assert_error(viewer_api.post(f"{R}/message", {"messageName": "PaymentReceived", "businessKey": "x"}, format="json"),
                 400, "RestException", "No process definition or execution matches")
    assert_error(operator_api.post(f"{R}/message", {"messageName": "PaymentReceived", "businessKey": "y"}, format="json"),
                 400, "RestException", "No process definition or execution matches")
    assert tokens(theirs) == ["waitPayment"]
    # A visible match needs the permission to change instances (Camunda's checkUpdateProcessInstanceById).
    reader = make_user("rita-reader", tenants=("tenant-a",))
    assert_error(client_for(reader).post(f"{R}/message", {"messageName": "PaymentReceived", "businessKey": "x"}, format="json"),
                 403, "AuthorizationException", "engine.change_processinstance")
    assert tokens(mine) == ["waitPayment"]
    assert operator_api.post(f"{R}/message", {"messageName": "PaymentReceived", "businessKey": "x"}, format="json").status_code == 204
    assert tokens(mine) == ["ship"]
    listed = operator_api.get(f"{R}/event-subscription").json()
    assert {e["processInstanceId"] for e in listed} == {mine.id}  # tenant-b's subscription is not visible


def test_the_event_subscription_query(api):
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    first = waiting(definition)
    second = waiting(deploy_doc(CATCH_AND_BOUNDARY, key="t", tenant_id="tenant-a"))
    deploy_doc(MESSAGE_START_ONLY, key="advice")
    rows = api.get(f"{R}/event-subscription", {"sortBy": "created", "sortOrder": "asc"}).json()
    assert [r["processInstanceId"] for r in rows] == [first.id, second.id, None]
    row = rows[0]
    token = first.tokens.get()
    assert row == {
        "id": row["id"], "eventType": "message", "eventName": "PaymentReceived", "executionId": token.id,
        "processInstanceId": first.id, "activityId": "waitPayment", "createdDate": row["createdDate"], "tenantId": None,
    }
    assert DATE.match(row["createdDate"])
    start = rows[2]
    assert (start["activityId"], start["executionId"], start["eventName"]) == ("adviceIn", None, "PaymentAdvice")
    count = lambda **params: api.get(f"{R}/event-subscription/count", params).json()["count"]  # noqa: E731
    assert count() == 3 and count(eventName="PaymentReceived") == 2 and count(eventType="message") == 3
    assert count(processInstanceId=first.id) == 1 and count(executionId=token.id) == 1 and count(activityId="adviceIn") == 1
    assert count(eventSubscriptionId=row["id"]) == 1
    assert count(tenantIdIn="tenant-a") == 1 and count(tenantIdIn="tenant-a", includeEventSubscriptionsWithoutTenantId="true") == 3
    assert count(withoutTenantId="true") == 2
    paged = api.get(f"{R}/event-subscription", {"sortBy": "tenantId", "sortOrder": "desc", "firstResult": 0, "maxResults": 1}).json()
    assert [r["tenantId"] for r in paged] == ["tenant-a"]
    assert_error(api.get(f"{R}/event-subscription", {"eventNames": "x"}), 400, "InvalidRequestException", "eventNames")
    assert_error(api.get(f"{R}/event-subscription", {"sortBy": "name", "sortOrder": "asc"}), 400, "InvalidRequestException", "sortBy")
    assert_error(api.get(f"{R}/event-subscription/count", {"withoutTenantId": "maybe"}), 400, "InvalidRequestException", "withoutTenantId")


def test_a_deployment_with_a_bad_message_model_or_a_taken_start_message_is_a_400(api):
    bad = upload(api, document(CATCH_AND_BOUNDARY.replace('messageRef="paid"', 'messageRef="nope"')))
    assert_error(bad, 400, "InvalidRequestException", "Invalid 'messageRef': no message with id 'nope' found.")
    assert upload(api, document(MESSAGE_START_ONLY, key="one"), name="one.bpmn").status_code == 200
    taken = upload(api, document(MESSAGE_START_ONLY, key="two"), name="two.bpmn")
    assert_error(taken, 400, "ProcessEngineException", "ENGINE-01011 Cannot deploy process definition 'two.bpmn'")
    assert EventSubscription.objects.filter(process_instance__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_camunda_client_correlates_lists_subscriptions_and_creates_the_batch(live_server, admin_user):
    from generic_camunda_client import (
        ApiClient, Configuration, CorrelationMessageAsyncDto, CorrelationMessageDto, EventSubscriptionApi, MessageApi,
        ProcessInstanceApi, VariableValueDto,
    )
    from generic_camunda_client.exceptions import ApiException

    from tests.conftest import PASSWORD
    from tests.support.factories import run_jobs
    import base64

    token = base64.b64encode(f"{admin_user.username}:{PASSWORD}".encode()).decode()
    camunda = ApiClient(Configuration(host=f"{live_server.url}/engine-rest"), header_name="Authorization", header_value=f"Basic {token}")
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    first, second, third = (waiting(definition, f"c{n}") for n in range(3))
    [result] = MessageApi(camunda).deliver_message(correlation_message_dto=CorrelationMessageDto(
        message_name="PaymentReceived", business_key="c0", result_enabled=True, variables_in_result_enabled=True,
        process_variables={"amount": VariableValueDto(value=12, type="Integer")},
    ))
    assert (result.result_type, result.execution.process_instance_id, result.variables["amount"].value) == ("Execution", first.id, 12)
    with pytest.raises(ApiException) as refused:
        MessageApi(camunda).deliver_message(correlation_message_dto=CorrelationMessageDto(message_name="PaymentReceived"))
    assert refused.value.status == 400 and "ENGINE-13031" in refused.value.body
    subscriptions = EventSubscriptionApi(camunda)
    listed = subscriptions.get_event_subscriptions(event_name="OrderCancelled")
    assert [(s.process_instance_id, s.activity_id, s.event_type) for s in listed] == [(first.id, "cancelled", "message")]
    assert subscriptions.get_event_subscriptions_count(event_name="PaymentReceived").count == 2
    batch = ProcessInstanceApi(camunda).correlate_message_async_operation(correlation_message_async_dto=CorrelationMessageAsyncDto(
        message_name="PaymentReceived", process_instance_ids=[second.id, third.id],
        variables={"paidBy": VariableValueDto(value="client", type="String")},
    ))
    assert batch.type == "correlate-message" and batch.total_jobs >= 1
    run_jobs()
    assert tokens(second) == ["ship"] and tokens(third) == ["ship"]
