"""Message correlation: deliver a message to the executions (tokens) and message start events waiting for it.

Camunda 7's semantics (DefaultCorrelationHandler, CorrelateMessageCmd, CorrelateAllMessageCmd):

- A message first goes to *executions*: tokens with a message subscription of that name
  (EventSubscription rows: intermediate catch events, receive tasks, message boundary events),
  of active (not suspended) instances, filtered by business key, process instance id, tenant and
  correlation keys (process variables that must equal the given values). Several subscriptions
  of one token are one match (Camunda's ExecutionQuery returns executions).
- Only when no execution matches (and executions are not the only target) does it start a new
  instance at a message start event of the latest version of an active definition; business key,
  instance id and correlation keys do not restrict that (Camunda's correlateStartMessages).
- Without ``all``, more than one execution (or definition) matching is an error; with ``all``
  every match is triggered.

The concurrency rule (engine.locking): the candidate instances are found, then locked in id
order, then their subscriptions are read again; only what still waits once the lock is held is
triggered. Two correlations of one subscription queue on the instance row and the second finds
the subscription gone: the message is delivered once.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from engine.bpmn import message_starts
from engine.errors import BadUserRequest, BadUserRequestException, EngineRefusal, NotAuthorized
from engine.locking import instances_lock
from engine.models import EventSubscription, ProcessDefinition, ProcessInstance, VariableInstance, new_id
from engine.services.lifecycle import NOT_RUNNING, ChunkResult
from engine.services.oplog import operation_log_write
from engine.services.runtime import Operation, instance_start, tokens_remove
from engine.services.variables import variables_of, variables_set_many
from engine.tenancy import tenant_q
from engine.variable_filters import VariableCondition, variables_condition

MESSAGE = EventSubscription.MESSAGE
EXECUTION = "Execution"
PROCESS_DEFINITION = "ProcessDefinition"
CORRELATE_MESSAGE = "CorrelateMessage"  # Camunda's UserOperationLogEntry.OPERATION_TYPE_CORRELATE_MESSAGE

# Camunda's messages (MismatchingMessageCorrelationException, CommandLogger, BpmnParseLogger).
NO_MATCH = "No process definition or execution matches the parameters"
TO_SINGLE_EXECUTION = (
    "ENGINE-13031 Cannot correlate a message with name '{name}' to a single execution. "
    "{count} executions match the correlation keys: {correlation}"
)
TO_SINGLE_DEFINITION = (
    "ENGINE-13030 Cannot correlate a message with name '{name}' to a single process definition. "
    "{count} process definitions match the correlations keys: {correlation}"
)
INSTANCE_AND_TENANT = "ENGINE-13028 Cannot specify a tenant-id when correlate a message to a single process instance."
SAME_START_MESSAGE = (
    "ENGINE-01011 Cannot deploy process definition '{resource}': there already is a message event subscription "
    "for the message with name '{name}'."
)
# Batch items (correlate-message): an instance the message does not reach. Camunda's batch job
# correlates each instance with CorrelateAllMessageCmd, which returns no result for it and raises
# nothing (MessageCorrelationBatchJobHandler): the item is not an error, so it is SKIPPED, with the reason.
NO_SUBSCRIPTION = "no execution of the process instance waits for message '{name}'"
SUSPENDED = "the process instance is suspended: its executions do not receive messages (Camunda correlates to active executions only)"


class MismatchingMessageCorrelation(BadUserRequest):
    """Camunda's MismatchingMessageCorrelationException as its REST API answers it: MessageRestServiceImpl
    wraps it in a RestException(BAD_REQUEST, cause), whose message is the cause's toString()."""

    type_name = "RestException"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"org.camunda.bpm.engine.MismatchingMessageCorrelationException: {reason}")


def mismatch(name: str, reason: str) -> MismatchingMessageCorrelation:
    return MismatchingMessageCorrelation(f"Cannot correlate message '{name}': {reason}")


@dataclass
class Correlation:
    """What a message is correlated by (Camunda's CorrelationSet) and what it carries."""

    message_name: str
    business_key: str | None = None
    process_instance_id: str | None = None
    tenant_id: str | None = None
    tenant_set: bool = False  # tenantId given, or withoutTenantId (then tenant_id is None)
    correlation_keys: dict = field(default_factory=dict)  # typed, {"name": {"value", "type"}}
    local_correlation_keys: dict = field(default_factory=dict)
    variables: dict = field(default_factory=dict)  # typed payload: processVariables, …Local, …ToTriggeredScope merged
    variables_count: int = 0  # how many payload variables were given (Camunda's nrOfVariables)
    executions_only: bool = False

    def describe(self) -> str:
        """Camunda's CorrelationSet.toString(), for its error messages."""
        def java_map(typed: dict) -> str | None:
            if not typed:
                return None
            return "{" + ", ".join(f"{k}={v.get('value')}" for k, v in typed.items()) + "}"

        return (
            f"CorrelationSet [businessKey={self.business_key}, processInstanceId={self.process_instance_id}, "
            f"processDefinitionId=None, correlationKeys={java_map(self.correlation_keys)}, "
            f"localCorrelationKeys={java_map(self.local_correlation_keys)}, tenantId={self.tenant_id}, "
            f"isTenantIdSet={str(self.tenant_set).lower()}, isExecutionsOnly={str(self.executions_only).lower()}]"
        ).replace("=None", "=null")


@dataclass(frozen=True)
class Match:
    """One execution a message reaches: its token and the subscription that fires."""

    subscription_id: str
    instance_id: str
    execution_id: str
    activity_id: str


@dataclass
class CorrelationResult:
    """Camunda's MessageCorrelationResult(WithVariables)."""

    result_type: str
    instance: ProcessInstance
    execution_id: str | None = None
    ended: bool = False
    variables: dict | None = None


# --- reading ----------------------------------------------------------------------------------


def _key_conditions(typed: dict, where: str) -> list[VariableCondition]:
    """Correlation keys as the typed equality conditions of the variable filters."""
    conditions = []
    for name, entry in typed.items():
        kind = entry["type"]
        if kind in ("Json", "Object"):
            raise BadUserRequest(f"Cannot deliver message: {where}.{name}: variables of type {kind} cannot be used to correlate")
        # A String key stays a string; a Date key compares as a date (its normalised text).
        conditions.append(VariableCondition(name, "eq", entry.get("value"), dates=kind == "Date"))
    return conditions


def _execution_subscriptions(correlation: Correlation, user) -> QuerySet:
    """The message subscriptions of active instance tokens that the correlation matches (unlocked)."""
    rows = EventSubscription.objects.filter(
        event_type=MESSAGE, event_name=correlation.message_name, process_instance__isnull=False,
        process_instance__suspended=False,
    )
    if user is not None:
        rows = rows.filter(tenant_q(user))
    if correlation.business_key is not None:
        rows = rows.filter(process_instance__business_key=correlation.business_key)
    if correlation.process_instance_id is not None:
        rows = rows.filter(process_instance_id=correlation.process_instance_id)
    if correlation.tenant_set:
        rows = rows.filter(tenant_id=correlation.tenant_id)  # None: without tenant (IS NULL)
    # This engine keeps every variable at process scope, so local correlation keys compare with
    # the instance's variables too (what Camunda does for a token that is the instance's own execution).
    conditions = _key_conditions(correlation.correlation_keys, "correlationKeys")
    conditions += _key_conditions(correlation.local_correlation_keys, "localCorrelationKeys")
    if conditions:
        rows = rows.filter(process_instance__in=ProcessInstance.objects.filter(variables_condition(VariableInstance, conditions)))
    return rows


def _matches(rows: QuerySet) -> list[Match]:
    """One match per token (execution), its first subscription (creation order) firing."""
    found: dict[str, Match] = {}
    for sub_id, instance_id, execution_id, activity_id in rows.order_by("created_date", "id").values_list(
        "id", "process_instance_id", "execution_id", "activity_id"
    ):
        found.setdefault(execution_id, Match(sub_id, instance_id, execution_id, activity_id))
    return sorted(found.values(), key=lambda m: (m.instance_id, m.execution_id))


def _start_subscriptions(correlation: Correlation, user) -> list[EventSubscription]:
    """Message start event subscriptions (latest versions) of active definitions matching the message."""
    rows = EventSubscription.objects.filter(event_type=MESSAGE, event_name=correlation.message_name, process_instance__isnull=True)
    if user is not None:
        rows = rows.filter(tenant_q(user))
    if correlation.tenant_set:
        rows = rows.filter(tenant_id=correlation.tenant_id)
    active = ProcessDefinition.objects.filter(suspended=False).values("id")
    return list(rows.filter(configuration__in=active).order_by("created_date", "id"))


# --- triggering -------------------------------------------------------------------------------


def _trigger(matches: list[Match], variables: dict, now: datetime, *, snapshot: bool = False) -> dict[str, tuple[bool, dict | None]]:
    """Continue the matched tokens of instances the caller holds locked; {instance id: (ended, variables)}.

    A few statements for the whole set (the payload variables per definition, the tokens' removal),
    then each instance walks on from the activity the message continues: the catch event or receive
    task itself, or the boundary event, whose host task is cancelled (with its job, external task,
    incidents and other subscriptions).
    """
    instances = {
        i.id: i
        for i in ProcessInstance.objects.filter(id__in_ids={m.instance_id for m in matches}).select_related("process_definition")
    }
    matches = [m for m in matches if m.instance_id in instances]
    if variables:
        by_definition: dict[str, set[str]] = defaultdict(set)
        for instance_id in {m.instance_id for m in matches}:
            by_definition[instances[instance_id].process_definition_id].add(instance_id)
        for ids in by_definition.values():
            definition = instances[next(iter(ids))].process_definition
            variables_set_many(instance_ids=ids, definition=definition, variables=variables, now=now)

    def boundary(match: Match) -> bool:
        node = instances[match.instance_id].process_definition.activity(match.activity_id)
        return node is not None and node["type"] == "boundaryEvent"

    tokens_remove([m.execution_id for m in matches if boundary(m)], now, canceled=True)  # interrupted hosts
    tokens_remove([m.execution_id for m in matches if not boundary(m)], now, canceled=False)
    grouped: dict[str, list[Match]] = defaultdict(list)
    for match in matches:
        grouped[match.instance_id].append(match)
    outcome = {}
    for instance_id, group in grouped.items():
        instance = instances[instance_id]
        seen = variables_of(instance_id) if snapshot else None  # the walk itself changes no variable
        operation = Operation(instance=instance, definition=instance.process_definition, now=now)
        for match in group:
            if boundary(match):
                operation.record_passed(match.activity_id)
            operation.leave(match.activity_id)
        outcome[instance_id] = (operation.finish(), seen)
    return outcome


def _check_permission(user, permission: str) -> None:
    if user is not None and not user.has_perm(permission):
        raise NotAuthorized(f"The user with id '{user.get_username()}' does not have permission '{permission}'")


def message_correlate(*, correlation: Correlation, all: bool = False, user=None, with_variables: bool = False,
                      user_id: str | None = None) -> list[CorrelationResult]:
    """Correlate one message (POST /message); raise MismatchingMessageCorrelation when it reaches nothing.

    user: whose tenants the message may reach and whose permissions it needs (None: the engine's own call).
    """
    if correlation.process_instance_id is not None and correlation.tenant_set:
        raise BadUserRequestException(INSTANCE_AND_TENANT)
    now = timezone.now()
    name = correlation.message_name
    with transaction.atomic():
        candidates = _execution_subscriptions(correlation, user)
        if all:
            locked = instances_lock(set(candidates.order_by().values_list("process_instance_id", flat=True).distinct()))
        else:
            executions = candidates.order_by().values_list("execution_id", flat=True).distinct()
            first = list(executions[:2])
            if len(first) > 1:  # two executions wait in the snapshot this statement read: an error, as in Camunda
                raise MismatchingMessageCorrelation(TO_SINGLE_EXECUTION.format(
                    name=name, count=executions.count(), correlation=correlation.describe()))
            locked = instances_lock(set(candidates.filter(execution_id__in=first).values_list("process_instance_id", flat=True)))
        # Only what still waits once the instances are held is triggered (another correlation may have been first).
        matches = _matches(candidates.filter(process_instance_id__in_ids=locked)) if locked else []
        if not all and len(matches) > 1:
            raise MismatchingMessageCorrelation(TO_SINGLE_EXECUTION.format(name=name, count=len(matches), correlation=correlation.describe()))
        starts = [] if correlation.executions_only or (matches and not all) else _start_subscriptions(correlation, user)
        if not all and len(starts) > 1:
            raise MismatchingMessageCorrelation(TO_SINGLE_DEFINITION.format(name=name, count=len(starts), correlation=correlation.describe()))
        if not matches and not starts and not all:  # with `all`, nothing reached is no error (CorrelateAllMessageCmd)
            raise mismatch(name, NO_MATCH)
        # Camunda's checkAuthorization: update for an execution, create for a new instance.
        if matches:
            _check_permission(user, "engine.change_processinstance")
        if starts:
            _check_permission(user, "engine.add_processinstance")
        results = []
        outcome = _trigger(matches, correlation.variables, now, snapshot=with_variables)
        instances = {i.id: i for i in ProcessInstance.objects.filter(id__in_ids={m.instance_id for m in matches})}
        for match in matches:
            ended, seen = outcome[match.instance_id]
            instance = instances.get(match.instance_id) or _ended_instance(match.instance_id)
            results.append(CorrelationResult(EXECUTION, instance, match.execution_id, ended, seen))
        for subscription in starts:
            definition = ProcessDefinition.objects.get(id=subscription.configuration)
            instance = instance_start(
                definition=definition, business_key=correlation.business_key, variables=correlation.variables,
                user_id=user_id, start_activity_id=subscription.activity_id,
            )
            ended = not ProcessInstance.objects.filter(id=instance.id).exists()
            results.append(CorrelationResult(PROCESS_DEFINITION, instance, None, ended, dict(correlation.variables) if with_variables else None))
        if all:
            _log_correlate_all(correlation, results, user_id)
    return results


def _ended_instance(instance_id: str) -> ProcessInstance:
    """The instance as it was: its row is gone when the message ended it."""
    from engine.models import HistoricProcessInstance

    history = HistoricProcessInstance.objects.get(id=instance_id)
    return ProcessInstance(
        id=instance_id, process_definition_id=history.process_definition_id, business_key=history.business_key,
        tenant_id=history.tenant_id, start_time=history.start_time,
    )


def _log_correlate_all(correlation: Correlation, results: list[CorrelationResult], user_id: str | None) -> None:
    """Camunda's CorrelateAllMessageCmd (SynchronousOperationLogProducer with its default limit of 1):
    one entry for one result, one summary for several, none for none. Camunda writes no entry for a
    correlation without `all` (CorrelateMessageCmd), and neither does this engine."""
    if not results:
        return
    properties: dict = {"messageName": (None, correlation.message_name)}
    if correlation.variables_count:
        properties["nrOfVariables"] = (None, correlation.variables_count)
    first = results[0].instance
    if len(results) == 1:
        properties["processInstanceId"] = (None, first.id)
        refs = {"process_instance_id": first.id}
    else:
        properties["nrOfInstances"] = (None, len(results))
        refs = {}
    operation_log_write(
        user_id=user_id, operation_type=CORRELATE_MESSAGE, entity_type="ProcessInstance", properties=properties,
        process_definition_id=first.process_definition_id, **refs,
    )


# --- the correlate-message batch --------------------------------------------------------------


def instances_correlate(*, instance_ids: list[str], message_name: str, variables: dict | None = None,
                        now: datetime | None = None) -> ChunkResult:
    """Correlate a message to each of a chunk of instances, set-based (Camunda's batch: each instance's
    waiting executions, correlate-all, executions only). An instance the message does not reach is SKIPPED
    with the reason."""
    result = ChunkResult()
    now = now or timezone.now()
    with transaction.atomic():
        running = instances_lock(instance_ids)
        result.skipped = {i: NOT_RUNNING for i in instance_ids if i not in running}
        rows = EventSubscription.objects.filter(process_instance_id__in_ids=running, event_type=MESSAGE, event_name=message_name)
        matches = _matches(rows)
        suspended = set(ProcessInstance.objects.filter(id__in_ids=running, suspended=True).values_list("id", flat=True))
        reached = {m.instance_id for m in matches} - suspended
        for instance_id in instance_ids:
            if instance_id in running and instance_id not in reached:
                result.skipped[instance_id] = SUSPENDED if instance_id in suspended else NO_SUBSCRIPTION.format(name=message_name)
        _trigger([m for m in matches if m.instance_id in reached], variables or {}, now)
        result.changed = [i for i in instance_ids if i in reached]
    return result


def subscribed_instances(instances: QuerySet, message_name: str) -> QuerySet:
    """The active instances among these that a message of that name reaches (the wizard's count)."""
    waiting = EventSubscription.objects.filter(event_type=MESSAGE, event_name=message_name, process_instance__isnull=False)
    return instances.filter(suspended=False, id__in=waiting.values("process_instance_id"))


# --- message start events at deployment -------------------------------------------------------


def start_subscriptions_deploy(definition: ProcessDefinition) -> None:
    """The new latest version takes over its key's message start subscriptions (Camunda's BpmnDeployer):
    the previous versions' are removed, one per message start event of this version is added. A
    message name that another process of the tenant already starts by is refused (ENGINE-01011)."""
    previous = ProcessDefinition.objects.filter(key=definition.key, tenant_id=definition.tenant_id).exclude(id=definition.id)
    EventSubscription.objects.filter(
        event_type=MESSAGE, process_instance__isnull=True, configuration__in=list(previous.values_list("id", flat=True))
    ).delete()
    rows = []
    for activity_id, name in sorted(message_starts(definition.graph).items()):
        taken = EventSubscription.objects.filter(
            event_type=MESSAGE, process_instance__isnull=True, event_name=name, tenant_id=definition.tenant_id
        )
        if taken.exists():
            raise EngineRefusal(SAME_START_MESSAGE.format(resource=definition.resource_name, name=name))
        rows.append(EventSubscription(
            id=new_id(), event_type=MESSAGE, event_name=name, activity_id=activity_id,
            process_definition_id=definition.id, configuration=definition.id, tenant_id=definition.tenant_id,
            created_date=timezone.now(),
        ))
    EventSubscription.objects.bulk_create(rows)

