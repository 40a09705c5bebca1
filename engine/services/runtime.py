"""Token execution: starting instances, completing user tasks, running service-task jobs."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.utils import timezone

from engine.bulk import rows_delete
from engine.errors import BadUserRequest, EngineError, NotFound, ServiceTaskFailed
from engine.locking import instance_lock
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    VariableInstance,
    new_id,
)
from engine.services.incidents import incidents_remove
from engine.services.jobs import job_create, jobs_log_deletions, register_job_handler
from engine.services.oplog import CATEGORY_TASK_WORKER, operation_log_write
from engine.services.removal_time import instances_ended
from engine.services.variables import variables_create, variables_of, variables_set
from engine.sql import MillisBetween
from engine.variables import evaluate_condition, is_truthy

ASYNC_CONTINUATION = "async-continuation"
MAX_STEPS = 1000
WAIT_STATES = {"userTask", "serviceTask", "receiveTask", "intermediateCatchEvent"}
# Wait states that a message ends: their token waits with a subscription of its own.
MESSAGE_WAIT_STATES = {"receiveTask", "intermediateCatchEvent"}


class NoNoneStartEvent(EngineError):
    """Starting by key a process that only message start events start.

    Camunda answers this with a 500 RestException (ProcessDefinitionResourceImpl wraps the
    engine's NullValueException); a refusal of the caller's request is a 400 here, same type and message.
    """

    status = 400
    type_name = "RestException"


def millis_between(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() * 1000)


@dataclass
class Operation:
    """One engine command on one instance: walks tokens and remembers whether an end was reached."""

    instance: ProcessInstance
    definition: ProcessDefinition
    now: datetime = field(default_factory=timezone.now)
    reached_end: bool = False
    steps: int = 0
    _variables: dict | None = None

    @property
    def variables(self) -> dict:
        if self._variables is None:
            self._variables = variables_of(self.instance.id)
        return self._variables

    def forget_variables(self) -> None:
        """Read the variables again at the next condition (they were just written)."""
        self._variables = None

    # --- entering and leaving activities ---------------------------------------------------
    def enter(self, activity_id: str) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise BadUserRequest(f"Process '{self.definition.key}' loops without reaching a wait state")
        node = self.definition.activity(activity_id)
        kind = node["type"]
        if kind in WAIT_STATES:
            token = self._create_token(activity_id, node)
            if kind == "serviceTask":
                self._create_service_job(token)
            for subscription in subscriptions_of(self.instance, self.definition, token, self.now):
                self._subscribe(subscription)
            return
        if kind == "parallelGateway" and len(node["incoming"]) > 1:
            self._arrive_at_join(activity_id, node)
            return
        self._record_passed(activity_id, node)
        if kind == "endEvent":
            self.reached_end = True
            return
        self.leave(activity_id)

    def leave(self, activity_id: str) -> None:
        node = self.definition.activity(activity_id)
        if node["type"] == "exclusiveGateway":
            self.take(self._choose_flow(activity_id, node))
            return
        for flow_id in node["outgoing"]:
            self.take(flow_id)

    def take(self, flow_id: str) -> None:
        self.enter(self.definition.flow(flow_id)["target"])

    def start(self, instruction: dict) -> None:
        """Place a token as a validated start instruction says (startBeforeActivity, startAfterActivity, startTransition)."""
        if instruction["type"] == "startBeforeActivity":
            self.enter(instruction["activityId"])
        elif instruction["type"] == "startAfterActivity":
            self.take(self.definition.activity(instruction["activityId"])["outgoing"][0])
        else:
            self.take(instruction["transitionId"])

    def _choose_flow(self, activity_id: str, node: dict) -> str:
        variables = self.variables
        for flow_id in node["outgoing"]:
            condition = self.definition.flow(flow_id)["condition"]
            if flow_id == node["default"]:
                continue
            if condition is None or evaluate_condition(condition, variables, flow_id):
                return flow_id
        if node["default"]:
            return node["default"]
        raise BadUserRequest(f"No outgoing sequence flow of exclusive gateway '{activity_id}' could be selected")

    # --- rows ------------------------------------------------------------------------------
    def _history(self, activity_id: str, node: dict, *, activity_instance_id: str, ended: bool) -> None:
        HistoricActivityInstance.objects.create(
            id=activity_instance_id,
            activity_id=activity_id,
            activity_name=node["name"],
            activity_type=node["type"],
            process_definition_id=self.definition.id,
            process_instance_id=self.instance.id,
            start_time=self.now,
            end_time=self.now if ended else None,
            duration_in_millis=0 if ended else None,
            tenant_id=self.instance.tenant_id,
        )

    def _record_passed(self, activity_id: str, node: dict) -> None:
        self._history(activity_id, node, activity_instance_id=new_id(), ended=True)

    def _create_token(self, activity_id: str, node: dict) -> ActivityInstance:
        token = ActivityInstance.objects.create(
            process_instance=self.instance,
            activity_id=activity_id,
            activity_type=node["type"],
            activity_name=node["name"],
            start_time=self.now,
        )
        self._history(activity_id, node, activity_instance_id=token.id, ended=False)
        return token

    def _create_service_job(self, token: ActivityInstance) -> None:
        node = self.definition.activity(token.activity_id)
        if node.get("topic"):
            external_task_of(self.instance, self.definition, token, node, self.now).save(force_insert=True)
            return
        definition = JobDefinition.objects.filter(
            process_definition=self.definition, activity_id=token.activity_id, job_type=ASYNC_CONTINUATION
        ).first()
        job_create(
            job_type=ASYNC_CONTINUATION,
            job_definition=definition,
            process_instance=self.instance,
            process_definition_id=self.definition.id,
            process_definition_key=self.definition.key,
            execution_id=token.id,
            activity_id=token.activity_id,
            tenant_id=self.instance.tenant_id,
            suspended=self.instance.suspended,
        )

    def _subscribe(self, subscription: EventSubscription) -> None:
        subscription.save(force_insert=True)

    def _arrive_at_join(self, activity_id: str, node: dict) -> None:
        self._create_token(activity_id, node)
        needed = len(node["incoming"])
        waiting = list(
            ActivityInstance.objects.filter(process_instance=self.instance, activity_id=activity_id)
            .order_by("start_time", "id")
            .values_list("id", flat=True)[:needed]
        )
        if len(waiting) < needed:
            return
        self.remove_tokens(waiting, canceled=False)
        self.leave(activity_id)

    def remove_tokens(self, token_ids: list[str], *, canceled: bool) -> None:
        """Remove tokens with their jobs, external tasks, subscriptions and incidents, closing their history."""
        tokens_remove(token_ids, self.now, canceled=canceled)

    def record_passed(self, activity_id: str) -> None:
        """History of an event the instance passes now (a triggered boundary event)."""
        self._record_passed(activity_id, self.definition.activity(activity_id))

    # --- the end -----------------------------------------------------------------------------
    def finish(self, *, delete_reason: str | None = None) -> bool:
        """End the instance if no token is left; return whether it ended."""
        if ActivityInstance.objects.filter(process_instance=self.instance).exists():
            return False
        state = (
            HistoricProcessInstance.COMPLETED if self.reached_end else HistoricProcessInstance.EXTERNALLY_TERMINATED
        )
        end_instance(self.instance, state=state, now=self.now, delete_reason=None if self.reached_end else delete_reason)
        return True


def tokens_remove(token_ids: list[str], now: datetime, *, canceled: bool) -> None:
    """Remove tokens (of any instances the caller holds) with their jobs, external tasks,
    subscriptions and incidents, closing their history: a few statements for any number."""
    ids = set(token_ids)
    incidents_remove(Incident.objects.filter(execution_id__in_ids=ids), resolved=False)
    jobs_log_deletions(Job.objects.filter(execution_id__in_ids=ids))
    rows_delete(  # nothing references these rows
        Job.objects.filter(execution_id__in_ids=ids),
        ExternalTask.objects.filter(execution_id__in_ids=ids),
        EventSubscription.objects.filter(execution_id__in_ids=ids),
        ActivityInstance.objects.filter(id__in_ids=ids),
    )
    close_activity_history(ids, now, canceled=canceled)


def subscriptions_of(instance: ProcessInstance, definition: ProcessDefinition, token: ActivityInstance,
                     now: datetime) -> list[EventSubscription]:
    """The (unsaved) message subscriptions of a token that just entered its activity.

    A receive task or an intermediate message catch event waits for its own message; a task waits
    besides for the message of each boundary event attached to it. Each belongs to the token
    (execution_id) and names the activity the message continues from (activity_id), as Camunda's
    ACT_RU_EVENT_SUBSCR rows do.
    """
    node = definition.activity(token.activity_id)
    listening = [token.activity_id] if node["type"] in MESSAGE_WAIT_STATES else []
    listening += node.get("boundaryEvents", [])
    return [
        EventSubscription(
            id=new_id(),
            event_type=EventSubscription.MESSAGE,
            event_name=definition.activity(activity_id)["message"],
            process_instance_id=instance.id,
            execution_id=token.id,
            activity_id=activity_id,
            process_definition_id=definition.id,
            tenant_id=instance.tenant_id,
            created_date=now,
        )
        for activity_id in listening
    ]


def close_activity_history(activity_instance_ids, now: datetime, *, canceled: bool) -> None:
    close_open_activities(HistoricActivityInstance.objects.filter(id__in_ids=set(activity_instance_ids)), now, canceled=canceled)


def close_open_activities(rows, now: datetime, *, canceled: bool) -> None:
    """End the open historic activity instances among rows, in one statement."""
    when = Value(now, output_field=DateTimeField())
    rows.filter(end_time__isnull=True).update(
        end_time=when, duration_in_millis=MillisBetween(F("start_time"), when), canceled=canceled
    )


def end_instance(instance: ProcessInstance, *, state: str, now: datetime, delete_reason: str | None) -> None:
    HistoricProcessInstance.objects.filter(id=instance.id).update(
        state=state,
        end_time=now,
        duration_in_millis=millis_between(instance.start_time, now),
        delete_reason=delete_reason,
    )
    instances_ended([instance.id], now, definition_id=instance.process_definition_id)  # history's removal time
    VariableInstance.objects.filter(process_instance_id=instance.id).delete()
    ProcessInstance.objects.filter(id=instance.id).delete()  # keeps instance.id readable for callers


def external_task_of(instance: ProcessInstance, definition: ProcessDefinition, token: ActivityInstance,
                     node: dict, now: datetime) -> ExternalTask:
    """The (unsaved) external task of a token at an external service task."""
    return ExternalTask(
        id=new_id(),
        topic_name=node["topic"],
        process_instance_id=instance.id,
        execution_id=token.id,
        activity_id=token.activity_id,
        process_definition_id=definition.id,
        process_definition_key=definition.key,
        business_key=instance.business_key,
        tenant_id=instance.tenant_id,
        suspended=instance.suspended,
        create_time=now,
    )


def historic_instance_of(instance: ProcessInstance, *, start_activity_id: str, **extra) -> HistoricProcessInstance:
    """The (unsaved) history row of an instance that starts now, ACTIVE."""
    definition = instance.process_definition
    return HistoricProcessInstance(
        id=instance.id,
        business_key=instance.business_key,
        process_definition_id=definition.id,
        process_definition_key=definition.key,
        process_definition_name=definition.name,
        process_definition_version=definition.version,
        start_time=instance.start_time,
        start_user_id=instance.start_user_id,
        start_activity_id=start_activity_id,
        tenant_id=instance.tenant_id,
        state=HistoricProcessInstance.ACTIVE,
        **extra,
    )


# --- public services ---------------------------------------------------------------------------


def instance_start(
    *,
    definition: ProcessDefinition,
    business_key: str | None = None,
    variables: dict | None = None,
    user_id: str | None = None,
    start_activity_id: str | None = None,
) -> ProcessInstance:
    """Start an instance at the none start event, or at start_activity_id (a message start event)."""
    if definition.suspended:
        raise BadUserRequest(f"Process definition with id '{definition.id}' is suspended")
    start_activity_id = start_activity_id or definition.graph.get("start")
    if start_activity_id is None:
        # Camunda's ProcessDefinitionImpl (ensureNotNull), as its REST resource words it.
        raise NoNoneStartEvent(
            f"Cannot instantiate process definition {definition.id}: Process '{definition.name or 'null'}' has no default "
            "start activity (e.g. none start event), hence you cannot use 'startProcessInstanceBy...' but have to start "
            "it using one of the modeled start events (e.g. message start events): initial is null"
        )
    now = timezone.now()
    with transaction.atomic():
        instance = ProcessInstance.objects.create(
            process_definition=definition,
            business_key=business_key,
            tenant_id=definition.tenant_id,
            start_time=now,
            start_user_id=user_id,
        )
        historic_instance_of(instance, start_activity_id=start_activity_id).save(force_insert=True)
        variables_create(instance=instance, variables=variables or {}, now=now, initial=True)
        operation = Operation(instance=instance, definition=definition, now=now)
        operation.enter(start_activity_id)
        operation.finish()
    return instance


def task_complete(*, task_id: str, variables: dict | None = None, user_id: str | None = None) -> None:
    """Complete a waiting user task (a token of a userTask), merging variables into the instance."""
    with transaction.atomic():
        owner = ActivityInstance.objects.filter(id=task_id).values_list("process_instance_id", flat=True).first()
        instance = instance_lock(owner, related=("process_definition",)) if owner else None
        token = ActivityInstance.objects.filter(id=task_id, activity_type="userTask", process_instance=instance).first()
        if instance is None or token is None:  # gone, or completed by someone else while we waited
            raise NotFound(f"Cannot find task with id {task_id}")
        if instance.suspended:
            raise BadUserRequest(f"Cannot complete task '{task_id}': its process instance is suspended")
        now = timezone.now()
        variables_set(instance=instance, variables=variables or {}, now=now)
        operation = Operation(instance=instance, definition=instance.process_definition, now=now)
        operation.remove_tokens([token.id], canceled=False)
        operation.leave(token.activity_id)
        operation.finish()
        operation_log_write(
            user_id=user_id,
            operation_type="Complete",
            entity_type="Task",
            category=CATEGORY_TASK_WORKER,
            properties={"delete": (False, True)},  # Camunda's CompleteTaskCmd: the task is deleted
            task_id=task_id,
            process_instance_id=instance.id,
            process_definition_id=instance.process_definition_id,
            tenant_id=instance.tenant_id,
        )


def execute_async_continuation(job: Job) -> None:
    """Continue a service task's token. The job executor holds the instance's lock (engine.locking)."""
    token = (
        ActivityInstance.objects.select_related("process_instance__process_definition")
        .filter(id=job.execution_id)
        .first()
    )
    if token is None:
        return  # the token was moved away meanwhile; nothing left to continue
    instance = token.process_instance
    definition = instance.process_definition
    node = definition.activity(token.activity_id)
    operation = Operation(instance=instance, definition=definition)
    fail_variable = node.get("failWhen")
    if fail_variable and is_truthy(operation.variables, fail_variable):
        raise ServiceTaskFailed(
            f"Service task '{token.activity_id}' failed: process variable '{fail_variable}' is set"
        )
    EventSubscription.objects.filter(execution_id=token.id).delete()  # its boundary events' messages
    ActivityInstance.objects.filter(id=token.id).delete()
    close_activity_history([token.id], operation.now, canceled=False)
    operation.leave(token.activity_id)
    operation.finish()


register_job_handler(ASYNC_CONTINUATION, execute_async_continuation)
