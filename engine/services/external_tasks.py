"""External tasks: what Camunda's workers fetch, lock, complete and fail, and what operators retry.

An external service task (camunda:type="external") leaves its token waiting with an ExternalTask row
(engine.services.runtime creates it). A worker fetches and locks rows of its topics
(``fetch_and_lock``), then completes the task (the token continues, as a completed user task does)
or reports a failure (retries count down; at 0 a ``failedExternalTask`` incident). Every function
here is the one service that REST, the Cockpit and the admin call, with Camunda's rules and messages
(ExternalTaskEntity and the external task commands of camunda-bpm-platform).

Locks (engine.locking): completing, failing, extending, unlocking and setting retries or priority
lock the task's instance first, then the task row, and only then read the task. Fetching is the one
writer that does not take the instance: it changes nothing but the lock columns of the rows it
takes, and it takes them ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) in one statement, so it never
waits for anybody and cannot close a lock cycle; two workers never lock the same row, and a row
that a writer of its instance holds is simply left for the next fetch. Those writers re-read the
row once they hold it, so they always see the fetch's lock if it committed first.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from defusedxml import ElementTree as SafeET
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from engine.bpmn import CAMUNDA_NS
from engine.errors import BadUserRequest, BadUserRequestException, EngineRefusal, NotFound
from engine.locking import instance_lock, instances_lock
from engine.models import (
    ExternalTask,
    HistoricIncident,
    Incident,
    ProcessDefinition,
    ProcessInstance,
    VariableInstance,
    new_id,
)
from engine.selectors import visible
from engine.services.incidents import FAILED_EXTERNAL_TASK, historic_incident_for, incident_record, incidents_remove
from engine.services.oplog import operation_log_write
from engine.services.runtime import Operation
from engine.services.variables import variables_set
from engine.variable_filters import VariableCondition, variables_condition
from engine.variables import typed_value

ENTITY_TYPE = "ExternalTask"  # Camunda's EntityTypes.EXTERNAL_TASK
# Camunda's ExternalTaskEntity.MAX_EXCEPTION_MESSAGE_LENGTH: longer error messages are cut.
MAX_ERROR_MESSAGE_LENGTH = 666
# Camunda's FetchAndLockHandlerImpl.MAX_REQUEST_TIMEOUT: a longer asyncResponseTimeout is a 400.
MAX_ASYNC_RESPONSE_TIMEOUT = 1_800_000


# --- Camunda's errors ----------------------------------------------------------------------------


class RestNotFound(NotFound):
    """Camunda's REST layer turns the engine's NotFoundException into a RestException (404)."""

    type_name = "RestException"


class RestBadRequest(BadUserRequest):
    """... and its BadUserRequestException into a RestException (400), keeping the message."""

    type_name = "RestException"


class NullValue(BadUserRequest):
    """EnsureUtil.ensureNotNull's NullValueException; Camunda answers it with 500, here a 400."""

    type_name = "NullValueException"


class SuspendedEntity(BadUserRequest):
    """Camunda's SuspendedEntityInteractionException (500 there), a 400 here."""

    type_name = "SuspendedEntityInteractionException"


def not_found(task_id: str) -> RestNotFound:
    return RestNotFound(f"External task with id {task_id} does not exist")


def _suspended(task_id: str) -> SuspendedEntity:
    return SuspendedEntity(f"ENGINE-03043 ExternalTask with id '{task_id}' is suspended.")


def _require_worker(worker_id: str | None) -> str:
    if worker_id is None:
        raise NullValue("workerId is null")
    return worker_id


def _later(now: datetime, millis: int, name: str) -> datetime:
    try:
        return now + timedelta(milliseconds=millis)
    except OverflowError:
        raise BadUserRequest(f"{name}: {millis} milliseconds from now is beyond the dates this engine stores") from None


# --- fetch and lock ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicRequest:
    """One entry of fetchAndLock's topics (Camunda's FetchExternalTaskTopicDto), validated."""

    topic_name: str
    lock_duration: int  # milliseconds, > 0
    variables: tuple[str, ...] | None = None  # None: every variable; (): none
    business_key: str | None = None
    process_definition_id: str | None = None
    process_definition_ids: tuple[str, ...] | None = None
    process_definition_key: str | None = None
    process_definition_keys: tuple[str, ...] | None = None
    process_definition_version_tag: str | None = None
    tenant_ids: tuple[str, ...] | None = None
    without_tenant_id: bool = False
    process_variables: tuple[tuple[str, object], ...] = ()
    include_extension_properties: bool = False


@dataclass(frozen=True)
class FetchRequest:
    """POST /external-task/fetchAndLock, validated (Camunda's FetchExternalTasksExtendedDto)."""

    worker_id: str
    max_tasks: int
    topics: tuple[TopicRequest, ...]
    use_priority: bool = False
    create_time_order: tuple[str, ...] = ()  # "asc"/"desc" per sorting entry (Camunda sorts by createTime only)
    include_extension_properties: bool = False
    async_response_timeout: int | None = None  # milliseconds; None answers at once

    @property
    def by_topic(self) -> dict[str, TopicRequest]:
        # Camunda keeps the instructions in a map by topic name: a repeated topic's last entry wins.
        return {topic.topic_name: topic for topic in self.topics}


@dataclass
class LockedTask:
    """A task a fetch locked, with what the worker asked to receive (Camunda's LockedExternalTask)."""

    task: ExternalTask
    variables: dict = field(default_factory=dict)
    extension_properties: dict = field(default_factory=dict)


def fetchable(user, now: datetime) -> QuerySet:
    """Tasks a worker may lock now: active, not locked (or the lock expired), retries left."""
    return (
        visible(ExternalTask, user)
        .filter(suspended=False)
        .filter(Q(lock_expiration_time__isnull=True) | Q(lock_expiration_time__lte=now))
        .filter(Q(retries__isnull=True) | Q(retries__gt=0))
    )


def _topic_condition(topic: TopicRequest) -> Q:
    """Camunda's selectExternalTasksForTopics conditions of one topic."""
    condition = Q(topic_name=topic.topic_name)
    if topic.business_key:
        condition &= Q(process_instance__business_key=topic.business_key)
    if topic.process_definition_id is not None:
        condition &= Q(process_definition_id=topic.process_definition_id)
    if topic.process_definition_ids:
        condition &= Q(process_definition_id__in=topic.process_definition_ids)
    if topic.process_definition_key is not None:
        condition &= Q(process_definition_key=topic.process_definition_key)
    if topic.process_definition_keys:
        condition &= Q(process_definition_key__in=topic.process_definition_keys)
    if topic.tenant_ids is not None:
        condition &= Q(tenant_id__in=topic.tenant_ids)
    elif topic.without_tenant_id:
        condition &= Q(tenant_id__isnull=True)
    if topic.process_variables:
        # Camunda ORs the variables of processVariables: an instance with any one of them matches.
        either = Q()
        for name, value in topic.process_variables:
            either |= variables_condition(VariableInstance, [VariableCondition(name, "eq", value, dates=False)])
        condition &= Q(process_instance_id__in=ProcessInstance.objects.filter(either).values("pk"))
    if topic.process_definition_version_tag is not None:
        condition &= Q(pk__in=[])  # no definition of this engine has a version tag
    return condition


def _candidates(request: FetchRequest, user, now: datetime) -> QuerySet:
    condition = Q(pk__in=[])
    for topic in request.by_topic.values():
        condition |= _topic_condition(topic)
    order = [F("priority").desc()] if request.use_priority else []
    order += [F("create_time").desc() if direction == "desc" else F("create_time").asc() for direction in request.create_time_order]
    return fetchable(user, now).filter(condition).order_by(*order, "id")


def fetch_and_lock(request: FetchRequest, user) -> list[LockedTask]:
    """Lock up to max_tasks fetchable tasks of the requested topics for the worker; return them."""
    if not request.topics or request.max_tasks == 0:
        return []  # Camunda's ExternalTaskManager: no topic, no task
    now = timezone.now()
    by_topic = request.by_topic
    expirations = {name: _later(now, topic.lock_duration, "lockDuration") for name, topic in by_topic.items()}
    with transaction.atomic():
        chosen = list(
            _candidates(request, user, now)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", "topic_name")[: request.max_tasks]
        )
        if not chosen:
            return []
        for name in {topic_name for _, topic_name in chosen}:
            ids = {task_id for task_id, topic_name in chosen if topic_name == name}
            ExternalTask.objects.filter(id__in_ids=ids).update(worker_id=request.worker_id, lock_expiration_time=expirations[name])
        rows = {t.id: t for t in ExternalTask.objects.filter(id__in_ids={task_id for task_id, _ in chosen})}
        locked = [LockedTask(task=rows[task_id]) for task_id, _ in chosen]
        _attach_variables(locked, by_topic)
        for item in locked:
            topic = by_topic[item.task.topic_name]
            if topic.include_extension_properties or request.include_extension_properties:
                item.extension_properties = extension_properties(item.task.process_definition_id, item.task.activity_id)
    return locked


def _attach_variables(locked: list[LockedTask], by_topic: dict[str, TopicRequest]) -> None:
    """Each task's process variables (all, or the topic's names), one query per topic."""
    for name, topic in by_topic.items():
        items = [item for item in locked if item.task.topic_name == name]
        if not items or topic.variables == ():
            continue
        rows = VariableInstance.objects.filter(process_instance_id__in_ids={i.task.process_instance_id for i in items})
        if topic.variables is not None:
            rows = rows.filter(name__in=topic.variables)
        values: dict[str, dict] = {}
        for row in rows.order_by("process_instance_id", "name"):
            values.setdefault(row.process_instance_id, {})[row.name] = typed_value(row)
        for item in items:
            item.variables = values.get(item.task.process_instance_id, {})


def fetchable_exists(request: FetchRequest, user) -> bool:
    """Whether a fetch would find something now: a read outside any transaction (no write lock)."""
    if not request.topics or request.max_tasks == 0:
        return False
    return _candidates(request, user, timezone.now()).order_by().exists()


def fetch_and_lock_waiting(
    request: FetchRequest,
    user,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[LockedTask]:
    """fetchAndLock with long polling: answer as soon as tasks are locked, or empty at the timeout.

    The wait is bounded by EXTERNAL_TASK_LONG_POLL_MAX_SECONDS (a web worker is held meanwhile;
    a worker that gets an empty answer simply asks again, as after Camunda's own timeout). While
    waiting, a cheap read checks every EXTERNAL_TASK_LONG_POLL_INTERVAL_MS whether a fetch would
    find something; only then is the write transaction started.
    """
    locked = fetch_and_lock(request, user)
    if locked or request.async_response_timeout is None:
        return locked
    wait = min(request.async_response_timeout / 1000, settings.EXTERNAL_TASK_LONG_POLL_MAX_SECONDS)
    interval = max(settings.EXTERNAL_TASK_LONG_POLL_INTERVAL_MS, 10) / 1000
    deadline = clock() + wait
    while clock() < deadline:
        sleep(min(interval, max(deadline - clock(), 0)))
        if fetchable_exists(request, user):
            locked = fetch_and_lock(request, user)
            if locked:  # another worker may have taken them first: then wait on
                return locked
    return []


@lru_cache(maxsize=256)
def _definition_properties(definition_id: str) -> dict[str, dict[str, str]]:
    """{activity id: {name: value}} of camunda:properties in a definition's BPMN (immutable per id)."""
    row = ProcessDefinition.objects.filter(id=definition_id).values_list("key", "bpmn_xml").first()
    if row is None:
        return {}
    key, xml = row
    root = SafeET.fromstring(xml.encode(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    found: dict[str, dict[str, str]] = {}
    for process in root:
        if process.tag.rsplit("}", 1)[-1] != "process" or process.get("id") != key:
            continue
        for element in process.iter():
            properties = element.find(f"{{*}}extensionElements/{{{CAMUNDA_NS}}}properties")
            if element.get("id") and properties is not None:
                found[element.get("id")] = {
                    p.get("name"): p.get("value") for p in properties.findall(f"{{{CAMUNDA_NS}}}property") if p.get("name")
                }
    return found


def extension_properties(definition_id: str, activity_id: str) -> dict[str, str]:
    """The camunda:properties of an activity (Camunda's extensionProperties of a locked task)."""
    return dict(_definition_properties(definition_id).get(activity_id, {}))


# --- one task: the writer's locks ------------------------------------------------------------------


def _lock_task(task_id: str, user) -> tuple[ProcessInstance, ExternalTask]:
    """Lock the task's instance, then the task row (engine.locking); 404 if gone or not visible."""
    owner = visible(ExternalTask, user).filter(id=task_id).values_list("process_instance_id", flat=True).first()
    instance = instance_lock(owner, related=("process_definition",)) if owner else None
    task = ExternalTask.objects.select_for_update().filter(id=task_id, process_instance_id=owner).first()
    if instance is None or task is None:  # gone, or completed by another writer while we waited
        raise not_found(task_id)
    return instance, task


def _log(task: ExternalTask, operation_type: str, user_id: str | None, properties: dict | None = None) -> None:
    """Camunda's UserOperationLogManager.logExternalTaskOperation: the task's instance and definition."""
    operation_log_write(
        user_id=user_id,
        operation_type=operation_type,
        entity_type=ENTITY_TYPE,
        properties=properties,
        process_instance_id=task.process_instance_id,
        process_definition_id=task.process_definition_id,
        process_definition_key=task.process_definition_key,
        deployment_id=ProcessDefinition.objects.filter(id=task.process_definition_id).values_list("deployment_id", flat=True).first(),
        tenant_id=task.tenant_id,
    )


def _lock_held_task(task_id: str, worker_id: str, user, refusal: str) -> tuple[ProcessInstance, ExternalTask]:
    """Lock a task that worker_id holds and that is not suspended (complete, failure, extendLock)."""
    instance, task = _lock_task(task_id, user)
    if task.worker_id != worker_id:
        raise wrong_worker(task, refusal)
    if task.suspended:
        raise _suspended(task_id)
    return instance, task


def wrong_worker(task: ExternalTask, what: str) -> RestBadRequest:
    # HandleExternalTaskCmd: "<what>'. It is locked by worker '<owner>'." (the doubled quote is Camunda's).
    owner = "null" if task.worker_id is None else task.worker_id  # Java's string concatenation of null
    return RestBadRequest(f"{what}'. It is locked by worker '{owner}'.")


def _refuse_local_variables(local_variables: dict | None) -> None:
    if local_variables:
        raise BadUserRequest(
            "localVariables: this engine keeps variables per process instance only (no execution-local "
            "variables); send them as variables"
        )


def external_task_complete(
    *, task_id: str, worker_id: str | None, variables: dict | None, local_variables: dict | None, user
) -> None:
    """POST /external-task/{id}/complete: the worker that holds the task completes it; the token continues."""
    worker_id = _require_worker(worker_id)
    _refuse_local_variables(local_variables)
    with transaction.atomic():
        instance, task = _lock_held_task(task_id, worker_id, user, f"External Task {task_id} cannot be completed by worker '{worker_id}")
        now = timezone.now()
        variables_set(instance=instance, variables=variables or {}, now=now)
        # Camunda resolves the task's incidents when it completes (deleteFromExecutionAndRuntimeTable(true)).
        incidents_remove(Incident.objects.filter(configuration=task.id, incident_type=FAILED_EXTERNAL_TASK), resolved=True)
        operation = Operation(instance=instance, definition=instance.process_definition, now=now)
        operation.remove_tokens([task.execution_id], canceled=False)
        operation.leave(task.activity_id)
        operation.finish()


def external_task_failure(
    *,
    task_id: str,
    worker_id: str | None,
    error_message: str | None,
    error_details: str | None,
    retries: int,
    retry_timeout: int,
    variables: dict | None,
    local_variables: dict | None,
    user,
) -> None:
    """POST /external-task/{id}/failure: retries as the worker says, locked for retryTimeout; an incident at 0."""
    worker_id = _require_worker(worker_id)
    if retries < 0:
        raise EngineRefusal("retries is not greater than or equal to 0")
    if retry_timeout < 0:
        raise EngineRefusal("retryDuration is not greater than or equal to 0")
    _refuse_local_variables(local_variables)
    with transaction.atomic():
        instance, task = _lock_held_task(task_id, worker_id, user, f"Failure of External Task {task_id} cannot be reported by worker '{worker_id}")
        now = timezone.now()
        variables_set(instance=instance, variables=variables or {}, now=now)
        task.error_message = None if error_message is None else error_message[:MAX_ERROR_MESSAGE_LENGTH]
        if error_details is not None:  # Camunda keeps the previous details when none are sent
            task.error_details = error_details
        task.lock_expiration_time = _later(now, retry_timeout, "retryTimeout")  # the worker keeps it until then
        _set_retries_managing_incidents(task, retries, now)
        task.save(update_fields=["error_message", "error_details", "lock_expiration_time", "retries"])


def _set_retries_managing_incidents(task: ExternalTask, retries: int, now: datetime) -> None:
    """Camunda's setRetriesAndManageIncidents: an incident when the last retry goes, resolved when retries come back."""
    had_retries = task.retries is None or task.retries > 0
    if had_retries and retries <= 0:
        _incident_for(task, now)
    elif not had_retries and retries > 0:
        incidents_remove(Incident.objects.filter(configuration=task.id, incident_type=FAILED_EXTERNAL_TASK), resolved=True)
    task.retries = retries


def external_task_incident(task: ExternalTask, now: datetime) -> Incident:
    """The (unsaved) failedExternalTask incident of a task without retries, with its error message."""
    return Incident(
        id=new_id(),
        incident_type=FAILED_EXTERNAL_TASK,
        incident_timestamp=now,
        incident_message=task.error_message or "",
        process_instance_id=task.process_instance_id,
        process_definition_id=task.process_definition_id,
        execution_id=task.execution_id,
        activity_id=task.activity_id,
        configuration=task.id,
        tenant_id=task.tenant_id,
    )


def _incident_for(task: ExternalTask, now: datetime) -> None:
    if Incident.objects.filter(configuration=task.id, incident_type=FAILED_EXTERNAL_TASK).exists():
        return
    incident_record(external_task_incident(task, now))


def external_task_extend_lock(*, task_id: str, worker_id: str | None, new_duration: int, user) -> None:
    """POST /external-task/{id}/extendLock: the holder of an unexpired lock moves its expiry to now + newDuration."""
    if new_duration <= 0:  # ExtendLockOnExternalTaskCmd checks it before anything else
        raise RestBadRequest("lockTime is not greater than 0")
    worker_id = _require_worker(worker_id)
    with transaction.atomic():
        _, task = _lock_held_task(task_id, worker_id, user, f"The lock of the External Task {task_id} cannot be extended by worker '{worker_id}'")
        now = timezone.now()
        if task.lock_expiration_time is None or task.lock_expiration_time < now:
            millis = int(now.timestamp() * 1000)
            raise RestBadRequest(f"Cannot extend a lock that expired: lockExpirationTime is not greater than or equal to {millis}")
        ExternalTask.objects.filter(id=task_id).update(lock_expiration_time=_later(now, new_duration, "newDuration"))


def external_task_lock(*, task_id: str, worker_id: str | None, lock_duration: int, user) -> None:
    """POST /external-task/{id}/lock (Camunda 7.21+): lock one task, unless another worker's lock still holds."""
    worker_id = _require_worker(worker_id)
    if lock_duration <= 0:
        raise RestBadRequest("lockDuration is not greater than 0")
    with transaction.atomic():
        _, task = _lock_task(task_id, user)
        now = timezone.now()
        held = task.lock_expiration_time is not None and task.lock_expiration_time >= now
        if task.worker_id is not None and task.worker_id != worker_id and held:
            raise wrong_worker(task, f"External Task {task_id} cannot be locked by worker '{worker_id}")
        ExternalTask.objects.filter(id=task_id).update(worker_id=worker_id, lock_expiration_time=_later(now, lock_duration, "lockDuration"))


def external_task_unlock(*, task_id: str, user, user_id: str | None) -> None:
    """POST /external-task/{id}/unlock: free the task for the next fetch (logged as Unlock)."""
    with transaction.atomic():
        _, task = _lock_task(task_id, user)
        _log(task, "Unlock", user_id)
        ExternalTask.objects.filter(id=task_id).update(worker_id=None, lock_expiration_time=None)


def external_task_set_retries(*, task_id: str, retries: int, user, user_id: str | None) -> None:
    """PUT /external-task/{id}/retries: > 0 resolves the task's incident, 0 raises one (SetExternalTaskRetries)."""
    if retries < 0:
        raise BadUserRequestException("The number of retries cannot be negative: retries is not greater than or equal to 0")
    with transaction.atomic():
        _, task = _lock_task(task_id, user)
        _log(task, "SetExternalTaskRetries", user_id, {"retries": (task.retries, retries)})
        _set_retries_managing_incidents(task, retries, timezone.now())
        task.save(update_fields=["retries"])


def external_task_set_priority(*, task_id: str, priority: int, user, user_id: str | None) -> None:
    """PUT /external-task/{id}/priority (logged as SetPriority)."""
    with transaction.atomic():
        _, task = _lock_task(task_id, user)
        _log(task, "SetPriority", user_id, {"priority": (task.priority, priority)})
        ExternalTask.objects.filter(id=task_id).update(priority=priority)


# --- many tasks: retries, set-based ----------------------------------------------------------------


def external_tasks_set_retries(*, task_ids, retries: int) -> set[str]:
    """Set the retries of many tasks in a few statements; manage their incidents. Returns the ids found.

    Tasks that had retries left and get none raise a failedExternalTask incident each (inserted in
    bulk, with history); tasks without retries that get some have their incidents resolved.
    """
    ids = {i for i in task_ids if i}
    if not ids:
        return set()
    now = timezone.now()
    with transaction.atomic():
        owners = ExternalTask.objects.filter(id__in_ids=ids).values_list("process_instance_id", flat=True)
        instances_lock(set(owners))
        found = set(ExternalTask.objects.select_for_update().filter(id__in_ids=ids).order_by("id").values_list("id", flat=True))
        if not found:
            return found
        tasks = ExternalTask.objects.filter(id__in_ids=found)
        had_retries = Q(retries__isnull=True) | Q(retries__gt=0)
        if retries <= 0:
            failing = list(tasks.filter(had_retries).exclude(
                id__in=Incident.objects.filter(incident_type=FAILED_EXTERNAL_TASK).values("configuration")
            ))
            _incidents_for_many(failing, now)
        else:
            gone = tasks.exclude(had_retries).values("id")
            incidents_remove(Incident.objects.filter(configuration__in=gone, incident_type=FAILED_EXTERNAL_TASK), resolved=True)
        ExternalTask.objects.filter(id__in_ids=found).update(retries=retries)
    return found


def _incidents_for_many(tasks: list[ExternalTask], now: datetime) -> None:
    incidents = [external_task_incident(task, now) for task in tasks]
    Incident.objects.bulk_create(incidents)
    HistoricIncident.objects.bulk_create([historic_incident_for(i) for i in incidents])


def external_tasks_set_retries_now(*, task_ids: list[str], retries: int, user_id: str | None) -> int:
    """PUT /external-task/retries: all or none; the first id that does not exist is the error (Camunda's 404)."""
    if retries < 0:
        raise BadUserRequestException("The number of retries cannot be negative: retries is not greater than or equal to 0")
    with transaction.atomic():
        # SetExternalTasksRetriesCmd logs once for all tasks (no task of its own), then sets each task's retries.
        operation_log_write(
            user_id=user_id,
            operation_type="SetExternalTaskRetries",
            entity_type=ENTITY_TYPE,
            properties={"nrOfInstances": (None, len(task_ids)), "async": (None, False), "retries": (None, retries)},
        )
        found = external_tasks_set_retries(task_ids=task_ids, retries=retries)
        missing = next((i for i in task_ids if i not in found), None)
        if missing is not None:
            raise NotFound(f"Cannot find external task with id {missing}")
    return len(found)


def topic_names(user, *, locked: bool, unlocked: bool, retries_left: bool) -> list[str]:
    """GET /external-task/topic-names: distinct topics of the visible tasks (GetTopicNamesCmd)."""
    now = timezone.now()
    rows = visible(ExternalTask, user)
    if locked:
        rows = rows.filter(lock_expiration_time__isnull=False, lock_expiration_time__gt=now)
    if unlocked:
        rows = rows.filter(Q(lock_expiration_time__isnull=True) | Q(lock_expiration_time__lt=now))
    if retries_left:
        rows = rows.filter(Q(retries__isnull=True) | Q(retries__gt=0))
    return list(rows.order_by("topic_name").values_list("topic_name", flat=True).distinct())
