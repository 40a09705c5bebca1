"""What every batch operation declares: type, endpoint, schema, selection, and how a chunk is applied."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from django.db.models import Model, Q, QuerySet
from rest_framework import serializers

from batches.operations.wizard import WizardSpec
from engine.errors import BadUserRequest
from engine.models import HistoricProcessInstance, ProcessInstance
from engine.query import MAX_LIST_LENGTH, QuerySpec
from engine.selectors import HISTORIC_PROCESS_INSTANCE, PROCESS_INSTANCE, query, visible
from engine.services.lifecycle import ChunkResult

NOT_VISIBLE = "not found (or not visible to the batch's creator)"
# Eligibility sentences: (for one target, for several), after the number ("3 are not running …").
NOT_RUNNING_SKIPPED = ("is not running and will be skipped", "are not running and will be skipped")

Sentence = tuple[str, str]


@dataclass
class Selection:
    """What a batch runs on: explicit ids (kept even if unknown; they are skipped later) and queries.

    copied: items of an earlier batch (a BatchItem queryset) whose targets are copied in their order,
    in the database, kept even if the targets are gone (a retry runs on exactly them).
    """

    ids: list[str] = field(default_factory=list)
    sources: list[QuerySet] = field(default_factory=list)
    copied: QuerySet | None = None


def id_list(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(allow_blank=False, allow_null=False, max_length=64),
        required=False,
        allow_null=True,
        max_length=MAX_LIST_LENGTH,
        **kwargs,
    )


def query_field() -> serializers.DictField:
    return serializers.DictField(required=False, allow_null=True)


def check_query(spec: QuerySpec, name: str, value: Mapping | None) -> Mapping | None:
    """Validate a nested query object with the engine's parameter rules (400 names the field)."""
    if value is None:
        return None
    try:
        spec.parse(value, from_body=True)
        spec.ordering(value, from_body=True)
    except BadUserRequest as exc:
        # DRF names the field itself ("processInstanceQuery: …"); the message must not repeat it.
        raise serializers.ValidationError(str(exc)) from exc
    return value


class InstanceQueries(serializers.Serializer):
    """processInstanceQuery and historicProcessInstanceQuery, validated with the engine's query rules."""

    processInstanceQuery = query_field()
    historicProcessInstanceQuery = query_field()

    def validate_processInstanceQuery(self, value):
        from engine.selectors import PROCESS_INSTANCE

        return check_query(PROCESS_INSTANCE, "processInstanceQuery", value)

    def validate_historicProcessInstanceQuery(self, value):
        from engine.selectors import HISTORIC_PROCESS_INSTANCE

        return check_query(HISTORIC_PROCESS_INSTANCE, "historicProcessInstanceQuery", value)


# The historic-query-based creation endpoints (delete-historic-query-based,
# job-retries-historic-query-based) select with ids and historicProcessInstanceQuery only; Camunda
# silently drops a processInstanceQuery there, which would widen nothing but select without it.
IGNORED_RUNTIME_QUERY = (
    "not accepted here (Camunda ignores it on this endpoint and would select without it); "
    "use historicProcessInstanceQuery, or POST /{runtime_path} for a runtime query"
)


class HistoricQueryOnly(serializers.Serializer):
    """historicProcessInstanceQuery validated with the engine's rules; a processInstanceQuery is refused
    (a 400 naming the runtime endpoint, runtime_path, that takes it) rather than ignored as in Camunda."""

    runtime_path: ClassVar[str]
    historicProcessInstanceQuery = query_field()
    processInstanceQuery = serializers.JSONField(required=False, allow_null=True)  # refused when set

    def validate_historicProcessInstanceQuery(self, value):
        from engine.selectors import HISTORIC_PROCESS_INSTANCE

        return check_query(HISTORIC_PROCESS_INSTANCE, "historicProcessInstanceQuery", value)

    def validate_processInstanceQuery(self, value):
        if value is not None:
            raise serializers.ValidationError(IGNORED_RUNTIME_QUERY.format(runtime_path=self.runtime_path))
        return value


def definition_refs(definition) -> dict:
    """The op-log columns naming a process definition (Camunda's batch commands fill both)."""
    return {"process_definition_id": definition.id, "process_definition_key": definition.key}


def ineligible(count: int, sentence: Sentence) -> list[tuple[str, int]]:
    """One group of targets the batch will skip or fail, worded for its count; nothing when it is empty."""
    if not count:
        return []
    return [(sentence[0] if count == 1 else sentence[1], count)]


def running_among(targets: QuerySet, user) -> QuerySet:
    """The running instances (visible to user) among target ids; the others are skipped as not running."""
    return visible(ProcessInstance, user).filter(pk__in=targets)


def run_query(spec: QuerySpec, model: type[Model], user, value: Mapping) -> QuerySet:
    return query(spec, model, user, value, from_body=True, in_batch=True).order_by()


def selection_of(data: dict, user, ids_name: str, *queries: tuple[str, QuerySpec, type[Model]]) -> Selection:
    """The payload's explicit ids (data[ids_name], kept even if unknown) ∪ what each given query
    (payload name, query spec, model) finds; a query the payload does not carry adds nothing."""
    sources = [run_query(spec, model, user, data[name]) for name, spec, model in queries if data.get(name) is not None]
    return Selection(ids=data.get(ids_name) or [], sources=sources)


INSTANCE_QUERY = ("processInstanceQuery", PROCESS_INSTANCE, ProcessInstance)
HISTORIC_INSTANCE_QUERY = ("historicProcessInstanceQuery", HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance)


def instance_selection(data: dict, user) -> Selection:
    """processInstanceIds ∪ processInstanceQuery ∪ historicProcessInstanceQuery, as process instance ids
    (a historic instance's id is its process instance's id). A payload without one of them (its
    serializer has no such field) simply adds nothing."""
    return selection_of(data, user, "processInstanceIds", INSTANCE_QUERY, HISTORIC_INSTANCE_QUERY)


class BatchOperation:
    """One batch type. Subclasses live one per module in batches/operations/ and join REGISTRY."""

    type: ClassVar[str]
    path: ClassVar[str]
    label: ClassVar[str]
    permission_codename: ClassVar[str]
    permission_name: ClassVar[str]
    serializer_class: ClassVar[type[serializers.Serializer]]
    target_model: ClassVar[type[Model]]
    empty_message: ClassVar[str]
    # Batch sizes of this type, unless BATCH_<NAME>_<TYPE> says otherwise (None: the global default).
    invocations_per_job: ClassVar[int | None] = None
    jobs_per_seed: ClassVar[int | None] = None
    # How the Cockpit wizard offers this type (None: not offered there).
    wizard: ClassVar[WizardSpec | None] = None

    @property
    def permission(self) -> str:
        return f"batches.{self.permission_codename}"

    def validate(self, payload: object, user=None) -> dict:
        """The payload checked as the REST call checks it (user: whose definitions and instances count)."""
        if not isinstance(payload, dict):
            raise BadUserRequest("Request body must be a JSON object")
        serializer = self.serializer_class(data=payload)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def selection(self, data: dict, user) -> Selection:
        raise NotImplementedError

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        """(sentence, count) for each group of frozen targets the batch will skip or fail, before it runs.

        targets: the target ids as a one-column queryset; count set-based, never load them. The
        sentences must say what apply() will do to those targets. Default: every target is eligible.
        """
        return []

    def configuration(self, data: dict) -> dict:
        """What the execution jobs need, stored on the batch as JSON."""
        return {}

    def tenant_id(self, data: dict) -> str | None | bool:
        """The batch's tenant; True means 'the one tenant all targets share, if any'."""
        return True

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        raise NotImplementedError

    def operation_log_refs(self, data: dict) -> dict:
        """Columns of the creation's op-log entry besides the batch id (e.g. the process definition)."""
        return {}

    def apply(self, ids: list[str], configuration: dict) -> ChunkResult:
        raise NotImplementedError

    def run_chunk(self, ids: list[str], configuration: dict) -> ChunkResult:
        """Apply to the targets the creator may see; the others are skipped as not found."""
        allowed = configuration.get("tenantIds")
        hidden: set[str] = set()
        if allowed is not None:
            hidden = set(
                self.target_model.objects.filter(pk__in_ids=set(ids))
                .exclude(Q(tenant_id__isnull=True) | Q(tenant_id__in=allowed))
                .values_list("pk", flat=True)
            )
        result = self.apply([i for i in ids if i not in hidden], configuration) if len(hidden) < len(ids) else ChunkResult()
        result.skipped.update({i: NOT_VISIBLE for i in hidden})
        return result
