"""Process instance migration: move running instances to another process definition version.

A migration plan maps activities of the source definition to activities of the target (one
instruction per activity that may hold a token). Plans are generated (same activity id, same
kind), validated (Camunda's report of instruction and variable failures) and executed on many
instances at once, set-based: the instances of a chunk that can migrate move with one UPDATE per
table (tokens, open activity history, jobs, incidents, instance history), whatever their number;
an instance that cannot (another definition, a token without instruction) is a failed item with
the reason, and one that no longer runs is skipped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.utils import timezone

from engine.errors import BadUserRequest
from engine.locking import instances_lock
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    new_id,
)
from engine.services.lifecycle import NOT_RUNNING, ChunkResult
from engine.services.variables import variables_set_many
from engine.variables import parse_typed_variables

# Activities that hold a token in this engine, and so are what a plan maps. Camunda's plan
# generator likewise only proposes instructions that pass its validators.
MIGRATABLE = {"userTask", "serviceTask", "parallelGateway", "receiveTask", "intermediateCatchEvent"}
# Camunda reports activity kinds by their behaviour classes (SameBehaviorInstructionValidator).
BEHAVIOR = {
    "userTask": "UserTaskActivityBehavior",
    "serviceTask": "ClassDelegateActivityBehavior",
    "parallelGateway": "ParallelGatewayActivityBehavior",
    "exclusiveGateway": "ExclusiveGatewayActivityBehavior",
    "startEvent": "NoneStartEventActivityBehavior",
    "endEvent": "NoneEndEventActivityBehavior",
    "receiveTask": "ReceiveTaskActivityBehavior",
    "intermediateCatchEvent": "IntermediateCatchEventActivityBehavior",
    "boundaryEvent": "BoundaryEventActivityBehavior",
}
PLAN_FIELDS = {"sourceProcessDefinitionId", "targetProcessDefinitionId", "instructions", "variables"}
INSTRUCTION_FIELDS = {"sourceActivityIds", "targetActivityIds", "updateEventTrigger"}

# Camunda 7's messages (its validators, MigrationLogger and commands; research: migration_restart.md §1).
SOURCE_MISSING = "Source activity '{id}' does not exist"
TARGET_MISSING = "Target activity '{id}' does not exist"
INCOMPATIBLE = "Activities have incompatible types ({source} is not compatible with {target})"
MAPPED_TWICE = "There are multiple mappings for source activity id '{id}': {instructions}"
GATEWAY_TWICE = "Only one gateway can be mapped to gateway '{id}'"
GATEWAY_FLOWS = "The target gateway must have at least the same number of incoming sequence flows that the source gateway has"
NO_EVENT_TRIGGER = "Cannot update event trigger because the activity does not define a persistent event trigger"
NO_INSTRUCTION = "There is no migration instruction for this instance's activity"
DEFINITION_ID_NULL = "{kind} process definition id is null"
DEFINITION_MISSING = "ENGINE-23008 {kind} process definition with id '{id}' does not exist"
INSTANCE_MISSING = "ENGINE-23003 Process instance '{instance}' cannot be migrated. The process instance does not exist"
OTHER_DEFINITION = (
    "ENGINE-23002 Process instance '{instance}' cannot be migrated. Its process definition '{actual}' does not match "
    "the source process definition of the migration plan '{definition}'"
)
INVALID_PLAN = "ENGINE-23001 Migration plan for process definition '{source}' to '{target}' is not valid:\n"
INSTANCE_INVALID = "ENGINE-23004 Cannot migrate process instance '{instance}':\n"


class MigrationPlanInvalid(BadUserRequest):
    """A plan that fails validation: Camunda's MigrationPlanValidationException with its report."""

    type_name = "MigrationPlanValidationException"

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.extra = {"validationReport": report}


class InstanceNotMigratable(BadUserRequest):
    """An instance of a synchronous migration that cannot move (MigratingProcessInstanceValidationException)."""

    type_name = "MigratingProcessInstanceValidationException"

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.extra = {"validationReport": report}


@dataclass(frozen=True)
class Instruction:
    source: str
    target: str
    update_event_trigger: bool = False

    def dto(self) -> dict:
        return {"sourceActivityIds": [self.source], "targetActivityIds": [self.target], "updateEventTrigger": self.update_event_trigger}


@dataclass
class MigrationPlan:
    source: ProcessDefinition
    target: ProcessDefinition
    instructions: list[Instruction]
    variables: dict = field(default_factory=dict)  # typed, as parse_typed_variables returns them

    def dto(self) -> dict:
        return {
            "sourceProcessDefinitionId": self.source.id,
            "targetProcessDefinitionId": self.target.id,
            "instructions": [i.dto() for i in self.instructions],
            "variables": self.variables or None,
        }

    @property
    def by_source(self) -> dict[str, Instruction]:
        return {i.source: i for i in self.instructions}

    def unmapped(self, tokens: QuerySet) -> QuerySet:
        """The tokens (ActivityInstance rows) among these whose activity no instruction maps."""
        return tokens.exclude(activity_id__in=list(self.by_source))


# --- reading, generating and validating plans ------------------------------------------------------


def plan_parse(raw: object, definitions, *, where: str = "migrationPlan") -> MigrationPlan:
    """A plan from its JSON form; 400 for what is malformed (what is merely invalid is the report's).

    definitions: the process definitions the caller may see (a queryset).
    """
    if not isinstance(raw, dict):
        raise BadUserRequest(f"{where} must be a JSON object")
    unknown = sorted(k for k, v in raw.items() if k not in PLAN_FIELDS and v is not None)
    if unknown:
        raise BadUserRequest(f"{where}: unknown property '{unknown[0]}'")
    source = _definition(definitions, raw, "sourceProcessDefinitionId", where)
    target = _definition(definitions, raw, "targetProcessDefinitionId", where)
    instructions = raw.get("instructions")
    if instructions is None:
        instructions = []
    if not isinstance(instructions, list):
        raise BadUserRequest(f"{where}.instructions must be a list")
    parsed = [_instruction(item, f"{where}.instructions[{n}]") for n, item in enumerate(instructions)]
    variables = parse_typed_variables(raw.get("variables"), f"{where}.variables")
    return MigrationPlan(source=source, target=target, instructions=parsed, variables=variables)


def _definition(definitions, raw: dict, name: str, where: str) -> ProcessDefinition:
    kind = "Source" if name.startswith("source") else "Target"
    value = raw.get(name)
    if value is None or value == "":
        raise BadUserRequest(DEFINITION_ID_NULL.format(kind=kind))
    if not isinstance(value, str):
        raise BadUserRequest(f"{where}.{name} must be a string")
    found = definitions.filter(id=value).first()
    if found is None:
        raise BadUserRequest(DEFINITION_MISSING.format(kind=kind, id=value))
    return found


def _instruction(item: object, where: str) -> Instruction:
    if not isinstance(item, dict):
        raise BadUserRequest(f"{where} must be an object")
    unknown = sorted(k for k, v in item.items() if k not in INSTRUCTION_FIELDS and v is not None)
    if unknown:
        raise BadUserRequest(f"{where}: unknown property '{unknown[0]}'")
    ids = {}
    for name in ("sourceActivityIds", "targetActivityIds"):
        value = item.get(name)
        if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str) or not value[0]:
            # Camunda maps the first id of each list and ignores the rest; a list of one is asked for instead.
            raise BadUserRequest(f"{where}.{name} must be a list with exactly one activity id")
        ids[name] = value[0]
    trigger = item.get("updateEventTrigger")
    if trigger is not None and not isinstance(trigger, bool):
        raise BadUserRequest(f"{where}.updateEventTrigger must be a boolean")
    return Instruction(ids["sourceActivityIds"], ids["targetActivityIds"], bool(trigger))


def plan_generate(source: ProcessDefinition, target: ProcessDefinition, *, update_event_triggers: bool = False,
                  variables: dict | None = None) -> MigrationPlan:
    """One instruction per activity with the same id and kind in both definitions (Camunda's generator)."""
    del update_event_triggers  # no activity of this engine has an event trigger to update
    instructions = []
    # By activity id: the stored graph keeps no document order on PostgreSQL (jsonb), and a plan
    # that reads the same on every database is easier to review (Camunda's own order is a HashSet's).
    for activity_id, node in sorted(source.graph["activities"].items()):
        other = target.activity(activity_id)
        if other is None or node["type"] not in MIGRATABLE or other["type"] != node["type"]:
            continue
        instruction = Instruction(activity_id, activity_id)
        if not _instruction_failures(source, target, instruction, [instruction]):
            instructions.append(instruction)
    return MigrationPlan(source=source, target=target, instructions=instructions, variables=variables or {})


def plan_report(plan: MigrationPlan) -> dict:
    """Camunda's MigrationPlanReportDto: instructionReports and variableReports, failures only."""
    reports = []
    for instruction in plan.instructions:
        failures = _instruction_failures(plan.source, plan.target, instruction, plan.instructions)
        if failures:
            reports.append({"instruction": instruction.dto(), "failures": failures})
    # Variables are validated when parsed (a bad type is a 400); nothing can fail here.
    return {"instructionReports": reports, "variableReports": {}}


def plan_check(plan: MigrationPlan) -> None:
    """Raise MigrationPlanInvalid (Camunda's message and report) unless the plan is valid."""
    report = plan_report(plan)
    if not report["instructionReports"]:
        return
    lines = [INVALID_PLAN.format(source=plan.source.id, target=plan.target.id)]
    for entry in report["instructionReports"]:
        i = entry["instruction"]
        lines.append(
            f"\t Migration instruction MigrationInstructionImpl{{sourceActivityId='{i['sourceActivityIds'][0]}', "
            f"targetActivityId='{i['targetActivityIds'][0]}', updateEventTrigger='{str(i['updateEventTrigger']).lower()}'}} "
            "is not valid:\n"
        )
        lines.extend(f"\t\t{failure}\n" for failure in entry["failures"])
    raise MigrationPlanInvalid("".join(lines), report)


def _instruction_failures(source: ProcessDefinition, target: ProcessDefinition, instruction: Instruction,
                          plan: list[Instruction]) -> list[str]:
    """Camunda's static checks, in its validators' order (an explicit instruction between activities
    that hold no token, e.g. two start events, is valid as in Camunda: it never applies)."""
    from_node = source.activity(instruction.source)
    to_node = target.activity(instruction.target)
    failures = [SOURCE_MISSING.format(id=instruction.source)] if from_node is None else []
    if to_node is None:
        failures.append(TARGET_MISSING.format(id=instruction.target))
    if failures:
        return failures
    if from_node["type"] != to_node["type"]:
        failures.append(INCOMPATIBLE.format(source=_behavior(from_node), target=_behavior(to_node)))
    same_source = [i for i in plan if i.source == instruction.source]
    if len(same_source) > 1:
        listed = ", ".join(
            f"ValidatingMigrationInstructionImpl{{sourceActivity=Activity({i.source}), targetActivity=Activity({i.target})}}"
            for i in same_source
        )
        failures.append(MAPPED_TWICE.format(id=instruction.source, instructions=listed))
    if to_node["type"] == "parallelGateway":
        if len(to_node["incoming"]) < len(from_node["incoming"]):
            failures.append(GATEWAY_FLOWS)
        if sum(1 for i in plan if i.target == instruction.target) > 1:
            failures.append(GATEWAY_TWICE.format(id=instruction.target))
    if instruction.update_event_trigger and not from_node.get("message"):  # a message event defines one
        failures.append(NO_EVENT_TRIGGER)
    return failures


def _behavior(node: dict) -> str:
    return BEHAVIOR.get(node["type"], node["type"])


# --- executing a plan on many instances --------------------------------------------------------------


def instances_migrate(*, plan: MigrationPlan, instance_ids: list[str], now: datetime | None = None) -> ChunkResult:
    """Migrate a chunk of instances set-based; failed and skipped ones carry their reason.

    The caller checked the plan (plan_check). The instances are locked first, in id order (the
    engine's concurrency rule), then read: what is checked is what is moved.
    """
    result = ChunkResult()
    now = now or timezone.now()
    with transaction.atomic():
        running = instances_lock(instance_ids)
        result.skipped = {i: NOT_RUNNING for i in instance_ids if i not in running}
        result.failed = instances_not_migratable(plan, running)
        movable = {i for i in running if i not in result.failed}
        result.changed = [i for i in instance_ids if i in movable]
        if movable:
            _move(plan, movable, now)
    return result


def instances_not_migratable(plan: MigrationPlan, instance_ids: set[str]) -> dict[str, str]:
    """{instance id: reason} for the locked running instances that this plan cannot migrate."""
    failed = {
        i: OTHER_DEFINITION.format(instance=i, actual=actual, definition=plan.source.id)
        for i, actual in ProcessInstance.objects.filter(id__in_ids=instance_ids)
        .exclude(process_definition_id=plan.source.id)
        .values_list("id", "process_definition_id")
    }
    unmapped = (
        plan.unmapped(ActivityInstance.objects.filter(process_instance_id__in_ids=instance_ids - set(failed)))
        .order_by("process_instance_id", "start_time", "id")
        .values_list("process_instance_id", "id", "activity_id")
    )
    reports: dict[str, list[str]] = {}
    for instance_id, token_id, _ in unmapped:
        reports.setdefault(instance_id, []).append(f"\tCannot migrate activity instance '{token_id}':\n\t\t{NO_INSTRUCTION}\n")
    for instance_id, lines in reports.items():
        failed[instance_id] = INSTANCE_INVALID.format(instance=instance_id) + "".join(lines)
    return failed


def instance_report(plan: MigrationPlan, instance_id: str) -> dict:
    """Camunda's MigratingProcessInstanceValidationReportDto for an instance with unmapped tokens."""
    activity_reports = [
        {
            "migrationInstruction": None,
            "activityInstanceId": token_id,
            "sourceScopeId": activity_id,
            "failures": [NO_INSTRUCTION],
        }
        for token_id, activity_id in plan.unmapped(ActivityInstance.objects.filter(process_instance_id=instance_id))
        .values_list("id", "activity_id")
    ]
    return {
        "processInstanceId": instance_id,
        "failures": [],
        "activityInstanceValidationReports": activity_reports,
        "transitionInstanceValidationReports": [],
    }


def _move(plan: MigrationPlan, ids: set[str], now: datetime) -> None:
    """The state change itself: a few UPDATEs for the whole set of instances."""
    target = plan.target
    ProcessInstance.objects.filter(id__in_ids=ids).update(process_definition_id=target.id)
    HistoricProcessInstance.objects.filter(id__in_ids=ids).update(
        process_definition_id=target.id,
        process_definition_key=target.key,
        process_definition_name=target.name,
        process_definition_version=target.version,
    )
    moved = {i.source: target.activity(i.target) | {"id": i.target} for i in plan.instructions}
    activity_id = _case("activity_id", {s: n["id"] for s, n in moved.items()})
    activity_type = _case("activity_id", {s: n["type"] for s, n in moved.items()})
    activity_name = _case("activity_id", {s: n["name"] for s, n in moved.items()})
    ActivityInstance.objects.filter(process_instance_id__in_ids=ids).update(
        activity_id=activity_id, activity_type=activity_type, activity_name=activity_name
    )
    _move_subscriptions(plan, ids, activity_id, now)
    # Activity history: the open rows are the tokens, they move; what ended happened in the old version.
    HistoricActivityInstance.objects.filter(process_instance_id__in_ids=ids, end_time__isnull=True).update(
        process_definition_id=target.id, activity_id=activity_id, activity_type=activity_type, activity_name=activity_name
    )
    job_definitions = dict(
        JobDefinition.objects.filter(process_definition=target).values_list("activity_id", "id")
    )
    job_definition = _case("activity_id", {s: job_definitions.get(n["id"]) for s, n in moved.items()}, "job_definition_id")
    # Jobs keep their retries, due date, exception and suspension; they now run the target's activity.
    Job.objects.filter(process_instance_id__in_ids=ids).update(
        process_definition_id=target.id,
        process_definition_key=target.key,
        activity_id=activity_id,
        failed_activity_id=_case("failed_activity_id", {s: n["id"] for s, n in moved.items()}),
        job_definition_id=job_definition,
    )
    ExternalTask.objects.filter(process_instance_id__in_ids=ids).update(
        process_definition_id=target.id, process_definition_key=target.key, activity_id=activity_id
    )
    Incident.objects.filter(process_instance_id__in_ids=ids).update(
        process_definition_id=target.id, activity_id=activity_id, job_definition_id=job_definition
    )
    HistoricIncident.objects.filter(process_instance_id__in_ids=ids, end_time__isnull=True).update(
        process_definition_id=target.id, activity_id=activity_id, job_definition_id=job_definition
    )
    HistoricVariableInstance.objects.filter(process_instance_id__in_ids=ids).update(
        process_definition_id=target.id, process_definition_key=target.key
    )
    if plan.variables:
        variables_set_many(instance_ids=ids, definition=target, variables=plan.variables, now=now)


def _move_subscriptions(plan: MigrationPlan, ids: set[str], activity_id: Case, now: datetime) -> None:
    """Message subscriptions follow their tokens (which have moved already).

    A catch event's or receive task's subscription moves to the mapped activity and keeps its
    message name unless the instruction updates the event trigger (Camunda's updateEventTrigger).
    Boundary events' subscriptions are made again from the target: those of the source's boundary
    events go, and every token at a target task subscribes that task's boundary events.
    """
    target = plan.target
    subscriptions = EventSubscription.objects.filter(process_instance_id__in_ids=ids)
    boundaries = [a for a, n in plan.source.graph["activities"].items() if n["type"] == "boundaryEvent"]
    if boundaries:
        subscriptions.filter(activity_id__in=boundaries).delete()
    renamed = {
        i.source: target.activity(i.target)["message"]
        for i in plan.instructions
        if i.update_event_trigger and (target.activity(i.target) or {}).get("message")
    }
    subscriptions.update(
        process_definition_id=target.id, activity_id=activity_id, event_name=_case("activity_id", renamed, "event_name")
    )
    hosts = {a: n["boundaryEvents"] for a, n in target.graph["activities"].items() if n.get("boundaryEvents")}
    if not hosts:
        return
    tenants = dict(ProcessInstance.objects.filter(id__in_ids=ids).values_list("id", "tenant_id"))
    EventSubscription.objects.bulk_create(
        EventSubscription(
            id=new_id(), event_type=EventSubscription.MESSAGE, event_name=target.activity(event_id)["message"],
            process_instance_id=instance_id, execution_id=token_id, activity_id=event_id,
            process_definition_id=target.id, tenant_id=tenants.get(instance_id), created_date=now,
        )
        for token_id, instance_id, host in ActivityInstance.objects.filter(
            process_instance_id__in_ids=ids, activity_id__in=list(hosts)
        ).values_list("id", "process_instance_id", "activity_id")
        for event_id in hosts[host]
    )


def _case(column: str, mapping: dict[str, str | None], default: str | None = None) -> Case:
    """A new value chosen by column's old value (default: the updated column unchanged).

    One CASE per column, so a plan that swaps two activities moves both in one consistent step.
    """
    return Case(
        *[When(Q(**{column: old}), then=Value(new, output_field=CharField())) for old, new in mapping.items()],
        default=F(default or column),
        output_field=CharField(),
    )
