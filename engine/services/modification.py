"""Process instance modification: cancel, startBeforeActivity, startAfterActivity, startTransition."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace

from django.db import transaction
from django.utils import timezone

from engine.bulk import rows_delete, rows_of, tuples_insert
from engine.errors import BadUserRequest, NotFound
from engine.locking import instance_lock, instances_lock
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    Job,
    ProcessDefinition,
    ProcessInstance,
)
from engine.models.base import new_ids
from engine.services.instantiation import NewRows, RecordedOperation, job_definitions_of
from engine.services.jobs import jobs_create_bulk, jobs_log_bulk
from engine.services.lifecycle import NOT_RUNNING, ChunkResult, instances_end
from engine.services.oplog import operation_log_write
from engine.services.runtime import Operation, tokens_remove
from engine.services.variables import variables_of_many, variables_set
from engine.variables import parse_typed_variables

INSTRUCTION_TYPES = ("cancel", "startBeforeActivity", "startAfterActivity", "startTransition")
INSTRUCTION_FIELDS = {
    "type", "activityId", "transitionId", "activityInstanceId", "transitionInstanceId",
    "ancestorActivityInstanceId", "variables", "cancelCurrentActiveActivityInstances",
}
MODIFICATION_DELETE_REASON = "Cancellation due to process instance modification"
# Camunda's messages (ModificationRestServiceImpl, ProcessInstanceResourceImpl; research §9).
CANCEL_NEEDS_ONE = "For instruction type 'cancel': exactly one, 'activityId', 'activityInstanceId', or 'transitionInstanceId', is required"
MUST_BE_SET = "For instruction type '{kind}': '{field}' must be set"
SUSPENDED = "Process instance '{id}' is suspended and cannot be modified"
OTHER_DEFINITION = "instance belongs to another process definition"
# What Camunda's many-instance modification silently ignores is refused here instead (never dropped).
NOT_FOR_MANY = "instructions[{index}].{field}: not supported when modifying many instances (Camunda ignores it there); it is refused rather than dropped"


def validate_instructions(definition: ProcessDefinition, instructions: object, *, many: bool = False) -> list[dict]:
    """Check instructions against the definition; raise BadUserRequest naming the bad one.

    many: the instructions of /modification/execute(Async) (a batch), where a cancellation names
    an activity only and instructions carry no variables (Camunda's InstantiationBuilder path).
    """
    if not isinstance(instructions, list) or not instructions:
        raise BadUserRequest("instructions must be a non-empty list")
    return [_instruction(definition, index, instruction, many) for index, instruction in enumerate(instructions)]


def _instruction(definition: ProcessDefinition, index: int, instruction: object, many: bool) -> dict:
    where = f"instructions[{index}]"
    if not isinstance(instruction, dict):
        raise BadUserRequest(f"{where} must be an object")
    unknown = sorted(k for k, v in instruction.items() if k not in INSTRUCTION_FIELDS and v is not None)
    if unknown:
        raise BadUserRequest(f"{where}: unknown property '{unknown[0]}'")
    kind = instruction.get("type")
    if kind not in INSTRUCTION_TYPES:
        raise BadUserRequest(f"{where}.type must be one of {', '.join(INSTRUCTION_TYPES)}")
    flag = instruction.get("cancelCurrentActiveActivityInstances")
    if flag is not None and not isinstance(flag, bool):
        raise BadUserRequest(f"{where}.cancelCurrentActiveActivityInstances must be a boolean")
    if kind == "cancel":
        return _cancel(definition, where, index, instruction, many)
    if flag:
        raise BadUserRequest(f"{where}: cancelCurrentActiveActivityInstances can only be used with instructions of type cancel")
    for field in ("activityInstanceId", "transitionInstanceId"):
        if instruction.get(field) is not None:
            raise BadUserRequest(f"{where}.{field}: only instructions of type cancel name an activity or transition instance")
    cleaned = {"type": kind}
    if kind == "startTransition":
        cleaned["transitionId"] = _transition(definition, where, instruction)
    else:
        cleaned["activityId"] = _activity(definition, where, kind, instruction)
    for field in ("variables", "ancestorActivityInstanceId"):
        if instruction.get(field) is not None and many:
            raise BadUserRequest(NOT_FOR_MANY.format(index=index, field=field))
    if instruction.get("variables") is not None:
        cleaned["variables"] = parse_typed_variables(instruction["variables"], f"{where}.variables")
    if instruction.get("ancestorActivityInstanceId") is not None:
        cleaned["ancestorActivityInstanceId"] = _text(where, "ancestorActivityInstanceId", instruction)
    return cleaned


def _cancel(definition: ProcessDefinition, where: str, index: int, instruction: dict, many: bool) -> dict:
    named = [f for f in ("activityId", "activityInstanceId", "transitionInstanceId") if instruction.get(f) is not None]
    if many:
        for field in ("activityInstanceId", "transitionInstanceId", "variables", "ancestorActivityInstanceId"):
            if instruction.get(field) is not None:
                raise BadUserRequest(NOT_FOR_MANY.format(index=index, field=field))
        if named != ["activityId"]:
            raise BadUserRequest(MUST_BE_SET.format(kind="cancel", field="activityId"))
    elif len(named) != 1:
        raise BadUserRequest(CANCEL_NEEDS_ONE)
    cleaned: dict = {"type": "cancel", "cancelCurrentActiveActivityInstances": bool(instruction.get("cancelCurrentActiveActivityInstances"))}
    if named[0] == "activityId":
        node_id = _text(where, "activityId", instruction)
        if definition.activity(node_id) is None:
            raise BadUserRequest(f"{where}: activity '{node_id}' does not exist in process definition '{definition.id}'")
        cleaned["activityId"] = node_id
    else:
        cleaned[named[0]] = _text(where, named[0], instruction)
    return cleaned


def _text(where: str, field: str, instruction: dict) -> str:
    value = instruction.get(field)
    if not isinstance(value, str) or not value:
        raise BadUserRequest(f"{where}.{field} must be a non-empty string")
    return value


def _transition(definition: ProcessDefinition, where: str, instruction: dict) -> str:
    if not instruction.get("transitionId"):
        raise BadUserRequest(MUST_BE_SET.format(kind="startTransition", field="transitionId"))
    transition_id = _text(where, "transitionId", instruction)
    if definition.flow(transition_id) is None:
        raise BadUserRequest(f"{where}: transition '{transition_id}' does not exist in process definition '{definition.id}'")
    return transition_id


def _activity(definition: ProcessDefinition, where: str, kind: str, instruction: dict) -> str:
    if not instruction.get("activityId"):
        raise BadUserRequest(MUST_BE_SET.format(kind=kind, field="activityId"))
    activity_id = _text(where, "activityId", instruction)
    node = definition.activity(activity_id)
    if node is None:
        raise BadUserRequest(f"{where}: activity '{activity_id}' does not exist in process definition '{definition.id}'")
    if kind == "startAfterActivity" and len(node["outgoing"]) != 1:
        raise BadUserRequest(
            f"{where}: activity '{activity_id}' must have exactly one outgoing sequence flow "
            f"for startAfterActivity, it has {len(node['outgoing'])}"
        )
    return activity_id


def instance_modify(
    *,
    instance_id: str,
    instructions: list[dict],
    skip_custom_listeners: bool = False,
    skip_io_mappings: bool = False,
    annotation: str | None = None,
    user_id: str | None = None,
    expected_definition_id: str | None = None,
    log_operation: bool = True,
    many: bool = False,
) -> bool:
    """Apply instructions in order to one instance; return whether the instance ended.

    The caller's lock rule (engine.locking): the instance row is locked before its state is read.
    """
    # Listeners and IO mappings do not exist in this engine, so both skip flags change nothing.
    del skip_custom_listeners, skip_io_mappings
    with transaction.atomic():
        instance = instance_lock(instance_id, related=("process_definition",))
        if instance is None:
            raise NotFound(f"Process instance with id '{instance_id}' does not exist")
        definition = instance.process_definition
        if expected_definition_id and definition.id != expected_definition_id:
            raise BadUserRequest(
                f"Process instance '{instance_id}' belongs to process definition '{definition.id}', "
                f"not '{expected_definition_id}'"
            )
        if instance.suspended:
            raise BadUserRequest(SUSPENDED.format(id=instance_id))
        cleaned = validate_instructions(definition, instructions, many=many)
        operation = Operation(instance=instance, definition=definition)
        # Tokens active before the first instruction: what cancelCurrentActiveActivityInstances cancels.
        before = set(ActivityInstance.objects.filter(process_instance=instance).values_list("id", flat=True))
        for instruction in cleaned:
            _apply(operation, instruction, before)
        ended = operation.finish(delete_reason=MODIFICATION_DELETE_REASON)
        if log_operation:
            # Camunda's ModifyProcessInstanceCmd: one entry, no property, with the annotation.
            operation_log_write(
                user_id=user_id,
                operation_type="ModifyProcessInstance",
                entity_type="ProcessInstance",
                process_instance_id=instance_id,
                process_definition_id=definition.id,
                process_definition_key=definition.key,
                annotation=annotation,
                tenant_id=instance.tenant_id,
            )
    return ended


def _apply(operation: Operation, instruction: dict, before: set[str]) -> None:
    kind = instruction["type"]
    if kind == "cancel":
        operation.remove_tokens(_tokens_to_cancel(operation, instruction, before), canceled=True)
        return
    _check_ancestor(operation, instruction)
    if instruction.get("variables"):
        variables_set(instance=operation.instance, variables=instruction["variables"], now=timezone.now())
        operation.forget_variables()
    operation.start(instruction)


def _tokens_to_cancel(operation: Operation, instruction: dict, before: set[str]) -> list[str]:
    tokens = ActivityInstance.objects.filter(process_instance=operation.instance)
    if "activityInstanceId" in instruction:
        token_ids = list(tokens.filter(id=instruction["activityInstanceId"]).values_list("id", flat=True))
        if not token_ids:
            raise BadUserRequest(
                f"Cannot perform instruction: Cancel activity instance '{instruction['activityInstanceId']}'; "
                f"Activity instance '{instruction['activityInstanceId']}' does not exist"
            )
        return token_ids
    if "transitionInstanceId" in instruction:  # this engine has no transition instances (async before/after)
        raise BadUserRequest(
            f"Cannot perform instruction: Cancel transition instance '{instruction['transitionInstanceId']}'; "
            f"Transition instance '{instruction['transitionInstanceId']}' does not exist"
        )
    token_ids = list(tokens.filter(activity_id=instruction["activityId"]).values_list("id", flat=True))
    if instruction["cancelCurrentActiveActivityInstances"]:
        token_ids = [t for t in token_ids if t in before]
    return token_ids


def _check_ancestor(operation: Operation, instruction: dict) -> None:
    # No sub-scopes in this engine: the only ancestor activity instance is the process instance itself.
    ancestor = instruction.get("ancestorActivityInstanceId")
    if ancestor is not None and ancestor != operation.instance.id:
        raise BadUserRequest(
            f"Cannot perform instruction: ancestor activity instance '{ancestor}' does not exist in process instance "
            f"'{operation.instance.id}' (its only ancestor scope is the instance itself)"
        )


# --- many instances at once ----------------------------------------------------------------------


INSTANCE_FIELDS = ("id", "process_definition_id", "business_key", "tenant_id", "suspended")


def instances_modify(*, definition_id: str, instance_ids: list[str], instructions: list[dict],
                     now: datetime | None = None) -> ChunkResult:
    """Apply many-instance instructions (validate_instructions(many=True)) to a chunk, set-based.

    The chunk's instances are locked (id order, engine.locking) and read with their tokens in two
    queries. Each instance then walks the instructions in memory (ModifyingOperation: the same
    gateways, joins and conditions as instance_modify, on its own tokens and variables), recording
    the rows it adds and the tokens it removes; a walk that read no variable is repeated by copy for
    the instances whose tokens stand where its instance's stood (_Walk). The removals are a few
    DELETEs for the whole chunk, the additions one INSERT per table, and the instances left without
    a token end together. An instance whose walk is refused (a loop, no gateway flow to take) fails
    alone, with its message; the rest of the chunk commits.
    """
    result = ChunkResult()
    now = now or timezone.now()
    with transaction.atomic():
        running = instances_lock(instance_ids)
        definition = ProcessDefinition.objects.filter(id=definition_id).first()
        if definition is None:
            raise NotFound(f"Process definition '{definition_id}' does not exist")
        cleaned = validate_instructions(definition, instructions, many=True)
        # What a walk reads of its instance (external_task_of, subscriptions_of), without model objects.
        instances = {
            row[0]: SimpleNamespace(**dict(zip(INSTANCE_FIELDS, row)))
            for row in ProcessInstance.objects.filter(id__in_ids=running).values_list(*INSTANCE_FIELDS)
        }
        movable = []
        for instance_id in instance_ids:
            instance = instances.get(instance_id)
            if instance is None:
                result.skipped[instance_id] = NOT_RUNNING
            elif instance.process_definition_id != definition.id:
                result.skipped[instance_id] = OTHER_DEFINITION
            elif instance.suspended:
                result.failed[instance_id] = SUSPENDED.format(id=instance_id)
            else:
                movable.append(instance)
        if movable:
            _modify(definition, movable, cleaned, now, result)
    return result


def _modify(definition: ProcessDefinition, instances: list, instructions: list[dict],
            now: datetime, result: ChunkResult) -> None:
    ids = {i.id for i in instances}
    tokens: dict[str, list[tuple[str, str]]] = {}
    for token_id, instance_id, activity_id in (
        ActivityInstance.objects.filter(process_instance_id__in_ids=ids)
        .order_by("start_time", "id").values_list("id", "process_instance_id", "activity_id")
    ):
        tokens.setdefault(instance_id, []).append((token_id, activity_id))
    variables = _LazyVariables(ids)
    job_definitions = job_definitions_of(definition)
    rows = _ChunkRows()
    removed: dict[bool, list[str]] = {True: [], False: []}  # canceled? -> existing token ids
    ended: dict[bool, set[str]] = {True: set(), False: set()}  # reached an end event? -> instance ids
    # An instance's walk depends on the definition, the instructions, the activities its tokens
    # stand at (joins, cancellations) and, at a conditional gateway, its variables. A walk that read
    # no variable is done again for every instance whose tokens stand at the same activities by
    # copying its rows with fresh ids (_Walk.repeat), as the demo loader copies its templates.
    walks: dict[tuple[str, ...], _Walk] = {}
    for instance in instances:
        existing = tokens.get(instance.id, [])
        shape = tuple(activity_id for _, activity_id in existing)
        walk = walks.get(shape)
        if walk is None:
            operation = ModifyingOperation(
                instance=instance, definition=definition, now=now, rows=NewRows(), job_definitions=job_definitions,
                tokens=existing, variables_of=variables,
            )
            try:
                for instruction in instructions:
                    operation.apply(instruction)
                no_token_left = operation.finish()
            except BadUserRequest as exc:  # this instance's walk is refused; its rows are dropped
                result.failed[instance.id] = str(exc)
                continue
            walk = _Walk(operation, no_token_left)
            if not operation.read_variables:
                walks[shape] = walk
            rows.add(walk.tables, walk.jobs, walk.dropped)
        else:
            rows.add(*walk.repeat(instance))
        result.changed.append(instance.id)
        for position, canceled in walk.removed:
            removed[canceled].append(existing[position][0])
        if walk.no_token_left:
            ended[walk.reached_end].add(instance.id)
    for canceled, token_ids in removed.items():
        if token_ids:
            tokens_remove(token_ids, now, canceled=canceled)
    rows.insert()
    if ended[True]:
        instances_end(ended[True], now, state=HistoricProcessInstance.COMPLETED, delete_reason=None,
                      definition_id=definition.id)
    if ended[False]:
        instances_end(ended[False], now, state=HistoricProcessInstance.EXTERNALLY_TERMINATED,
                      delete_reason=MODIFICATION_DELETE_REASON, definition_id=definition.id)


TABLES = (ActivityInstance, HistoricActivityInstance, ExternalTask, EventSubscription)


class _Walk:
    """One instance's recorded walk: its rows as the database takes them, and how to repeat it.

    removed: (position among the instance's tokens before the first instruction, canceled?).
    """

    def __init__(self, operation: ModifyingOperation, no_token_left: bool) -> None:
        instance, recorded = operation.instance, operation.rows
        self.instance_id = instance.id
        self.removed = [
            (position, operation.removed[token_id])
            for position, (token_id, _) in enumerate(operation.existing) if token_id in operation.removed
        ]
        self.no_token_left = no_token_left
        self.reached_end = operation.reached_end
        self.dropped = operation.dropped
        kept = {
            ActivityInstance: recorded.tokens,
            HistoricActivityInstance: recorded.activities,
            ExternalTask: [t for t in recorded.external_tasks if t.execution_id not in self.dropped],
            EventSubscription: [e for e in recorded.subscriptions if e.execution_id not in self.dropped],
        }
        self.tables = {model: rows_of(model, kept[model]) for model in TABLES if kept[model]}
        self.jobs = recorded.jobs
        # Every token placed, dropped ones too, has its history row (same id): all ids are here.
        self.new_ids = [row.id for model in TABLES for row in kept[model]] + [j.id for j in self.jobs]
        self._plans: dict | None = None

    def repeat(self, instance) -> tuple[dict, list[Job], set[str]]:
        """The same rows for another instance whose tokens stand at the same activities: fresh ids,
        its own id, tenant and business key."""
        fresh = dict(zip(self.new_ids, new_ids(len(self.new_ids))))
        fresh[self.instance_id] = instance.id
        own = {"tenant_id": instance.tenant_id, "business_key": instance.business_key}
        tables = {}
        for model, (columns, rows, plans) in self._repeat_plans().items():
            copies = []
            for row, swaps in zip(rows, plans):
                copy = list(row)
                for index, column in swaps:
                    copy[index] = own[column] if column in own else fresh[row[index]]
                copies.append(tuple(copy))
            tables[model] = (columns, copies)
        jobs = [_job_copy(job, fresh, instance) for job in self.jobs]
        return tables, jobs, {fresh[i] for i in self.dropped}

    def _repeat_plans(self) -> dict:
        """Per table and row, the (index, column) of each value a repeat replaces."""
        if self._plans is None:
            known = set(self.new_ids) | {self.instance_id}
            self._plans = {}
            for model, (columns, rows) in self.tables.items():
                plans = [
                    [
                        (index, column) for index, (column, value) in enumerate(zip(columns, row))
                        if column in ("tenant_id", "business_key") or (isinstance(value, str) and value in known)
                    ]
                    for row in rows
                ]
                self._plans[model] = (columns, rows, plans)
        return self._plans


def _job_copy(job: Job, fresh: dict[str, str], instance) -> Job:
    return Job(
        id=fresh[job.id], job_type=job.job_type, job_definition=job.job_definition, process_instance_id=instance.id,
        process_definition_id=job.process_definition_id, process_definition_key=job.process_definition_key,
        execution_id=fresh[job.execution_id], activity_id=job.activity_id, tenant_id=instance.tenant_id,
        suspended=job.suspended, retries=job.retries,
    )


class _ChunkRows:
    """The chunk's new rows: {table: (columns, rows)}, jobs, and the ids of tokens placed and removed again."""

    def __init__(self) -> None:
        self.tables: dict = {}
        self.jobs: list[Job] = []
        self.dropped: set[str] = set()

    def add(self, tables: dict, jobs: list[Job], dropped: set[str]) -> None:
        for model, (columns, rows) in tables.items():
            self.tables.setdefault(model, (columns, []))[1].extend(rows)
        self.jobs.extend(jobs)
        self.dropped |= dropped

    def insert(self) -> None:
        """One INSERT (COPY) per table. A token placed and removed again in the same walk leaves its
        ended history and, as in the one-instance walk, its job's creation and deletion in the job log."""
        for model in TABLES:
            if model in self.tables:
                tuples_insert(model, *self.tables[model])
        if not self.jobs:
            return
        jobs_create_bulk(self.jobs)
        gone = [j for j in self.jobs if j.execution_id in self.dropped]
        if gone:
            jobs_log_bulk(gone, kind="deletion")
            rows_delete(Job.objects.filter(id__in_ids={j.id for j in gone}))


class _LazyVariables:
    """The chunk's variables, read in one query the first time a walk evaluates a condition."""

    def __init__(self, instance_ids: set[str]) -> None:
        self.instance_ids = instance_ids
        self.by_instance: dict[str, dict] | None = None

    def __call__(self, instance_id: str) -> dict:
        if self.by_instance is None:
            self.by_instance = variables_of_many(self.instance_ids)
        return self.by_instance.get(instance_id, {})


class ModifyingOperation(RecordedOperation):
    """An Operation on an existing instance whose effects are recorded: new rows are collected
    (RecordedOperation), removed tokens are noted, nothing is written until the chunk's end.

    tokens: the instance's tokens before the first instruction, (id, activity id) in the order the
    engine reads them (start time, id), which is also what cancelCurrentActiveActivityInstances keeps.
    """

    def __init__(self, *, instance, definition, now, rows: NewRows, job_definitions: dict,
                 tokens: list[tuple[str, str]], variables_of: Callable[[str], dict]) -> None:
        super().__init__(instance=instance, definition=definition, now=now, variables={}, rows=rows,
                         job_definitions=job_definitions)
        self.existing = tokens
        self.before = {token_id for token_id, _ in tokens}
        self.removed: dict[str, bool] = {}  # existing token id -> canceled
        self.dropped: set[str] = set()  # tokens placed by this walk and removed again
        self._variables_of = variables_of
        self.read_variables = False

    @property
    def variables(self) -> dict:
        self.read_variables = True
        return self._variables_of(self.instance.id)

    def apply(self, instruction: dict) -> None:
        if instruction["type"] != "cancel":
            self.start(instruction)
            return
        token_ids = self._tokens_at(instruction["activityId"])
        if instruction["cancelCurrentActiveActivityInstances"]:
            token_ids = [t for t in token_ids if t in self.before]
        self.remove_tokens(token_ids, canceled=True)

    def _tokens_at(self, activity_id: str) -> list[str]:
        existing = [t for t, a in self.existing if a == activity_id and t not in self.removed]
        return existing + [t.id for t in self.live if t.activity_id == activity_id]

    def _arrive_at_join(self, activity_id: str, node: dict) -> None:
        self._create_token(activity_id, node)
        waiting = self._tokens_at(activity_id)[: len(node["incoming"])]
        if len(waiting) < len(node["incoming"]):
            return
        self.remove_tokens(waiting, canceled=False)
        self.leave(activity_id)

    def remove_tokens(self, token_ids: list[str], *, canceled: bool) -> None:
        placed = {t.id: t for t in self.live}
        for token_id in token_ids:
            token = placed.get(token_id)
            if token is None:
                self.removed[token_id] = canceled
                continue
            self.live.remove(token)
            self.dropped.add(token_id)
            row = self.history_of[token_id]
            row.end_time, row.duration_in_millis, row.canceled = self.now, 0, canceled

    def finish(self, *, delete_reason: str | None = None) -> bool:
        """Whether no token is left (the instance ends); the tokens placed join the rows."""
        self.rows.tokens.extend(self.live)
        return not self.live and all(t in self.removed for t, _ in self.existing)
