"""Starting many instances at once: the token walk runs in memory, the rows go in with bulk inserts.

Each new instance walks its start instructions like any other (engine.services.runtime.Operation:
the same gateways, conditions on its own variables, joins), but the walk records the rows it
would write instead of writing them; `save()` then inserts every table's rows for the whole set
in one statement each. A restart of 5,000 instances is a handful of INSERTs, not 5,000 × 9.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from engine.bulk import rows_insert
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricProcessInstance,
    HistoricVariableInstance,
    HistoricVariableUpdate,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    VariableInstance,
    new_id,
)
from engine.services.jobs import jobs_create_bulk
from engine.services.removal_time import removal_time_for_new_rows
from engine.services.runtime import ASYNC_CONTINUATION, Operation, external_task_of, historic_instance_of
from engine.services.variables import variable_rows, variable_updates


@dataclass
class NewRows:
    instances: list[ProcessInstance] = field(default_factory=list)
    history: list[HistoricProcessInstance] = field(default_factory=list)
    tokens: list[ActivityInstance] = field(default_factory=list)
    activities: list[HistoricActivityInstance] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    external_tasks: list[ExternalTask] = field(default_factory=list)
    subscriptions: list[EventSubscription] = field(default_factory=list)
    variables: list[VariableInstance] = field(default_factory=list)
    historic_variables: list[HistoricVariableInstance] = field(default_factory=list)


class RecordedOperation(Operation):
    """An Operation on an instance that does not exist yet: rows are collected, not written."""

    def __init__(self, *, instance, definition, now, variables: dict, rows: NewRows, job_definitions: dict) -> None:
        super().__init__(instance=instance, definition=definition, now=now)
        self._variables = variables
        self.rows = rows
        self.job_definitions = job_definitions
        self.live: list[ActivityInstance] = []
        self.history_of: dict[str, HistoricActivityInstance] = {}

    def forget_variables(self) -> None:  # the variables are given, never re-read
        pass

    def _history(self, activity_id: str, node: dict, *, activity_instance_id: str, ended: bool) -> None:
        row = HistoricActivityInstance(
            id=activity_instance_id, activity_id=activity_id, activity_name=node["name"], activity_type=node["type"],
            process_definition_id=self.definition.id, process_instance_id=self.instance.id, start_time=self.now,
            end_time=self.now if ended else None, duration_in_millis=0 if ended else None, tenant_id=self.instance.tenant_id,
        )
        self.rows.activities.append(row)
        self.history_of[activity_instance_id] = row

    def _create_token(self, activity_id: str, node: dict) -> ActivityInstance:
        token = ActivityInstance(
            id=new_id(), process_instance_id=self.instance.id, activity_id=activity_id, activity_type=node["type"],
            activity_name=node["name"], start_time=self.now,
        )
        self.live.append(token)
        self._history(activity_id, node, activity_instance_id=token.id, ended=False)
        return token

    def _create_service_job(self, token: ActivityInstance) -> None:
        node = self.definition.activity(token.activity_id)
        if node.get("topic"):
            self.rows.external_tasks.append(external_task_of(self.instance, self.definition, token, node, self.now))
            return
        self.rows.jobs.append(Job(
            id=new_id(), job_type=ASYNC_CONTINUATION, job_definition=self.job_definitions.get(token.activity_id),
            process_instance_id=self.instance.id, process_definition_id=self.definition.id,
            process_definition_key=self.definition.key, execution_id=token.id, activity_id=token.activity_id,
            tenant_id=self.instance.tenant_id, suspended=False, retries=settings.ENGINE["DEFAULT_JOB_RETRIES"],
        ))

    def _subscribe(self, subscription: EventSubscription) -> None:
        self.rows.subscriptions.append(subscription)

    def _arrive_at_join(self, activity_id: str, node: dict) -> None:
        self._create_token(activity_id, node)
        waiting = [t for t in self.live if t.activity_id == activity_id][: len(node["incoming"])]
        if len(waiting) < len(node["incoming"]):
            return
        for token in waiting:
            self.live.remove(token)
            row = self.history_of[token.id]
            row.end_time, row.duration_in_millis = self.now, 0
        self.leave(activity_id)

    def remove_tokens(self, token_ids: list[str], *, canceled: bool) -> None:
        raise NotImplementedError("a new instance has no tokens to remove before it exists")

    def finish(self, *, delete_reason: str | None = None) -> bool:
        self.rows.tokens.extend(self.live)
        return not self.live


def job_definitions_of(definition: ProcessDefinition) -> dict[str, JobDefinition]:
    """{activity id: its async-continuation job definition}: what a recorded walk's jobs belong to."""
    return {
        jd.activity_id: jd
        for jd in JobDefinition.objects.filter(process_definition=definition, job_type=ASYNC_CONTINUATION)
    }


class BulkStart:
    """New instances of one definition, each placed by the same start instructions."""

    def __init__(self, definition: ProcessDefinition, now: datetime) -> None:
        self.definition = definition
        self.now = now
        self.rows = NewRows()
        self.updates: list[HistoricVariableUpdate] = []
        self.job_definitions = job_definitions_of(definition)

    def add(self, *, business_key: str | None, variables: dict, instructions: list[dict], user_id: str | None = None,
            restarted_from: str | None = None) -> ProcessInstance:
        definition = self.definition
        instance = ProcessInstance(
            id=new_id(), process_definition=definition, business_key=business_key, tenant_id=definition.tenant_id,
            start_time=self.now, start_user_id=user_id,
        )
        operation = RecordedOperation(
            instance=instance, definition=definition, now=self.now, variables=variables, rows=self.rows,
            job_definitions=self.job_definitions,
        )
        for instruction in instructions:
            operation.start(instruction)
        ended = operation.finish()
        first = instructions[0]
        history = historic_instance_of(
            instance,
            start_activity_id=first.get("activityId") or definition.flow(first["transitionId"])["target"],
            restarted_process_instance_id=restarted_from,
        )
        runtime, historic = variable_rows(instance, variables, self.now)
        self.rows.historic_variables.extend(historic)
        self.updates.extend(variable_updates(historic, initial=True))
        if ended:  # every token reached an end event: it completes as it starts
            history.state, history.end_time, history.duration_in_millis = HistoricProcessInstance.COMPLETED, self.now, 0
        else:
            self.rows.instances.append(instance)
            self.rows.variables.extend(runtime)
        self.rows.history.append(history)
        return instance

    def save(self) -> None:
        rows = self.rows
        removal_time_for_new_rows(self.definition, rows.history, rows.activities, rows.historic_variables, self.updates)
        for model, objects in (
            (ProcessInstance, rows.instances),
            (HistoricProcessInstance, rows.history),
            (ActivityInstance, rows.tokens),
            (HistoricActivityInstance, rows.activities),
            (VariableInstance, rows.variables),
            (ExternalTask, rows.external_tasks),
            (EventSubscription, rows.subscriptions),
            (HistoricVariableInstance, rows.historic_variables),
            (HistoricVariableUpdate, self.updates),
        ):
            rows_insert(model, objects)  # COPY / one executemany: no per-row SQL compilation
        if rows.jobs:
            jobs_create_bulk(rows.jobs)
