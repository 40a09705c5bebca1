"""The batch operation wizard: URL parameters → the exact REST payload, validated like the REST call."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from batches.operations import ENDPOINTS
from batches.operations.base import BatchOperation
from engine.errors import BadUserRequest
from engine.models import HistoricProcessInstance, ProcessDefinition, ProcessInstance
from engine.selectors import historic_process_instances, process_instances, visible


@dataclass(frozen=True)
class WizardOperation:
    key: str
    path: str
    title: str
    verb: str
    scope: str  # "runtime" or "history": which instances the search lists
    notice: str

    @property
    def operation(self) -> BatchOperation:
        return ENDPOINTS[self.path]


OPERATIONS = {
    op.key: op
    for op in [
        WizardOperation(
            "cancel", "process-instance/delete", "Cancel running process instances", "cancel", "runtime",
            "Only running process instances can be cancelled. Their history is kept and marked EXTERNALLY_TERMINATED.",
        ),
        WizardOperation(
            "delete-history", "history/process-instance/delete", "Delete historic process instances",
            "delete the history of", "history",
            "Only finished process instances can be deleted from history; running instances are not listed.",
        ),
        WizardOperation(
            "retries", "process-instance/job-retries", "Set retries of jobs", "set the job retries of", "runtime",
            "Sets the retries of every job of the selected running instances; failed jobs run again and their "
            "incidents are resolved.",
        ),
        WizardOperation(
            "modify", "modification/executeAsync", "Modify process instances", "modify", "runtime",
            "Only running instances of the chosen process definition version are modified; choose the version first.",
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
    "startedAfter", "startedBefore", "filters", "selection",
]
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


def camunda_date(value: str) -> str:
    """An <input type=datetime-local> value (taken as UTC) in Camunda's date format."""
    parsed = datetime.fromisoformat(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class Draft:
    """What step 1 produced: the operation, its payload, the errors by field, and the affected count."""

    op: WizardOperation | None
    params: QueryDict
    payload: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    count: int = 0
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
    draft.query = _search_query(op, params, draft)
    draft.payload = _payload(op, params, draft)
    _validate(draft)
    if not draft.errors:
        draft.count = _count(draft, user)
        if draft.count == 0 and draft.by_ids:
            draft.errors["selection"] = "Tick at least one instance, or apply to all instances matching the query."
        elif draft.count == 0:
            draft.errors["selection"] = "No instances match the search; change the filters."
    return draft


def _definition(params: QueryDict, user) -> ProcessDefinition | None:
    definition_id = params.get("version")
    if not definition_id:
        return None
    return visible(ProcessDefinition, user).filter(id=definition_id).first()


def _date_filter(params: QueryDict, name: str, draft: Draft) -> str | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return camunda_date(value)
    except ValueError:
        draft.errors[name] = "Enter a date and time like 2026-11-22T14:00."
        return None


def _search_query(op: WizardOperation, params: QueryDict, draft: Draft) -> dict:
    """The filter form in Camunda query parameter names (runtime or historic query)."""
    get = lambda name: params.get(name, "").strip()  # noqa: E731
    history = op.scope == "history"
    query: dict = {"finished": True} if history else {}
    if get("key"):
        query["processDefinitionKey"] = get("key")
    if draft.definition is not None:
        query["processDefinitionId"] = draft.definition.id
    elif op.key == "modify":
        draft.errors["version"] = "Choose the process definition version to modify."
    if get("businessKey"):
        query["processInstanceBusinessKeyLike" if history else "businessKeyLike"] = f"%{get('businessKey')}%"
    if get("activity") and not history:
        query["activityIdIn"] = [get("activity")]
    if get("tenant"):
        query["tenantIdIn"] = [get("tenant")]
    state = get("state")
    if state and state in ({"completed", "externallyTerminated"} if history else {"active", "suspended"}):
        query[state] = True
    if params.get("withIncident") and not history:
        query["withIncident"] = True
    for name in ("startedAfter", "startedBefore"):
        value = _date_filter(params, name, draft)
        if value:
            query[name] = value
    return query


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
        due = _date_filter(params, "dueDate", draft)
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


def _validate(draft: Draft) -> None:
    if draft.errors:
        return
    try:
        draft.op.operation.validate(draft.payload)
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


def matches(draft: Draft, user):
    """The instances the search finds (the same query the payload carries)."""
    if draft.op is None or "filters" in draft.errors:
        return ProcessInstance.objects.none()
    try:
        if draft.op.scope == "history":
            return historic_process_instances(user, draft.query).order_by("-start_time", "id")
        return process_instances(user, draft.query).select_related("process_definition").order_by("-start_time", "id")
    except BadUserRequest:
        return ProcessInstance.objects.none()


def _count(draft: Draft, user) -> int:
    if draft.by_ids:
        ids = next(iter(v for k, v in draft.payload.items() if k.endswith("Ids") or k == "processInstances"))
        model = HistoricProcessInstance if draft.op.scope == "history" else ProcessInstance
        return visible(model, user).filter(id__in=ids).count()
    return matches(draft, user).count()
