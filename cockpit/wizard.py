"""The batch operation wizard: URL parameters → the exact REST payload, validated like the REST call."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from django.conf import settings
from django.db.models import QuerySet
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from batches.operations import ENDPOINTS
from batches.operations.base import BatchOperation
from batches.operations.wizard import INSTRUCTIONS, INTEGER, TEXT, VARIABLES, Field, WizardSpec
from batches.selection import selection_count
from cockpit.fields import editor_error_key, field_values
from cockpit.search import instance_count, instances, search_query
from cockpit.wizard_options import ERROR_FIELDS as OPTION_ERRORS, options_payload
from engine.errors import BadUserRequest
from engine.models import ProcessDefinition, ProcessInstance
from engine.selectors import visible

NOTHING_TICKED = "Tick at least one instance, or apply to all instances matching the query."
NOTHING_MATCHES = "No instances match the search; change the filters."
NO_JOBS = "0 jobs: the selected instances have no jobs."


def no_targets(unit: str) -> str:
    """Step 1's message when the selected instances hold none of what the batch acts on (jobs, external tasks)."""
    return NO_JOBS if unit == "job" else f"0 {unit}s: the selected instances have no {unit}s."


@dataclass(frozen=True)
class WizardOperation:
    """A registered operation as the wizard offers it: its WizardSpec (declared on the operation)."""

    operation: BatchOperation

    @property
    def spec(self) -> WizardSpec:
        return self.operation.wizard

    key = property(lambda self: self.spec.key)
    title = property(lambda self: self.spec.title)
    verb = property(lambda self: self.spec.verb)
    scope = property(lambda self: self.spec.scope)  # "runtime" or "history": which instances the search lists
    notice = property(lambda self: self.spec.notice)
    unit = property(lambda self: self.spec.unit)  # "instance", or what the selected instances hold ("job", "external task")
    destructive = property(lambda self: self.spec.destructive)  # a large selection by query: type its size
    fields = property(lambda self: self.spec.fields)
    ids_name = property(lambda self: self.spec.ids_name)
    query_name = property(lambda self: self.spec.query_name)
    version = property(lambda self: self.spec.version)
    version_required = property(lambda self: self.spec.version_required)

    @property
    def path(self) -> str:
        return self.operation.path

    @property
    def path_parameters(self) -> list[str]:
        """Payload names that travel in the REST path instead (restart-async's processDefinitionId)."""
        return PATH_PARAMETER.findall(self.operation.path)

    def rest_path(self, payload: dict, *, now: bool = False) -> str:
        """The REST path the payload goes to, path parameters filled in (now: the synchronous form)."""
        if now and self.spec.sync_path:
            return self.spec.sync_path
        return PATH_PARAMETER.sub(lambda m: quote(str(payload.get(m.group(1)) or ""), safe=":"), self.operation.path)

    def rest_body(self, payload: dict) -> dict:
        """The JSON body as a Camunda client sends it: the payload without its path parameters."""
        return {name: value for name, value in payload.items() if name not in self.path_parameters}

    def executes_now(self, count: int) -> bool:
        """Whether a confirmed selection of count targets runs synchronously instead of as a batch."""
        spec = self.spec
        return bool(spec.sync_path) and count <= getattr(settings, spec.sync_threshold_setting, 0)


PATH_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
# Every registered operation the wizard offers, in registry order.
OPERATIONS = {
    operation.wizard.key: WizardOperation(operation) for operation in ENDPOINTS.values() if operation.wizard is not None
}
# Every field that can carry an error message next to it.
SEARCH_ERRORS = ["startedAfter", "startedBefore", "variables", "filters", "selection"]
ERROR_FIELDS = list(
    dict.fromkeys(
        ["op", "version", *(f.name for op in OPERATIONS.values() for f in op.fields), *SEARCH_ERRORS, *OPTION_ERRORS]
    )
)
# Errors that leave the search without a valid query: no instance is listed then.
QUERY_ERRORS = ("filters", "variables")
# Where a serializer error shows in the wizard (besides each field's own name, and each version name).
FIELD_OF_ERROR = {
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
    editors: dict = field(default_factory=dict)  # what each composite editor shows, by field name

    @property
    def valid(self) -> bool:
        return self.op is not None and not self.errors and self.count > 0

    @property
    def shown_errors(self) -> dict[str, str]:
        """The errors the page shows: none yet for a value to type that the form has never sent (the
        operation was just chosen), though the draft stays invalid until it is filled in. Prompts to
        choose (the version, suspend or activate) show at once: they say what to do first."""
        if self.op is None:
            return self.errors
        untouched = set()
        for f in self.op.fields:
            if f.kind in TYPED_KINDS and not any(p in self.params for p in _params_of(f)):
                untouched.update((f.name, editor_error_key(f)))
        return {name: message for name, message in self.errors.items() if name not in untouched}

    @property
    def by_ids(self) -> bool:
        return self.params.get("select") == "ids"


# Fields whose missing value is typed in (or added row by row), not chosen.
TYPED_KINDS = (TEXT, INTEGER, INSTRUCTIONS, VARIABLES)


def _params_of(field_: Field) -> tuple[str, ...]:
    """The URL parameters a field's inputs send (the composite editors send several)."""
    return {INSTRUCTIONS: ("ins_type",), VARIABLES: (f"{field_.name}_name",)}.get(field_.kind, (field_.name,))


def build_draft(params: QueryDict, user) -> Draft:
    op = OPERATIONS.get(params.get("op", ""))
    draft = Draft(op=op, params=params)
    if op is None or op not in allowed_operations(user):
        if params.get("op"):
            draft.errors["op"] = "Choose one of the operations offered."
        return draft
    draft.definition = _definition(params, user)
    draft.query = search_query(op, params, draft.definition, draft.errors)
    draft.payload = _payload(op, params, draft, user)
    _validate(draft, user)
    if not draft.errors:
        _count(draft, user)
    return draft


def _count(draft: Draft, user) -> None:
    draft.count = instance_count(draft.op, draft.payload, draft.query, user)
    if draft.count == 0:
        draft.errors["selection"] = NOTHING_TICKED if draft.by_ids else NOTHING_MATCHES
    elif draft.op.unit != "instance":
        # The operation's own selection (as Execute resolves it), counted without freezing it.
        try:
            draft.jobs = selection_count(draft.op.operation.selection(draft.data, user))
        except BadUserRequest as exc:
            draft.errors["selection"] = str(exc)
            return
        if draft.jobs == 0:
            draft.errors["selection"] = no_targets(draft.op.unit)


def _definition(params: QueryDict, user) -> ProcessDefinition | None:
    definition_id = params.get("version")
    if not definition_id:
        return None
    return visible(ProcessDefinition, user).filter(id=definition_id).first()


def _selection(op: WizardOperation, params: QueryDict, draft: Draft) -> dict:
    if params.get("select") == "ids":
        return {op.ids_name: list(dict.fromkeys(i for i in params.getlist("id") if i))}
    return {op.query_name: draft.query}


def _payload(op: WizardOperation, params: QueryDict, draft: Draft, user) -> dict:
    payload = _selection(op, params, draft)
    if op.version:
        payload[op.version] = draft.definition.id if draft.definition else None
    payload.update(field_values(op.fields, params, draft, user))
    payload.update(op.spec.constants)
    payload.update(options_payload(params, op.operation.type, user, draft.errors))  # our options, when filled in
    return payload


# The serializers' words for a missing value; the wizard names what to enter instead.
MISSING_VALUE = {
    "This field may not be null.",
    "This field is required.",
    "This field may not be blank.",
    "This list may not be empty.",
}


def _validate(draft: Draft, user) -> None:
    if draft.errors:
        return
    try:
        draft.data = draft.op.operation.validate(draft.payload, user)
    except ValidationError as exc:
        for name, messages in _flatten(exc.detail).items():
            draft.errors.setdefault(_error_field(draft.op, name), _in_words(draft.op, name, messages))
        return
    except BadUserRequest as exc:
        for message, name, words in draft.op.spec.messages:
            if str(exc) == message:
                draft.errors[name] = words
                return
        draft.errors[_field_named_in(draft.op, str(exc))] = str(exc)


def _in_words(op: WizardOperation, name: str, message: str) -> str:
    """A serializer's message as the operator reads it: a missing value says what to enter."""
    if message not in MISSING_VALUE:
        return message
    field_ = next((f for f in op.fields if f.name == name), None)
    if field_ is None:
        return f"{name}: {message}"
    return field_.required or f"Enter a value for {field_.label.lower()}."


def _error_field(op: WizardOperation, name: str) -> str:
    return "version" if op.version and name == op.version else FIELD_OF_ERROR.get(name, name)


def _field_named_in(op: WizardOperation, message: str) -> str:
    """Where an engine error shows: next to the first field its message names, else at the selection."""
    for field_ in op.fields:
        if re.search(rf"\b{re.escape(field_.name)}\b", message):
            return field_.name
    return "selection"


def _flatten(detail) -> dict[str, str]:
    if isinstance(detail, dict):
        return {key: "; ".join(_messages(value)) for key, value in detail.items()}
    return {"non_field_errors": "; ".join(_messages(detail))}


def _messages(value) -> list[str]:
    if isinstance(value, dict):  # a nested field's error names it: "processDefinitionKeyIn: This list …"
        return [f"{_nested_name(key)}: {m}" for key, item in value.items() for m in _messages(item)]
    if isinstance(value, list):
        return [m for item in value for m in _messages(item)]
    return [str(value)]


def _nested_name(key: object) -> str:
    return f"item {key + 1}" if isinstance(key, int) else str(key)


def matches(draft: Draft, user) -> QuerySet:
    """The instances the search finds (the same query the payload carries), newest first."""
    if draft.op is None or any(name in draft.errors for name in QUERY_ERRORS):
        return ProcessInstance.objects.none()
    try:
        return instances(draft.op, draft.query, user).order_by("-start_time", "id")
    except BadUserRequest:
        return ProcessInstance.objects.none()
