"""Conditions behind Camunda's query parameters: each takes the parameter's value and returns a Q."""
from __future__ import annotations

from collections.abc import Callable

from django.db.models import Exists, Max, Model, OuterRef, Q
from django.utils import timezone

from engine.errors import BadUserRequest
from engine.models import (
    ActivityInstance,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricJobLog,
    Job,
    ProcessDefinition,
)
from engine.services.jobs import due_q
from engine.variable_filters import VariableCondition, variables_condition

Condition = Callable[..., Q]


def like(field: str) -> Condition:
    """Camunda's `…Like` parameters: SQL LIKE with the caller's own % and _ wildcards."""
    return lambda value: Q(**{f"{field}__like": value})


def flag(**lookup) -> Condition:
    """A boolean parameter that filters when true and means "no filter" when false (Camunda's rule)."""
    return lambda value: Q(**lookup) if value else Q()


def not_in(field: str) -> Condition:
    return lambda values: ~Q(**{f"{field}__in": values})


def modifier(value: object) -> Q:
    """A parameter that changes how another one applies (e.g. variableNamesIgnoreCase): no condition of its own."""
    return Q()


def every_instance(value: object) -> Q:
    """A filter every instance of this engine passes: it has no call activities, so every
    instance is a root (rootProcessInstances) and a leaf (leafProcessInstances)."""
    return Q()


def no_instance(value: object) -> Q:
    """A filter no instance of this engine passes (superProcessInstance, subProcessInstance: no call activities)."""
    return Q(pk__in=[])


def exists(model: type[Model], field: str = "process_instance_id", outer: str = "pk", **lookups) -> Q:
    return Exists(model.objects.filter(**{field: OuterRef(outer)}, **lookups))


# --- runtime instances ------------------------------------------------------------------


def active_activities(ids: list[str]) -> Q:
    return exists(ActivityInstance, activity_id__in=ids)


def incident(model: type[Model], field: str, lookup: str = "") -> Condition:
    """Instances with an incident (runtime Incident, or HistoricIncident) whose field matches."""
    return lambda value: exists(model, **{f"{field}{lookup}": value})


def variables(model: type[Model]) -> Condition:
    """Camunda's `variables` on VariableInstance (runtime) or HistoricVariableInstance rows."""

    def apply(conditions: list[VariableCondition], **ignore_case: bool) -> Q:
        return variables_condition(
            model,
            conditions,
            names_ignore_case=bool(ignore_case.get("variableNamesIgnoreCase")),
            values_ignore_case=bool(ignore_case.get("variableValuesIgnoreCase")),
        )

    return apply


# --- historic instances -----------------------------------------------------------------


def incident_status(value: str) -> Q:
    if value not in (HistoricIncident.OPEN, HistoricIncident.RESOLVED):
        raise BadUserRequest(f"Cannot set query parameter 'incidentStatus' to value '{value}': use 'open' or 'resolved'")
    return exists(HistoricIncident, state=value)


def open_activities(ids: list[str]) -> Q:
    """Instances with an activity active now (an open activity instance in history)."""
    return exists(HistoricActivityInstance, activity_id__in=ids, end_time__isnull=True)


def executed_activities(ids: list[str]) -> Q:
    """Instances that executed one of the activities (it ended, completed or cancelled)."""
    return exists(HistoricActivityInstance, activity_id__in=ids, end_time__isnull=False)


def executed_activity_between(lookup: str) -> Condition:
    """An activity started or ended on the right side of the date (Camunda's executedActivityAfter/Before)."""
    return lambda when: Exists(
        HistoricActivityInstance.objects.filter(process_instance_id=OuterRef("pk")).filter(
            Q(**{f"start_time__{lookup}": when}) | Q(**{f"end_time__{lookup}": when})
        )
    )


def jobs_retrying(value: bool) -> Q:
    """Instances with a failed job that still has retries left (Camunda's withJobsRetrying)."""
    return exists(Job, retries__gt=0, exception_message__isnull=False) if value else Q()


# --- process definitions ----------------------------------------------------------------


def latest_version(value: bool) -> Q:
    if not value:
        return Q()
    latest = ProcessDefinition.objects.values("key", "tenant_id").annotate(v=Max("version"))
    condition = Q(pk__in=[])
    for row in latest:
        condition |= Q(key=row["key"], tenant_id=row["tenant_id"], version=row["v"])
    return condition


def without_tenant(value: bool) -> Q:
    return Q(tenant_id__isnull=True) if value else Q()


# --- jobs --------------------------------------------------------------------------------


def executable_jobs(value: bool) -> Q:
    """Retries left and due (no due date, or one in the past): Camunda's `executable`."""
    return Q(retries__gt=0) & due_q(timezone.now()) if value else Q()


def acquired_jobs(value: bool) -> Q:
    """Jobs a worker holds now (a lock that has not expired)."""
    return Q(lock_owner__isnull=False, lock_expiration_time__gt=timezone.now()) if value else Q()


def job_dates(field: str) -> Condition:
    def apply(conditions: list) -> Q:
        result = Q()
        for operator, when in conditions:
            result &= Q(**{f"{field}__{operator}": when})
        return result

    return apply


def job_tenants(ids: list[str], includeJobsWithoutTenantId: bool = False) -> Q:  # noqa: N803 (Camunda's name)
    return Q(tenant_id__in=ids) | Q(tenant_id__isnull=True) if includeJobsWithoutTenantId else Q(tenant_id__in=ids)


def executed_job_between(lookup: str) -> Condition:
    return lambda when: exists(HistoricJobLog, **{f"timestamp__{lookup}": when})
