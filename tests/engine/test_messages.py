"""Message events: parsing, subscriptions that follow tokens, correlation, message start events, concurrency."""
from __future__ import annotations

import itertools

import pytest
from defusedxml import ElementTree as SafeET
from django.db import connection

from engine.bpmn import BpmnParseError, parse_bpmn
from engine.bpmn_layout import BPMNDI_NS, DC_NS, with_diagram
from engine.errors import BadUserRequest, BadUserRequestException, EngineRefusal
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    Incident,
    Job,
    ProcessInstance,
    UserOperationLogEntry,
)
from engine.services.deployment import deployment_create
from engine.services.instantiation import BulkStart
from engine.services.lifecycle import instances_set_suspended
from engine.services.messages import (
    NO_SUBSCRIPTION,
    Correlation,
    MismatchingMessageCorrelation,
    instances_correlate,
    message_correlate,
)
from engine.services.migration import instances_migrate, plan_generate
from engine.services.modification import instance_modify
from engine.services.runtime import NoNoneStartEvent, instance_start, task_complete
from engine.services.variables import variables_of
from engine.variables import parse_typed_variables
from tests.support.factories import HEADER, run_jobs, tokens

LIMIT = 1_000_000
_names = itertools.count()


def document(body: str, key: str = "msg", messages: dict[str, str] | None = None) -> str:
    declared = "".join(f'<bpmn:message id="{i}" name="{n}"/>' for i, n in (messages or MESSAGES).items())
    return f'{HEADER}{declared}<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'


def deploy_doc(body: str, key: str = "msg", tenant_id: str | None = None, messages: dict[str, str] | None = None):
    _, [definition] = deployment_create(
        name=f"m-{next(_names)}", resources=[(f"{key}.bpmn", document(body, key, messages).encode())], tenant_id=tenant_id
    )
    return definition


MESSAGES = {"paid": "PaymentReceived", "cancel": "OrderCancelled", "advice": "PaymentAdvice"}
# start -> catch "waitPayment" (PaymentReceived) -> userTask "ship" (boundary "cancelled": OrderCancelled) -> end
#                                                    cancelled -> end "aborted"
CATCH_AND_BOUNDARY = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="waitPayment"/>'
    '<bpmn:intermediateCatchEvent id="waitPayment" name="Payment"><bpmn:messageEventDefinition messageRef="paid"/></bpmn:intermediateCatchEvent>'
    '<bpmn:sequenceFlow id="f2" sourceRef="waitPayment" targetRef="ship"/>'
    '<bpmn:userTask id="ship" name="Ship"/>'
    '<bpmn:boundaryEvent id="cancelled" attachedToRef="ship"><bpmn:messageEventDefinition messageRef="cancel"/></bpmn:boundaryEvent>'
    '<bpmn:sequenceFlow id="f3" sourceRef="ship" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="cancelled" targetRef="aborted"/>'
    '<bpmn:endEvent id="aborted"/>'
)
# start -> receiveTask "await" (PaymentReceived) -> serviceTask "book" (boundary "stop": OrderCancelled) -> end
RECEIVE_AND_SERVICE = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="await"/>'
    '<bpmn:receiveTask id="await" name="Await payment" messageRef="paid"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="await" targetRef="book"/>'
    '<bpmn:serviceTask id="book" name="Book" cockpit:failWhen="fail"/>'
    '<bpmn:boundaryEvent id="stop" attachedToRef="book"><bpmn:messageEventDefinition messageRef="cancel"/></bpmn:boundaryEvent>'
    '<bpmn:sequenceFlow id="f3" sourceRef="book" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="stop" targetRef="stopped"/>'
    '<bpmn:endEvent id="stopped"/>'
)
# A message start event only: started by "PaymentAdvice", then a user task.
MESSAGE_START_ONLY = (
    '<bpmn:startEvent id="adviceIn"><bpmn:messageEventDefinition messageRef="advice"/></bpmn:startEvent>'
    '<bpmn:sequenceFlow id="f1" sourceRef="adviceIn" targetRef="check"/>'
    '<bpmn:userTask id="check"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)


def subscriptions(instance) -> list[tuple[str, str]]:
    return sorted(EventSubscription.objects.filter(process_instance_id=instance.id).values_list("activity_id", "event_name"))


def correlate(name: str, **kwargs) -> list:
    all_ = kwargs.pop("all", False)
    variables = parse_typed_variables(kwargs.pop("variables", None))
    keys = parse_typed_variables(kwargs.pop("correlation_keys", None))
    correlation = Correlation(message_name=name, variables=variables, variables_count=len(variables), correlation_keys=keys, **kwargs)
    return message_correlate(correlation=correlation, all=all_)


# --- parsing -------------------------------------------------------------------------------------


def test_the_parser_reads_message_events_receive_tasks_and_boundary_events():
    [process] = parse_bpmn(document(CATCH_AND_BOUNDARY), LIMIT)
    nodes = process.graph["activities"]
    assert nodes["waitPayment"]["message"] == "PaymentReceived"
    assert nodes["cancelled"] | {} == nodes["cancelled"] and nodes["cancelled"]["attachedTo"] == "ship"
    assert nodes["ship"]["boundaryEvents"] == ["cancelled"] and nodes["cancelled"]["cancelActivity"] is True
    [receive] = parse_bpmn(document(RECEIVE_AND_SERVICE), LIMIT)
    assert receive.graph["activities"]["await"]["message"] == "PaymentReceived"
    [starting] = parse_bpmn(document(MESSAGE_START_ONLY), LIMIT)
    assert starting.graph["start"] is None and starting.graph["activities"]["adviceIn"]["message"] == "PaymentAdvice"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (CATCH_AND_BOUNDARY.replace('messageRef="paid"', 'messageRef="nope"'), "Invalid 'messageRef': no message with id 'nope' found."),
        (CATCH_AND_BOUNDARY.replace(' attachedToRef="ship"', ""), "Boundary event 'cancelled' has no attachedToRef"),
        (CATCH_AND_BOUNDARY.replace('attachedToRef="ship"', 'attachedToRef="ship" cancelActivity="false"'), "non-interrupting boundary events"),
        (CATCH_AND_BOUNDARY.replace('attachedToRef="ship"', 'attachedToRef="ghost"'), "attached to unknown activity 'ghost'"),
        (CATCH_AND_BOUNDARY.replace('attachedToRef="ship"', 'attachedToRef="waitPayment"'), "attached to intermediateCatchEvent 'waitPayment'"),
        (CATCH_AND_BOUNDARY.replace('<bpmn:messageEventDefinition messageRef="paid"/>', '<bpmn:timerEventDefinition/>'), "found 'timerEventDefinition'"),
        (CATCH_AND_BOUNDARY.replace('<bpmn:messageEventDefinition messageRef="paid"/>', ""), "found no event definition"),
        (CATCH_AND_BOUNDARY.replace('<bpmn:messageEventDefinition messageRef="paid"/>', "<bpmn:messageEventDefinition/>"), "attribute 'messageRef' is required"),
        (RECEIVE_AND_SERVICE.replace(' messageRef="paid"', ""), "Receive task 'await' has no messageRef"),
        (CATCH_AND_BOUNDARY.replace('<bpmn:startEvent id="start"/>', '<bpmn:startEvent id="start"/><bpmn:startEvent id="s2"/><bpmn:sequenceFlow id="f9" sourceRef="s2" targetRef="ship"/>'), "exactly one start event"),
        (
            CATCH_AND_BOUNDARY + '<bpmn:boundaryEvent id="again" attachedToRef="ship"><bpmn:messageEventDefinition messageRef="cancel"/></bpmn:boundaryEvent>'
            '<bpmn:sequenceFlow id="f5" sourceRef="again" targetRef="aborted"/>',
            "Cannot have more than one message event subscription with name 'OrderCancelled' for scope 'ship'",
        ),
        (CATCH_AND_BOUNDARY.replace('<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end"><bpmn:terminateEventDefinition/></bpmn:endEvent>'), "only none end events"),
    ],
)
def test_invalid_message_models_are_refused_with_a_clear_message(body, fragment):
    with pytest.raises(BpmnParseError) as error:
        parse_bpmn(document(body), LIMIT)
    assert fragment in str(error.value)


def test_a_message_without_a_name_is_refused():
    with pytest.raises(BpmnParseError, match="Message 'paid' has no name"):
        parse_bpmn(document(CATCH_AND_BOUNDARY, messages={"paid": "", "cancel": "C"}), LIMIT)


def test_the_generated_diagram_draws_boundary_events_on_their_host():
    shapes = _shapes(with_diagram(document(CATCH_AND_BOUNDARY)))
    host, event = shapes["ship"], shapes["cancelled"]
    assert host["x"] <= event["x"] and event["x"] + event["width"] <= host["x"] + host["width"]
    assert event["y"] < host["y"] + host["height"] < event["y"] + event["height"]  # on the lower edge
    receive = _shapes(with_diagram(document(RECEIVE_AND_SERVICE)))
    assert receive["await"]["width"] == 100 and _shapes(with_diagram(document(CATCH_AND_BOUNDARY)))["waitPayment"]["width"] == 36


def _shapes(xml: str) -> dict:
    return {
        s.get("bpmnElement"): {k: int(v) for k, v in s.find(f"{{{DC_NS}}}Bounds").attrib.items()}
        for s in SafeET.fromstring(xml.encode()).iter(f"{{{BPMNDI_NS}}}BPMNShape")
    }


# --- runtime: tokens and their subscriptions -------------------------------------------------------------


@pytest.mark.django_db
def test_a_catch_event_waits_and_a_message_moves_it_on_to_a_task_that_subscribes_its_boundary_event():
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    instance = instance_start(definition=definition, business_key="order-1")
    assert tokens(instance) == ["waitPayment"] and subscriptions(instance) == [("waitPayment", "PaymentReceived")]
    token = instance.tokens.get()
    assert EventSubscription.objects.get(process_instance=instance).execution_id == token.id
    [result] = correlate("PaymentReceived", business_key="order-1", variables={"amount": {"value": 5, "type": "Integer"}})
    assert (result.result_type, result.execution_id, result.ended) == ("Execution", token.id, False)
    assert tokens(instance) == ["ship"] and subscriptions(instance) == [("cancelled", "OrderCancelled")]
    assert EventSubscription.objects.get(process_instance=instance).execution_id == instance.tokens.get().id
    assert variables_of(instance.id)["amount"] == {"value": 5, "type": "Integer"}
    assert HistoricActivityInstance.objects.get(activity_id="waitPayment").end_time is not None
    # Completing the task removes its boundary subscription.
    task_complete(task_id=instance.tokens.get().id)
    assert not EventSubscription.objects.filter(process_instance_id=instance.id).exists()
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED"


@pytest.mark.django_db
def test_a_boundary_message_cancels_the_task_and_continues_from_the_boundary_event():
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    instance = instance_start(definition=definition)
    correlate("PaymentReceived", process_instance_id=instance.id)
    ship = instance.tokens.get()
    [result] = correlate("OrderCancelled", process_instance_id=instance.id)
    assert result.ended and result.execution_id == ship.id
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert history.state == "COMPLETED"
    assert HistoricActivityInstance.objects.get(id=ship.id).canceled is True
    passed = HistoricActivityInstance.objects.get(process_instance_id=instance.id, activity_id="cancelled")
    assert passed.activity_type == "boundaryEvent" and passed.end_time is not None
    assert HistoricActivityInstance.objects.filter(process_instance_id=instance.id, activity_id="aborted").exists()
    assert not EventSubscription.objects.filter(process_instance_id=instance.id).exists()


@pytest.mark.django_db
def test_a_boundary_on_a_failed_service_task_removes_its_job_and_incident():
    definition = deploy_doc(RECEIVE_AND_SERVICE)
    instance = instance_start(definition=definition, variables=parse_typed_variables({"fail": {"value": True, "type": "Boolean"}}))
    assert subscriptions(instance) == [("await", "PaymentReceived")] and instance.tokens.get().activity_type == "receiveTask"
    correlate("PaymentReceived", process_instance_id=instance.id)
    assert subscriptions(instance) == [("stop", "OrderCancelled")] and tokens(instance) == ["book"]
    for _ in range(3):
        run_jobs()
        Job.objects.filter(process_instance_id=instance.id).update(due_date=None)
    assert Incident.objects.filter(process_instance_id=instance.id).exists()
    correlate("OrderCancelled", process_instance_id=instance.id)
    assert not Job.objects.filter(process_instance_id=instance.id).exists()
    assert not Incident.objects.filter(process_instance_id=instance.id).exists()
    assert HistoricActivityInstance.objects.filter(process_instance_id=instance.id, activity_id="stopped").exists()


@pytest.mark.django_db
def test_a_service_task_that_completes_removes_its_boundary_subscription():
    definition = deploy_doc(RECEIVE_AND_SERVICE)
    instance = instance_start(definition=definition)
    correlate("PaymentReceived", process_instance_id=instance.id)
    run_jobs()
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED"
    assert not EventSubscription.objects.filter(process_instance_id=instance.id).exists()


@pytest.mark.django_db
def test_a_boundary_on_an_external_task_removes_the_external_task():
    body = RECEIVE_AND_SERVICE.replace(
        '<bpmn:serviceTask id="book" name="Book" cockpit:failWhen="fail"/>',
        '<bpmn:serviceTask id="book" name="Book" camunda:type="external" camunda:topic="ledger" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"/>',
    )
    definition = deploy_doc(body)
    instance = instance_start(definition=definition)
    correlate("PaymentReceived", process_instance_id=instance.id)
    assert ExternalTask.objects.filter(process_instance_id=instance.id).exists()
    correlate("OrderCancelled", process_instance_id=instance.id)
    assert not ExternalTask.objects.filter(process_instance_id=instance.id).exists()
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED"


# --- correlation rules -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_correlation_filters_by_business_key_correlation_keys_and_tenant_and_needs_exactly_one_match():
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    a = instance_start(definition=definition, business_key="a", variables=parse_typed_variables({"customer": {"value": "ACME", "type": "String"}}))
    b = instance_start(definition=definition, business_key="b", variables=parse_typed_variables({"customer": {"value": "Hooli", "type": "String"}}))
    with pytest.raises(MismatchingMessageCorrelation) as error:
        correlate("PaymentReceived")
    assert "ENGINE-13031 Cannot correlate a message with name 'PaymentReceived' to a single execution. 2 executions match" in str(error.value)
    assert str(error.value).startswith("org.camunda.bpm.engine.MismatchingMessageCorrelationException: ")
    with pytest.raises(MismatchingMessageCorrelation, match="Cannot correlate message 'Nope': No process definition or execution matches the parameters"):
        correlate("Nope")
    with pytest.raises(MismatchingMessageCorrelation, match="No process definition or execution matches"):
        correlate("PaymentReceived", correlation_keys={"customer": {"value": "Initech", "type": "String"}})
    with pytest.raises(MismatchingMessageCorrelation, match="No process definition or execution matches"):
        correlate("PaymentReceived", tenant_id="tenant-x", tenant_set=True)
    [result] = correlate("PaymentReceived", correlation_keys={"customer": {"value": "Hooli", "type": "String"}})
    assert result.instance.id == b.id and tokens(b) == ["ship"] and tokens(a) == ["waitPayment"]
    with pytest.raises(BadUserRequestException, match="ENGINE-13028"):
        correlate("PaymentReceived", process_instance_id=a.id, tenant_set=True)
    # A suspended instance's executions do not receive messages (Camunda correlates to active executions).
    instances_set_suspended(instance_ids=[a.id], suspended=True)
    with pytest.raises(MismatchingMessageCorrelation, match="No process definition or execution matches"):
        correlate("PaymentReceived", business_key="a")


@pytest.mark.django_db
def test_correlate_all_triggers_every_execution_and_logs_as_camunda():
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    instances = [instance_start(definition=definition) for _ in range(3)]
    results = correlate("PaymentReceived", all=True, variables={"paid": {"value": True, "type": "Boolean"}})
    assert len(results) == 3 and all(tokens(i) == ["ship"] for i in instances)
    entries = UserOperationLogEntry.objects.filter(operation_type="CorrelateMessage")
    assert {e.property: e.new_value for e in entries} == {"messageName": "PaymentReceived", "nrOfVariables": "1", "nrOfInstances": "3"}
    assert {e.process_instance_id for e in entries} == {None} and {e.entity_type for e in entries} == {"ProcessInstance"}
    [single] = correlate("OrderCancelled", all=True, process_instance_id=instances[0].id)
    one = UserOperationLogEntry.objects.filter(operation_type="CorrelateMessage", process_instance_id=instances[0].id)
    assert {e.property: e.new_value for e in one} == {"messageName": "OrderCancelled", "processInstanceId": instances[0].id}
    assert correlate("Nothing", all=True) == []  # no match is no error with `all`, as in Camunda
    correlate("OrderCancelled", process_instance_id=instances[1].id)  # without `all`: no entry (CorrelateMessageCmd)
    assert UserOperationLogEntry.objects.filter(operation_type="CorrelateMessage").count() == 5  # 3 + 2 entries


@pytest.mark.django_db
def test_message_start_events_subscribe_the_latest_version_and_start_instances():
    first = deploy_doc(MESSAGE_START_ONLY, key="advice")
    start = EventSubscription.objects.get(process_instance__isnull=True)
    assert (start.configuration, start.activity_id, start.event_name, start.execution_id) == (first.id, "adviceIn", "PaymentAdvice", None)
    second = deploy_doc(MESSAGE_START_ONLY, key="advice")
    assert list(EventSubscription.objects.values_list("configuration", flat=True)) == [second.id]
    with pytest.raises(EngineRefusal, match="ENGINE-01011 Cannot deploy process definition 'other.bpmn': there already is a message"):
        deploy_doc(MESSAGE_START_ONLY, key="other")
    deploy_doc(MESSAGE_START_ONLY, key="other", tenant_id="tenant-a")  # another tenant may use the name
    with pytest.raises(NoNoneStartEvent, match="has no default start activity"):
        instance_start(definition=second)
    [result] = correlate("PaymentAdvice", business_key="adv-1", tenant_set=True, variables={"x": {"value": 1, "type": "Integer"}})
    assert result.result_type == "ProcessDefinition" and result.instance.process_definition_id == second.id
    instance = ProcessInstance.objects.get(id=result.instance.id)
    assert instance.business_key == "adv-1" and tokens(instance) == ["check"]
    assert HistoricProcessInstance.objects.get(id=instance.id).start_activity_id == "adviceIn"
    with pytest.raises(MismatchingMessageCorrelation, match="ENGINE-13030 .* 2 process definitions match"):
        correlate("PaymentAdvice")  # the tenant's definition matches too
    # A new version without the message start event removes the subscription.
    deploy_doc(CATCH_AND_BOUNDARY, key="advice")
    assert not EventSubscription.objects.filter(process_instance__isnull=True, tenant_id=None).exists()


@pytest.mark.django_db
def test_bulk_start_modification_and_cancellation_keep_subscriptions_right():
    definition = deploy_doc(RECEIVE_AND_SERVICE)
    from django.utils import timezone

    bulk = BulkStart(definition, timezone.now())
    started = [bulk.add(business_key=f"r{n}", variables={}, instructions=[{"type": "startBeforeActivity", "activityId": "await"}]) for n in range(3)]
    bulk.save()
    for instance in started:
        token = ActivityInstance.objects.get(process_instance_id=instance.id)
        assert list(EventSubscription.objects.filter(process_instance_id=instance.id).values_list("execution_id", "activity_id")) == [(token.id, "await")]
    target = started[0]
    instance_modify(instance_id=target.id, instructions=[{"type": "startBeforeActivity", "activityId": "book"}])
    assert subscriptions(target) == [("await", "PaymentReceived"), ("stop", "OrderCancelled")]
    instance_modify(instance_id=target.id, instructions=[{"type": "cancel", "activityId": "await"}])
    assert subscriptions(target) == [("stop", "OrderCancelled")]
    from engine.services.lifecycle import instances_delete

    instances_delete(instance_ids=[target.id], delete_reason="x")
    assert not EventSubscription.objects.filter(process_instance_id=target.id).exists()


@pytest.mark.django_db
def test_migration_moves_subscriptions_and_resubscribes_the_targets_boundary_events():
    v1 = deploy_doc(RECEIVE_AND_SERVICE.replace('id="book" name="Book" cockpit:failWhen="fail"', 'id="book" name="Book"'))
    v2_body = RECEIVE_AND_SERVICE.replace('messageRef="cancel"', 'messageRef="advice"')  # the boundary waits for another message
    v2 = deploy_doc(v2_body)
    waiting, booking = instance_start(definition=v1), instance_start(definition=v1)
    correlate("PaymentReceived", process_instance_id=booking.id)  # a token at "book" with a boundary subscription
    plan = plan_generate(v1, v2)
    assert {i.source for i in plan.instructions} == {"await", "book"}
    result = instances_migrate(plan=plan, instance_ids=[waiting.id, booking.id])
    assert sorted(result.changed) == sorted([waiting.id, booking.id])
    assert subscriptions(waiting) == [("await", "PaymentReceived")]
    assert subscriptions(booking) == [("stop", "PaymentAdvice")]
    assert set(EventSubscription.objects.filter(process_instance__isnull=False).values_list("process_definition_id", flat=True)) == {v2.id}
    assert EventSubscription.objects.get(process_instance=booking).execution_id == booking.tokens.get().id


# --- the batch's chunk ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_chunk_correlates_each_instance_and_skips_those_that_do_not_wait():
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    waiting = [instance_start(definition=definition) for _ in range(3)]
    shipped = instance_start(definition=definition)
    correlate("PaymentReceived", process_instance_id=shipped.id)
    suspended = instance_start(definition=definition)
    instances_set_suspended(instance_ids=[suspended.id], suspended=True)
    ids = [i.id for i in waiting] + [shipped.id, suspended.id, "gone"]
    result = instances_correlate(instance_ids=ids, message_name="PaymentReceived", variables=parse_typed_variables({"batch": {"value": "yes", "type": "String"}}))
    assert sorted(result.changed) == sorted(i.id for i in waiting)
    assert result.skipped[shipped.id] == NO_SUBSCRIPTION.format(name="PaymentReceived")
    assert "suspended" in result.skipped[suspended.id] and "not running" in result.skipped["gone"]
    assert all(tokens(i) == ["ship"] and variables_of(i.id)["batch"]["value"] == "yes" for i in waiting)
    assert "batch" not in variables_of(shipped.id)
    again = instances_correlate(instance_ids=[waiting[0].id], message_name="PaymentReceived")
    assert again.changed == [] and waiting[0].id in again.skipped  # idempotent: the message was consumed


def test_correlation_keys_of_json_type_are_refused():
    with pytest.raises(BadUserRequest, match="cannot be used to correlate"):
        from engine.services.messages import _key_conditions

        _key_conditions({"x": {"value": "{}", "type": "Json"}}, "correlationKeys")


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_correlations_of_one_subscription_trigger_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("row locks exist on PostgreSQL only; SQLite runs one writer at a time")
    from tests.engine.test_concurrency import race

    definition = deploy_doc(CATCH_AND_BOUNDARY)
    instance = instance_start(definition=definition, business_key="once")
    a, b = race(
        lambda: correlate("PaymentReceived", business_key="once"),
        lambda: correlate("PaymentReceived", business_key="once"),
    )
    assert a.error is None and isinstance(b.error, MismatchingMessageCorrelation), (a.error, b.error)
    assert "No process definition or execution matches" in str(b.error)
    assert tokens(instance) == ["ship"]
    assert HistoricActivityInstance.objects.filter(process_instance_id=instance.id, activity_id="ship").count() == 1
    # A batch chunk and a correlation of the same instance: the second finds the message consumed.
    other = instance_start(definition=definition, business_key="twice")
    a, b = race(
        lambda: instances_correlate(instance_ids=[other.id], message_name="PaymentReceived"),
        lambda: correlate("PaymentReceived", business_key="twice"),
    )
    assert a.result.changed == [other.id] and isinstance(b.error, MismatchingMessageCorrelation)
    assert HistoricActivityInstance.objects.filter(process_instance_id=other.id, activity_id="ship").count() == 1


# --- demo data ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_payment_instances_wait_for_a_message_that_correlates_by_business_key():
    from engine.demo import load_instances

    load_instances(140)
    waiting = EventSubscription.objects.filter(event_name="PaymentReceived", activity_id="awaitPayment")
    assert waiting.count() > 0
    assert waiting.count() == ActivityInstance.objects.filter(activity_id="awaitPayment").count()
    assert EventSubscription.objects.filter(process_instance__isnull=True, event_name="PaymentAdviceReceived").count() == 1
    subscription = waiting.filter(process_instance__suspended=False).select_related("process_instance").first()
    instance = subscription.process_instance
    [result] = correlate("PaymentReceived", business_key=instance.business_key)
    assert result.execution_id == subscription.execution_id and tokens(instance) == ["bookPayment"]
    assert Job.objects.filter(process_instance_id=instance.id, activity_id="bookPayment").exists()


@pytest.mark.django_db
def test_the_definition_page_and_statistics_count_tokens_at_message_waits(admin_user, client, api):
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    at_catch = [instance_start(definition=definition) for _ in range(2)]
    correlate("PaymentReceived", process_instance_id=at_catch[0].id)
    client.force_login(admin_user)
    page = client.get(f"/cockpit/process-definition/{definition.id}")
    assert page.status_code == 200
    activities = {a["id"]: a for a in page.context["activities"]}
    assert set(activities) == set(definition.graph["activities"])  # boundary events and their paths included
    assert (activities["waitPayment"]["tokens"], activities["ship"]["tokens"], activities["cancelled"]["tokens"]) == (1, 1, 0)
    statistics = api.get(f"/engine-rest/process-definition/{definition.id}/statistics").json()
    assert sorted((s["id"], s["instances"]) for s in statistics) == [("ship", 1), ("waitPayment", 1)]
    only_messages = deploy_doc(MESSAGE_START_ONLY, key="advice")
    assert client.get(f"/cockpit/process-definition/{only_messages.id}").status_code == 200
