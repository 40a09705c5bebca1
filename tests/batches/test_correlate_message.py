"""correlate-message: POST /process-instance/message-async, in-process and on real qcluster workers."""
import time

import pytest
from django.db import transaction
from django.utils import timezone

from batches.models import BatchItem, HistoricBatch
from batches.operations import ENDPOINTS
from batches.operations.message_correlation import EMPTY, NO_SELECTOR
from engine.locking import instance_lock
from engine.models import EventSubscription, HistoricProcessInstance, HistoricVariableInstance, Job, UserOperationLogEntry
from engine.services.lifecycle import instances_set_suspended
from engine.services.messages import NO_SUBSCRIPTION, SUSPENDED
from engine.services.runtime import instance_start
from engine.services.variables import variables_of, variables_set
from engine.variables import parse_typed_variables
from tests.conftest import client_for
from tests.engine.test_messages import CATCH_AND_BOUNDARY, RECEIVE_AND_SERVICE, deploy_doc
from tests.support.factories import run_jobs, tokens

R = "/engine-rest"
PATH = "process-instance/message-async"
# The message reaches a gateway whose condition compares "amount": a String amount fails the walk.
GATEWAY_AFTER_MESSAGE = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="waitPayment"/>'
    '<bpmn:intermediateCatchEvent id="waitPayment"><bpmn:messageEventDefinition messageRef="paid"/></bpmn:intermediateCatchEvent>'
    '<bpmn:sequenceFlow id="f2" sourceRef="waitPayment" targetRef="big"/>'
    '<bpmn:exclusiveGateway id="big" default="small"/>'
    '<bpmn:sequenceFlow id="large" sourceRef="big" targetRef="review"><bpmn:conditionExpression>${amount &gt; 5}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:sequenceFlow id="small" sourceRef="big" targetRef="end"/>'
    '<bpmn:userTask id="review"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)


def waiting(definition, business_key=None, **variables):
    typed = parse_typed_variables({k: {"value": v, "type": None} for k, v in variables.items()})
    return instance_start(definition=definition, business_key=business_key, variables=typed)


def items_of(batch_id: str) -> dict[str, tuple[str, str | None]]:
    return {i.target_id: (i.state, i.detail) for i in BatchItem.objects.filter(batch_id=batch_id)}


# --- in-process -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_batch_correlates_waiting_instances_and_skips_the_others_with_the_reason(api, admin_user, batch_sizes):
    batch_sizes(per_seed=10, invocations=2)
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    receiving = deploy_doc(RECEIVE_AND_SERVICE, key="receiving")
    targets = [waiting(definition, f"w{n}") for n in range(3)] + [waiting(receiving, "r")]
    moved_on = waiting(definition, "done")
    api.post(f"{R}/message", {"messageName": "PaymentReceived", "businessKey": "done"}, format="json")
    suspended = waiting(definition, "s")
    instances_set_suspended(instance_ids=[suspended.id], suspended=True)
    response = api.post(f"{R}/{PATH}", {
        "messageName": "PaymentReceived",
        "processInstanceIds": [t.id for t in targets[:2]] + [moved_on.id, suspended.id, "unknown"],
        "processInstanceQuery": {"businessKeyLike": "r%"},
        "historicProcessInstanceQuery": {"processInstanceBusinessKey": "w2"},
        "variables": {"paidBy": {"value": "batch", "type": "String"}},
    }, format="json")
    assert response.status_code == 200, response.content
    batch = response.json()
    assert (batch["type"], batch["totalJobs"], batch["invocationsPerBatchJob"]) == ("correlate-message", 4, 2)
    entries = UserOperationLogEntry.objects.filter(batch_id=batch["id"])
    assert {e.property: e.new_value for e in entries} == {
        "messageName": "PaymentReceived", "nrOfInstances": "7", "nrOfVariables": "1", "async": "true",
    }
    assert {(e.operation_type, e.entity_type, e.user_id) for e in entries} == {("CorrelateMessage", "ProcessInstance", admin_user.username)}
    run_jobs()
    items = items_of(batch["id"])
    for target in targets:
        assert items[target.id] == (BatchItem.SUCCEEDED, None)
        assert HistoricVariableInstance.objects.get(process_instance_id=target.id, name="paidBy").text_value == "batch"
    # The receive task's instance ran its service task (run_jobs) and completed.
    assert [tokens(t) for t in targets[:3]] == [["ship"]] * 3
    assert HistoricProcessInstance.objects.get(id=targets[3].id).state == "COMPLETED"
    assert items[moved_on.id] == (BatchItem.SKIPPED, NO_SUBSCRIPTION.format(name="PaymentReceived"))
    assert items[suspended.id] == (BatchItem.SKIPPED, SUSPENDED)
    assert items["unknown"][0] == BatchItem.SKIPPED and "not running" in items["unknown"][1]
    assert "paidBy" not in variables_of(moved_on.id) and tokens(suspended) == ["waitPayment"]
    historic = HistoricBatch.objects.get(id=batch["id"])
    assert (historic.final_state, historic.items_succeeded, historic.items_skipped) == ("completed", 4, 3)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"processInstanceIds": ["x"]}, "messageName: This field is required."),
        ({"messageName": "", "processInstanceIds": ["x"]}, "messageName"),
        ({"messageName": "m"}, NO_SELECTOR),
        ({"messageName": "m", "processInstanceIds": []}, EMPTY),
        ({"messageName": "m", "processInstanceIds": ["x"], "variables": {"a": {"value": "1x", "type": "Integer"}}}, "Cannot set variables: "),
        ({"messageName": "m", "processInstanceQuery": {"businessKeyLke": "x"}}, "businessKeyLke"),
        ({"messageName": "m", "historicProcessInstanceQuery": {"finished": "yes"}}, "finished"),
    ],
)
@pytest.mark.django_db
def test_bad_requests_are_400_naming_the_field(api, payload, fragment):
    response = api.post(f"{R}/{PATH}", payload, format="json")
    assert response.status_code == 400, response.content
    assert fragment in response.json()["message"]


@pytest.mark.django_db
def test_it_needs_the_permission_and_stays_in_the_creators_tenants(viewer_api, operator_api, batch_sizes):
    batch_sizes(per_seed=10, invocations=10)
    mine = waiting(deploy_doc(CATCH_AND_BOUNDARY, tenant_id="tenant-a"))
    theirs = waiting(deploy_doc(CATCH_AND_BOUNDARY, key="b", tenant_id="tenant-b"))
    denied = viewer_api.post(f"{R}/{PATH}", {"messageName": "PaymentReceived", "processInstanceIds": [mine.id]}, format="json")
    assert denied.status_code == 403 and "batches.create_correlate_message" in denied.json()["message"]
    batch = operator_api.post(f"{R}/{PATH}", {"messageName": "PaymentReceived", "processInstanceIds": [mine.id, theirs.id]}, format="json").json()
    assert batch["tenantId"] is None
    run_jobs()
    items = items_of(batch["id"])
    assert items[mine.id][0] == BatchItem.SUCCEEDED and items[theirs.id][0] == BatchItem.SKIPPED
    assert tokens(theirs) == ["waitPayment"]


@pytest.mark.django_db
def test_the_wizard_declares_the_operation_and_its_confirm_step_counts(admin_user):
    operation = ENDPOINTS[PATH]
    assert operation.wizard.key == "correlate" and [f.name for f in operation.wizard.fields][0] == "messageName"
    definition = deploy_doc(CATCH_AND_BOUNDARY)
    ready = [waiting(definition) for _ in range(2)]
    done = waiting(definition)
    instance_lock_free_correlate(done)
    paused = waiting(definition)
    instances_set_suspended(instance_ids=[paused.id], suspended=True)
    from engine.models import ProcessInstance

    targets = ProcessInstance.objects.filter(id__in=[i.id for i in [*ready, done, paused]]).values("id")
    sentences = dict(operation.eligibility({"messageName": "PaymentReceived"}, targets, admin_user))
    assert sentences == {"is suspended and will be skipped": 1, "does not wait for this message and will be skipped": 1}


def instance_lock_free_correlate(instance) -> None:
    from engine.services.messages import Correlation, message_correlate

    message_correlate(correlation=Correlation(message_name="PaymentReceived", process_instance_id=instance.id))


# --- real workers (run on SQLite + ORM broker and on PostgreSQL + Redis) ---------------------------


@pytest.mark.cluster
def test_a_correlation_batch_on_real_workers_fails_an_item_with_its_reason_and_a_retry_completes_it(cluster, admin_user, batch_sizes):
    from tests.batches.test_cluster import create_via_rest, finished
    from tests.support.cluster import wait_for

    batch_sizes(per_seed=2, invocations=2)
    definition = deploy_doc(GATEWAY_AFTER_MESSAGE, key="gw")
    boundary = deploy_doc(CATCH_AND_BOUNDARY, key="ships")
    cluster(workers=2)
    fine = [waiting(definition, amount=n) for n in (1, 10)]
    broken = waiting(definition, amount="lots")  # the gateway cannot compare a String with 5
    shipping = waiting(boundary)
    instance_lock_free_correlate(shipping)  # now at "ship", its boundary waits for OrderCancelled
    gone = waiting(definition)
    instance_lock_free_correlate_other(gone)
    batch = create_via_rest(admin_user, PATH, {
        "messageName": "PaymentReceived", "processInstanceIds": [*(i.id for i in fine), broken.id, gone.id],
    })
    job = wait_for(
        lambda: Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"], retries=0).first(),
        timeout=90, message="the execution job holding the broken instance to run out of retries",
    )
    assert "cannot compare" in job.exception_message
    items = items_of(batch["id"])
    assert items[broken.id][0] == BatchItem.FAILED and "cannot compare 'lots'" in items[broken.id][1]
    assert {items[i.id][0] for i in fine} == {BatchItem.SUCCEEDED}
    assert items[gone.id][0] == BatchItem.SKIPPED
    assert tokens(fine[1]) == ["review"] and HistoricProcessInstance.objects.get(id=fine[0].id).state == "COMPLETED"
    assert tokens(broken) == ["waitPayment"] and EventSubscription.objects.filter(process_instance_id=broken.id).exists()
    # The operator fixes the variable and retries the job: the item succeeds, the batch completes.
    with transaction.atomic():
        instance_lock(broken.id)
        variables_set(instance=broken, variables={"amount": {"value": 7, "type": "Integer"}}, now=timezone.now())
    assert client_for(admin_user).put(f"{R}/job/{job.id}/retries", {"retries": 1}, format="json").status_code == 204
    historic = finished(batch["id"])
    assert (historic.final_state, historic.items_succeeded, historic.items_skipped) == ("completed", 3, 1)
    assert tokens(broken) == ["review"]
    # A second batch cancels the shipping instance through its boundary event; a suspended batch waits.
    from batches.services import batch_create, batch_set_suspended

    with transaction.atomic():
        second = batch_create(operation=ENDPOINTS[PATH], user=admin_user, payload={
            "messageName": "OrderCancelled", "processInstanceQuery": {"processDefinitionId": boundary.id},
        })
        batch_set_suspended(batch=second, suspended=True, user_id="alice")
    time.sleep(3)
    assert tokens(shipping) == ["ship"] and not BatchItem.objects.filter(batch_id=second.id).exclude(state=BatchItem.PENDING).exists()
    response = client_for(admin_user).put(f"{R}/batch/{second.id}/suspended", {"suspended": False}, format="json")
    assert response.status_code == 204
    assert finished(second.id).final_state == "completed"
    assert HistoricProcessInstance.objects.get(id=shipping.id).state == "COMPLETED"
    assert not EventSubscription.objects.filter(process_instance_id=shipping.id).exists()


def instance_lock_free_correlate_other(instance) -> None:
    """Move an instance past its message wait (so a batch finds no subscription there)."""
    from engine.models import ActivityInstance
    from engine.services.modification import instance_modify

    token = ActivityInstance.objects.get(process_instance_id=instance.id)
    instance_modify(instance_id=instance.id, instructions=[
        {"type": "startBeforeActivity", "activityId": "review"}, {"type": "cancel", "activityInstanceId": token.id},
    ])


@pytest.mark.django_db
def test_the_wizard_builds_the_rest_payload_with_message_name_and_variables(admin_user):
    from tests.cockpit.test_wizard import draft_for

    definition = deploy_doc(CATCH_AND_BOUNDARY, key="wiz")
    [waiting(definition) for _ in range(2)]
    draft = draft_for(admin_user, op="correlate", key="wiz", messageName="PaymentReceived",
                      variables_name=["paidBy"], variables_type=["String"], variables_value=["wizard"])
    assert draft.valid, draft.errors
    assert draft.payload == {
        "processInstanceQuery": {"processDefinitionKey": "wiz"},
        "messageName": "PaymentReceived",
        "variables": {"paidBy": {"value": "wizard", "type": "String"}},
    }
    missing = draft_for(admin_user, op="correlate", key="wiz")
    assert not missing.valid and "messageName" in missing.errors
