"""What the Cockpit wizard shows for an operation, declared as data next to the operation itself.

The wizard (cockpit/wizard.py) builds the form, the REST payload and the place of each error from
this; nothing in the wizard names an operation. Field names are the payload's (Camunda's) names, so
the URL parameters of step 1 read like the REST call.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Field kinds. Simple ones become one payload value each; composite editors are shared partials.
TEXT = "text"  # blank → null
CHECKBOX = "checkbox"  # ticked → true, else false
INTEGER = "integer"  # blank → null; not a number → the text, for the serializer to name the problem
DATETIME = "datetime"  # UTC, sent in Camunda's date format; blank → left out
RADIO = "radio"  # choices (form value, label, payload value); nothing chosen → field.required
SELECT = "select"  # like RADIO, as a drop-down
INSTRUCTIONS = "instructions"  # the instructions editor (type + activity or transition rows)
MIGRATION_PLAN = "migration-plan"  # target version + the plan generated for the search's version
# Typed variables: rows of name, type and value (added and removed), sent as Camunda's map
# {"name": {"value": …, "type": …}}; required: the message when no row is filled in.
VARIABLES = "variables"
KINDS = (TEXT, CHECKBOX, INTEGER, DATETIME, RADIO, SELECT, INSTRUCTIONS, MIGRATION_PLAN, VARIABLES)


@dataclass(frozen=True)
class Field:
    """One form field, named as its payload key."""

    name: str
    label: str
    kind: str = TEXT
    # RADIO/SELECT: (form value, label, payload value); INSTRUCTIONS: the instruction types offered.
    choices: tuple = ()
    required: str = ""  # the message when the field is left empty (every kind but CHECKBOX and DATETIME)
    hint: str = ""
    max_length: int | None = None
    min_value: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown wizard field kind {self.kind!r}")


def flags(*names: str) -> tuple[Field, ...]:
    """Camunda's usual boolean options as checkboxes: skipCustomListeners → "Skip custom listeners"."""
    return tuple(Field(name, _label_of(name), CHECKBOX) for name in names)


def _label_of(name: str) -> str:
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).split()
    text = " ".join(words).replace("io mappings", "IO mappings")
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class WizardSpec:
    """An operation as the wizard offers it.

    scope: which instances the search lists ("runtime" or "history"); the query goes to the payload as
    processInstanceQuery or historicProcessInstanceQuery. ids_name: where ticked instances go.
    version: the payload (or path) name that takes the search's chosen definition version, and
    version_required the message when an operation needs one. constants: fixed payload entries.
    sync_path: a synchronous endpoint taking the same payload, used at or below sync_threshold_setting.
    messages: the operation's own errors (Camunda's wording, as REST answers them) as the wizard says
    them instead: (message, field it shows next to, the operator's words).
    """

    key: str
    title: str
    verb: str
    scope: str
    notice: str
    fields: tuple[Field, ...] = ()
    unit: str = "instance"  # what the batch acts on: "instance", or "job" (the jobs of the instances)
    destructive: bool = False  # a large selection by query asks the operator to type its size
    ids_name: str = "processInstanceIds"
    version: str | None = None
    version_required: str = ""
    constants: dict = field(default_factory=dict)
    sync_path: str | None = None
    sync_threshold_setting: str | None = None
    messages: tuple[tuple[str, str, str], ...] = ()

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def query_name(self) -> str:
        return "historicProcessInstanceQuery" if self.scope == "history" else "processInstanceQuery"
