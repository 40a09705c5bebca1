"""Instance lifecycle: start, wait states, jobs, gateways, completion, history."""
import pytest

from engine.errors import BadUserRequest
from engine.models import (
    HistoricActivityInstance,
    HistoricJobLog,
    HistoricProcessInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessInstance,
)
from engine.services.runtime import task_complete
from tests.support.factories import deploy, job_of, run_jobs, start, tokens

pytestmark = pytest.mark.django_db

PARALLEL = (
    '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="fork"/>'
    '<bpmn:parallelGateway id="fork"/>'
    '<bpmn:sequenceFlow id="b" sourceRef="fork" targetRef="left"/>'
    '<bpmn:sequenceFlow id="c" sourceRef="fork" targetRef="right"/>'
    '<bpmn:userTask id="left"/><bpmn:serviceTask id="right"/>'
    '<bpmn:sequenceFlow id="d" sourceRef="left" targetRef="join"/>'
    '<bpmn:sequenceFlow id="e" sourceRef="right" targetRef="join"/>'
    '<bpmn:parallelGateway id="join"/><bpmn:sequenceFlow id="f" sourceRef="join" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)

EXCLUSIVE = (
    '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="gw"/>'
    '<bpmn:exclusiveGateway id="gw" default="small"/>'
    '<bpmn:sequenceFlow id="large" sourceRef="gw" targetRef="review">'
    "<bpmn:conditionExpression>${amount &gt; 1000}</bpmn:conditionExpression></bpmn:sequenceFlow>"
    '<bpmn:sequenceFlow id="small" sourceRef="gw" targetRef="done"/>'
    '<bpmn:userTask id="review"/><bpmn:sequenceFlow id="r" sourceRef="review" targetRef="done"/>'
    '<bpmn:endEvent id="done"/>'
)


def test_deploying_the_same_key_twice_creates_version_two():
    first = deploy(key="versioned")
    second = deploy(key="versioned")
    assert (first.version, second.version) == (1, 2)
    assert second.id.startswith("versioned:2:")
    assert JobDefinition.objects.filter(process_definition=second, activity_id="service").count() == 1


def test_a_started_instance_waits_at_its_user_task_with_open_history():
    instance = start(deploy(), business_key="order-1")
    assert tokens(instance) == ["task"]
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert (history.state, history.business_key, history.end_time) == ("ACTIVE", "order-1", None)
    open_activity = HistoricActivityInstance.objects.get(process_instance_id=instance.id, activity_id="task")
    assert open_activity.end_time is None


def test_completing_the_task_creates_a_job_and_the_job_completes_the_instance():
    instance = start(deploy())
    task_complete(task_id=instance.tokens.get().id)
    assert tokens(instance) == ["service"]
    job = job_of(instance)
    assert job.retries == 3 and job.activity_id == "service"
    assert run_jobs() == 1
    assert not ProcessInstance.objects.filter(id=instance.id).exists()
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert history.state == "COMPLETED" and history.end_time is not None and history.duration_in_millis >= 0
    assert HistoricJobLog.objects.filter(job_id=job.id, success_log=True).exists()


def test_a_failing_job_counts_down_retries_and_raises_an_incident_at_zero():
    instance = start(deploy(), fail=True)
    task_complete(task_id=instance.tokens.get().id)
    run_jobs()
    job = job_of(instance)
    assert job.retries == 0
    assert "process variable 'fail' is set" in job.exception_message
    assert "ServiceTaskFailed" in job.exception_stacktrace
    incident = Incident.objects.get(configuration=job.id)
    assert (incident.incident_type, incident.process_instance_id) == ("failedJob", instance.id)
    assert HistoricJobLog.objects.filter(job_id=job.id, failure_log=True).count() == 3


def test_parallel_gateway_forks_and_joins():
    instance = start(deploy(PARALLEL, key="parallel"))
    assert tokens(instance) == ["left", "right"]
    run_jobs()
    assert tokens(instance) == ["join", "left"]
    task_complete(task_id=instance.tokens.get(activity_id="left").id)
    assert HistoricProcessInstance.objects.get(id=instance.id).state == "COMPLETED"


def test_exclusive_gateway_follows_the_matching_condition_or_the_default():
    definition = deploy(EXCLUSIVE, key="exclusive")
    assert tokens(start(definition, amount=5000)) == ["review"]
    small = start(definition, amount=10)
    assert HistoricProcessInstance.objects.get(id=small.id).state == "COMPLETED"


def test_a_condition_that_cannot_be_evaluated_is_a_clear_error():
    with pytest.raises(BadUserRequest, match="Condition .* of sequence flow 'large' cannot compare"):
        start(deploy(EXCLUSIVE, key="exclusive"), amount="lots")


def test_a_job_of_a_suspended_instance_does_not_run():
    from engine.services.lifecycle import instances_set_suspended

    instance = start(deploy())
    task_complete(task_id=instance.tokens.get().id)
    instances_set_suspended(instance_ids=[instance.id], suspended=True)
    assert run_jobs() == 0
    assert Job.objects.get(process_instance_id=instance.id).suspended
    instances_set_suspended(instance_ids=[instance.id], suspended=False)
    assert run_jobs() == 1
