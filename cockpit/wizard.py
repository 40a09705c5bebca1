"""The batch operation wizard: URL parameters → the exact REST payload, validated like the REST call."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from batches.operations import ENDPOINTS
from batches.operations.base import BatchOperation
from batches.selection import selection_count
from cockpit.search import date_filter, instance_count, instances, search_query
from engine.errors import BadUserRequest
from engine.models import ProcessDefinition, ProcessInstance
from engine.selectors import visible

NOTHING_TICKED = "Tick at least one instance, or apply to all instances matching the query."
NOTHING_MATCHES = "No instances match the search; change the filters."
NO_JOBS = "0 jobs: the selected instances have no jobs."


@dataclass(frozen=True)
class WizardOperation:
    key: str
    path: str
    title: str
    verb: str
    scope: str  # "runtime" or "history": which instances the search lists
    notice: str
    # What the batch acts on: "instance", or "job" (the jobs of the selected instances).
    unit: str = "instance"
    # Whether a large selection by query asks the operator to type its size before Execute.
    destructive: bool = False

    @property
    def operation(self) -> BatchOperation:
        return ENDPOINTS[self.path]


OPERATIONS = {
    op.key: op
    for op in [
        WizardOperation(
            "cancel", "process-instance/delete", "Cancel running process instances", "cancel", "runtime",
            "Only running process instances can be cancelled. Their history is kept and marked EXTERNALLY_TERMINATED.",
            destructive=True,
        ),
        WizardOperation(
            "delete-history", "history/process-instance/delete", "Delete historic process instances",
            "delete the history of", "history",
            "Only finished process instances can be deleted from history; running instances are not listed.",
            destructive=True,
        ),
        WizardOperation(
            "retries", "process-instance/job-retries", "Set retries of jobs", "set the retries of", "runtime",
            "Sets the retries of every job of the selected running instances; failed jobs run again and their "
            "incidents are resolved.",
            unit="job",
        ),
        WizardOperation(
            "modify", "modification/executeAsync", "Modify process instances", "modify", "runtime",
            "Only running instances of the chosen process definition version are modified; choose the version first.",
            destructive=True,
        ),
        WizardOperation(
            "suspend", "process-instance/suspended-async", "Suspend or activate process instances",
            "change the suspension state of", "runtime",
            "Suspended instances make no progress and their jobs do not run until they are activated.",
        ),
    ]
}
INSTRUCTION_ROWS = 3
# Every field that can carry an error message next to it.
ERROR_FIELDS = [
    "op", "version", "deleteReason", "retries", "dueDate", "suspended", "instructions", "annotation",
    "startedAfter", "startedBefore", "variables", "filters", "selection",
]
# Errors that leave the search without a valid query: no instance is listed then.
QUERY_ERRORS = ("filters", "variables")
# Where a serializer error shows in the wizard.
FIELD_OF_ERROR = {
    "processDefinitionId": "version",
    "processInstanceIds": "selection",
    "historicProcessInstanceIds": "selection",
    "processInstances": "selection",
    "processInstanceQuery": "filters",
    "historicProcessInstanceQuery": "filters",
    "non_field_errors": "selection",
}


def allowed_operations(user) -> list[WizardOperation]:
    return [op for op in OPERATIONS.values() if user.has_perm(op.operation.permission)]


@dataclass
class Draft:
    """What step 1 produced: the operation, its payload, the errors by field, and the affected count."""

    op: WizardOperation | None
    params: QueryDict
    payload: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)  # the payload as the operation's serializer validated it
    count: int = 0  # instances selected
    jobs: int | None = None  # for job operations: the jobs of those instances
    definition: ProcessDefinition | None = None

    @property
    def valid(self) -> bool:
        return self.op is not None and not self.errors and self.count > 0

    @property
    def by_ids(self) -> bool:
        return self.params.get("select") == "ids"


def build_draft(params: QueryDict, user) -> Draft:
    op = OPERATIONS.get(params.get("op", ""))
    draft = Draft(op=op, params=params)
    if op is None or op not in allowed_operations(user):
        if params.get("op"):
            draft.errors["op"] = "Choose one of the operations offered."
        return draft
    draft.definition = _definition(params, user)
    draft.query = search_query(op, params, draft.definition, draft.errors)
    draft.payload = _payload(op, params, draft)
    _validate(draft, user)
    if not draft.errors:
        _count(draft, user)
    return draft


def _count(draft: Draft, user) -> None:
    draft.count = instance_count(draft.op, draft.payload, draft.query, user)
    if draft.count == 0:
        draft.errors["selection"] = NOTHING_TICKED if draft.by_ids else NOTHING_MATCHES
    elif draft.op.unit == "job":
        # The operation's own selection (as Execute resolves it), counted without freezing it.
        try:
            draft.jobs = selection_count(draft.op.operation.selection(draft.data, user))
        except BadUserRequest as exc:
            draft.errors["selection"] = str(exc)
            return
        if draft.jobs == 0:
            draft.errors["selection"] = NO_JOBS


def _definition(params: QueryDict, user) -> ProcessDefinition | None:
    definition_id = params.get("version")
    if not definition_id:
        return None
    return visible(ProcessDefinition, user).filter(id=definition_id).first()


def _selection(op: WizardOperation, params: QueryDict, draft: Draft) -> dict:
    ids = [i for i in params.getlist("id") if i]
    if params.get("select") == "ids":
        name = {"delete-history": "historicProcessInstanceIds", "retries": "processInstances"}.get(op.key, "processInstanceIds")
        return {name: list(dict.fromkeys(ids))}
    name = "historicProcessInstanceQuery" if op.scope == "history" else "processInstanceQuery"
    return {name: draft.query}


def _payload(op: WizardOperation, params: QueryDict, draft: Draft) -> dict:
    get = lambda name: params.get(name, "").strip()  # noqa: E731
    flag = lambda name: bool(params.get(name))  # noqa: E731
    payload = _selection(op, params, draft)
    if op.key == "cancel":
        payload.update(deleteReason=get("deleteReason") or None, skipCustomListeners=flag("skipCustomListeners"),
                       skipSubprocesses=flag("skipSubprocesses"), skipIoMappings=flag("skipIoMappings"))
    elif op.key == "delete-history":
        payload.update(deleteReason=get("deleteReason") or None, failIfNotExists=False)
    elif op.key == "retries":
        payload["retries"] = _retries(get("retries"), draft)
        due = date_filter(params, "dueDate", draft.errors)
        if due:
            payload["dueDate"] = due
    elif op.key == "suspend":
        payload["suspended"] = {"true": True, "false": False}.get(get("suspended"))
        if payload["suspended"] is None:
            draft.errors["suspended"] = "Choose whether to suspend or to activate."
    elif op.key == "modify":
        payload.update(processDefinitionId=draft.definition.id if draft.definition else None,
                       instructions=instructions_of(params), skipCustomListeners=flag("skipCustomListeners"),
                       skipIoMappings=flag("skipIoMappings"), annotation=get("annotation") or None)
    return payload


def instructions_of(params: QueryDict) -> list[dict]:
    instructions = []
    for kind, target in zip(params.getlist("ins_type"), params.getlist("ins_id"), strict=False):
        if not kind or not target:
            continue
        key = "transitionId" if kind == "startTransition" else "activityId"
        instructions.append({"type": kind, key: target})
    return instructions


def _retries(raw: str, draft: Draft) -> int | str | None:
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return raw  # the serializer names the field and the problem


def _validate(draft: Draft, user) -> None:
    if draft.errors:
        return
    try:
        draft.data = draft.op.operation.validate(draft.payload, user)
    except ValidationError as exc:
        for name, messages in _flatten(exc.detail).items():
            draft.errors.setdefault(FIELD_OF_ERROR.get(name, name), messages)
        return
    except BadUserRequest as exc:
        draft.errors["selection"] = str(exc)


def _flatten(detail) -> dict[str, str]:
    if isinstance(detail, dict):
        return {key: "; ".join(_messages(value)) for key, value in detail.items()}
    return {"non_field_errors": "; ".join(_messages(detail))}


def _messages(value) -> list[str]:
    if isinstance(value, dict):
        return [m for item in value.values() for m in _messages(item)]
    if isinstance(value, list):
        return [m for item in value for m in _messages(item)]
    return [str(value)]


def matches(draft: Draft, user) -> QuerySet:
    """The instances the search finds (the same query the payload carries), newest first."""
    if draft.op is None or any(name in draft.errors for name in QUERY_ERRORS):
        return ProcessInstance.objects.none()
    try:
        return instances(draft.op, draft.query, user).order_by("-start_time", "id")
    except BadUserRequest:
        return ProcessInstance.objects.none()
