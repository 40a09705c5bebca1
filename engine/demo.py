"""Demo data: realistic processes, tenants, users and many instances in varied states, inserted in bulk."""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.utils import timezone

from engine.bulk import copy_insert, copy_text, quoted_names, rows_of, tuples_insert, value_converter
from engine.models import (
    ActivityInstance,
    EventSubscription,
    ExternalTask,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricJobLog,
    HistoricProcessInstance,
    HistoricVariableInstance,
    HistoricVariableUpdate,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    Tenant,
    VariableInstance,
    new_id,
)
from engine.models.base import new_ids
from engine.services.deployment import deployment_create
from engine.services.external_tasks import external_task_incident
from engine.services.incidents import historic_incident_for
from engine.services.runtime import ASYNC_CONTINUATION, external_task_of, subscriptions_of
from engine.services.variables import variable_rows, variable_updates

BPMN_DIR = Path(__file__).parent / "bpmn"
CHUNK = 10_000  # instances per transaction (a commit costs tens of ms on SQLite)
CUSTOMERS = ["ACME Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", "Wayne Enterprises", "Hooli"]
TENANTS = {"tenant-a": "Tenant A (Retail)", "tenant-b": "Tenant B (Insurance)"}

# (definition slot, business key prefix, waiting activity, service task that may fail)
PLANS = [
    ("invoice:1", "INV", "approveInvoice", "prepareBankTransfer", "bankDown"),
    ("invoice:2", "INV", "approveInvoice", "archiveInvoice", "archiveDown"),
    ("invoice:2", "INV", "secondApproval", "prepareBankTransfer", "bankDown"),
    ("orderFulfillment:1", "ORD", "shipOrder", "chargeCard", "cardDeclined"),
    ("claimHandling:tenant-a", "CLM", "decideClaim", "checkClaim", "fraudServiceDown"),
    ("claimHandling:tenant-b", "CLM", "decideClaim", "checkClaim", "fraudServiceDown"),
    # Waits at a receive task for the message "PaymentReceived": something to correlate.
    ("payment:1", "PAY", "awaitPayment", "bookPayment", "ledgerDown"),
    # Waits for an external worker of topic carrier-booking (failed: its worker reported 0 retries left).
    ("shipmentDispatch:1", "SHP", "bookCarrier", "notifyCustomer", "carrierDown"),
]


def ensure_users(password: str) -> None:
    """An admin superuser and one operator per tenant (password as given)."""
    User = get_user_model()
    admin, _ = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
    admin.set_password(password)
    admin.save()
    operators, _ = Group.objects.get_or_create(name="operators")
    operators.permissions.set(Permission.objects.filter(content_type__app_label__in=["engine", "batches"]))
    for tenant_id, name in TENANTS.items():
        tenant, _ = Tenant.objects.get_or_create(id=tenant_id, defaults={"name": name})
        user, _ = User.objects.get_or_create(username=f"operator-{tenant_id[-1]}", defaults={"is_staff": True})
        user.set_password(password)
        user.save()
        user.groups.add(operators)
        tenant.members.add(user)


def ensure_definitions() -> dict[str, ProcessDefinition]:
    """Deploy the demo processes once; return them by slot ("key:version" or "key:tenant")."""
    if not ProcessDefinition.objects.filter(key="invoice").exists():
        for name in ["invoice_v1.bpmn", "invoice_v2.bpmn", "order_fulfillment.bpmn"]:
            deployment_create(name=f"demo {name}", resources=[(name, (BPMN_DIR / name).read_bytes())], source="demo")
        claim = (BPMN_DIR / "claim_handling.bpmn").read_bytes()
        for tenant_id in TENANTS:
            deployment_create(name="demo claims", resources=[("claim_handling.bpmn", claim)], tenant_id=tenant_id, source="demo")
    if not ProcessDefinition.objects.filter(key="invoice", version=3).exists():
        # The migration target of version 2 (mapped, renamed, removed and new activities); no instances.
        name = "invoice_v3.bpmn"
        deployment_create(name=f"demo {name}", resources=[(name, (BPMN_DIR / name).read_bytes())], source="demo")
    if not ProcessDefinition.objects.filter(key="shipmentDispatch").exists():
        # External tasks: two service tasks that workers of topics carrier-booking and notifications do.
        name = "shipment_dispatch.bpmn"
        deployment_create(name=f"demo {name}", resources=[(name, (BPMN_DIR / name).read_bytes())], source="demo")
    if not ProcessDefinition.objects.filter(key="payment").exists():
        # Message events: a receive task, a message catch event and a message start event.
        name = "payment.bpmn"
        deployment_create(name=f"demo {name}", resources=[(name, (BPMN_DIR / name).read_bytes())], source="demo")
    return definition_slots()


def definition_slots() -> dict[str, ProcessDefinition]:
    """The deployed definitions by slot ("key:version" or "key:tenant")."""
    return {f"{d.key}:{d.tenant_id or d.version}": d for d in ProcessDefinition.objects.all()}


@dataclass
class Rows:
    instances: list = field(default_factory=list)
    history: list = field(default_factory=list)
    activities: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    incidents: list = field(default_factory=list)
    job_logs: list = field(default_factory=list)
    variables: list = field(default_factory=list)
    historic_variables: list = field(default_factory=list)
    variable_updates: list = field(default_factory=list)
    subscriptions: list = field(default_factory=list)
    external_tasks: list = field(default_factory=list)

    def by_model(self) -> list[tuple[type, list]]:
        """The rows by model, in insertion order (parents before the rows that refer to them)."""
        return [
            (HistoricProcessInstance, self.history),
            (HistoricActivityInstance, self.activities),
            (ProcessInstance, self.instances),
            (ActivityInstance, self.tokens),
            (EventSubscription, self.subscriptions),
            (ExternalTask, self.external_tasks),
            (Job, self.jobs),
            (Incident, self.incidents),
            (HistoricIncident, [historic_incident_for(i) for i in self.incidents]),
            (HistoricJobLog, self.job_logs),
            (VariableInstance, self.variables),
            (HistoricVariableInstance, self.historic_variables),
            (HistoricVariableUpdate, self.variable_updates),
        ]


# How the loader reaches a million instances in about a minute: the rows of one instance depend on
# its plan and state (PLANS × _state_of: a few dozen kinds) and, within a kind, only on a handful of
# values. So each kind is built once with the engine's own row builders (the same rows a started
# instance gets) from stand-in values, as converted database values; each instance copies its
# kind's rows and puts its own values where the stand-ins are: fresh ids, business key, start time,
# duration and the variables that differ (no model object per row, about 20 µs an instance).
STAND_IN_N = 9_876_543  # gives a business key, an amount and a customer no real row shares


@dataclass
class Kind:
    """The rows of one (plan, state) kind: per model its columns and rows, and per row the
    positions holding a stand-in (each row's own list)."""

    tables: list[tuple[type, list[str], list[tuple[list, tuple[int, ...]]]]]
    ids: list  # the stand-in ids, in order: each instance gets as many fresh ones
    keys: dict  # stand-in value → what of the instance replaces it: "key", "amount", "started", …
    text: list | None = None  # the rows rendered for COPY, per row its fields (Kinds.lines)


class Kinds:
    def __init__(self, slots, job_definitions, now: datetime, stacktrace: str) -> None:
        self.slots, self.job_definitions, self.now, self.stacktrace = slots, job_definitions, now, stacktrace
        self.started = now - timedelta(seconds=12_345, milliseconds=678)  # the stand-in start time
        self.kinds: dict[tuple[int, str], Kind] = {}
        self.date = _date_converter()

    def _values(self, n: int, plan_index: int, state: str, started: datetime) -> tuple[Kind, dict]:
        """Instance n's kind, and what replaces each of the kind's stand-ins."""
        kind = self.kinds.get((plan_index, state))
        if kind is None:
            kind = self.kinds[(plan_index, state)] = self._kind(plan_index, state)
        prefix = PLANS[plan_index][1]
        amount = (n * 37) % 20000
        values = {
            "key": f"{prefix}-{n:07d}",
            "amount": amount,
            "amount_text": str(amount),
            "customer": CUSTOMERS[n % len(CUSTOMERS)],
            "started": self.date(started),
            "duration": int((self.now - started).total_seconds() * 1000),
        }
        mapping = dict(zip(kind.ids, new_ids(len(kind.ids)), strict=True))
        mapping.update((stand_in, values[name]) for stand_in, name in kind.keys.items())
        return kind, mapping

    def lines(self, n: int, plan_index: int, state: str, started: datetime) -> list[tuple[type, list[str], list[str]]]:
        """The rows of instance n as lines of PostgreSQL's COPY text format: the kind's rows are
        rendered once, and only the stand-in fields are rendered per instance."""
        kind, mapping = self._values(n, plan_index, state, started)
        if kind.text is None:
            kind.text = [
                (model, columns, [(row, [copy_text(value) for value in row], positions) for row, positions in rows])
                for model, columns, rows in kind.tables
            ]
        texts = {stand_in: copy_text(value) for stand_in, value in mapping.items()}
        tables = []
        for model, columns, rows in kind.text:
            out = []
            for row, fields, positions in rows:
                fields = fields.copy()
                for p in positions:
                    # A float column's stand-in equals the int one (the amount as a double): keep it a float.
                    fields[p] = copy_text(float(mapping[row[p]])) if isinstance(row[p], float) else texts[row[p]]
                out.append("\t".join(fields))
            tables.append((model, columns, out))
        return tables

    def rows(self, n: int, plan_index: int, state: str, started: datetime) -> list[tuple[type, list[str], list[list]]]:
        """The rows of instance n: its kind's rows with its own values."""
        kind, mapping = self._values(n, plan_index, state, started)
        tables = []
        for model, columns, rows in kind.tables:
            out = []
            for row, positions in rows:
                row = row.copy()
                for p in positions:
                    row[p] = mapping[row[p]]
                out.append(row)
            tables.append((model, columns, out))
        return tables

    def _kind(self, plan_index: int, state: str) -> Kind:
        # Built twice from the same stand-ins: where the two differ, the builders made an id.
        first, second = (self._built(plan_index, state) for _ in range(2))
        n = STAND_IN_N
        amount = (n * 37) % 20000
        keys = {
            f"{PLANS[plan_index][1]}-{n:07d}": "key",
            amount: "amount",
            str(amount): "amount_text",
            CUSTOMERS[n % len(CUSTOMERS)]: "customer",
            self.date(self.started): "started",
            int((self.now - self.started).total_seconds() * 1000): "duration",
        }
        ids: dict = {}
        tables = []
        for (model, columns, rows), (_, _, again) in zip(first, second, strict=True):
            kind_rows = []
            for row, other in zip(rows, again, strict=True):
                for column, value, twin in zip(columns, row, other, strict=True):
                    if value != twin and not (isinstance(value, str) and ID.match(value)):
                        raise ValueError(f"demo rows: {model.__name__}.{column} differs between two builds: {value!r}")
                    if value != twin:
                        ids.setdefault(value, None)
                positions = tuple(i for i, value in enumerate(row) if _hashable(value) and (value in ids or value in keys))
                kind_rows.append((list(row), positions))
            tables.append((model, columns, kind_rows))
        return Kind(tables=tables, ids=list(ids), keys=keys)

    def _built(self, plan_index: int, state: str) -> list[tuple[type, list[str], list[tuple]]]:
        rows = Rows()
        plan = PLANS[plan_index]
        _instance_rows(rows, STAND_IN_N, state, plan, self.slots, self.job_definitions, self.started, self.now, self.stacktrace)
        return [(model, *rows_of(model, objects)) for model, objects in rows.by_model() if objects]


ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _hashable(value: object) -> bool:
    return not isinstance(value, (list, dict))


def _date_converter():
    """A datetime as rows_of stores it (text on SQLite, as is on PostgreSQL)."""
    return value_converter(HistoricProcessInstance._meta.get_field("start_time"))


def load_instances(count: int, *, now: datetime | None = None, progress=None, processes: int = 1) -> dict[str, int]:
    """Insert count instances in varied states, CHUNK at a time; return how many of each state.

    progress: called with the number of instances inserted after each chunk commits.
    processes: chunks are built by this many processes at once, so that the row building uses every
    core. On PostgreSQL each process loads its chunks over its own connection. SQLite admits one
    writer: there each process writes its chunk into a staging file without indexes, and this
    process copies it into the database with one INSERT … SELECT per table (merge_staged).
    """
    now = now or timezone.now()
    ensure_definitions()
    offset = HistoricProcessInstance.objects.count()
    chunks = [(start, min(count, start + CHUNK)) for start in range(0, count, CHUNK)]
    # Other processes see only what is committed (in a transaction, the definitions may not be).
    if processes > 1 and len(chunks) > 1 and not connection.in_atomic_block:
        from engine import demo_processes

        loaded = demo_processes.load_chunks(chunks, count, offset, now, processes)
    else:
        loader = ChunkLoader(now)
        loaded = (loader.load(start, stop, count, offset) for start, stop in chunks)
    tally: dict[str, int] = {}
    for chunk_tally in loaded:  # as each chunk commits
        for state, n in chunk_tally.items():
            tally[state] = tally.get(state, 0) + n
        if progress is not None:
            progress(sum(chunk_tally.values()))
    return tally


class ChunkLoader:
    """Loads chunks of the demo's instances over this process's connection (load_instances)."""

    def __init__(self, now: datetime) -> None:
        slots = definition_slots()
        job_definitions = {
            (jd.process_definition_id, jd.activity_id): jd
            for jd in JobDefinition.objects.filter(job_type=ASYNC_CONTINUATION)
        }
        self.now = now
        self.kinds = Kinds(slots, job_definitions, now, _sample_stacktrace())
        # PostgreSQL takes COPY text built from each kind's pre-rendered fields; SQLite the rows as tuples.
        self.as_text = connection.vendor == "postgresql"

    def build(self, start: int, stop: int, count: int, offset: int) -> tuple[dict[type, tuple[list[str], list]], dict[str, int]]:
        """Instances start to stop (of count): each model's (columns, rows), and the instances by state."""
        build = self.kinds.lines if self.as_text else self.kinds.rows
        tally: dict[str, int] = {}
        tables: dict[type, tuple[list[str], list]] = {}
        for i in range(start, stop):
            state = _state_of(i)
            tally[state] = tally.get(state, 0) + 1
            # Shifted by one plan every 20 instances (the state cycle), so every plan meets every state.
            plan_index = (i + i // 20) % len(PLANS)
            started = self.now - timedelta(minutes=(count - i) * 43200 // max(count, 1), seconds=i % 60)
            for model, columns, rows in build(offset + i, plan_index, state, started):
                tables.setdefault(model, (columns, []))[1].extend(rows)
        return tables, tally

    def load(self, start: int, stop: int, count: int, offset: int) -> dict[str, int]:
        """Insert instances start to stop (of count) in one transaction; return them by state."""
        tables, tally = self.build(start, stop, count, offset)
        with transaction.atomic():
            for model in INSERT_ORDER:
                if model in tables:
                    columns, rows = tables[model]
                    if self.as_text:
                        copy_insert(model, columns, "\n".join(rows) + "\n")
                    else:
                        tuples_insert(model, columns, rows)
        return tally

    def stage(self, start: int, stop: int, count: int, offset: int, path: str) -> tuple[list[tuple[type, list[str]]], dict[str, int]]:
        """SQLite: write instances start to stop (of count) into a new staging database at path, one
        table per model with untyped columns and no index; return its (model, columns) and the tally.

        The rows are bound here, in a builder process; merge_staged copies them in SQLite's own code.
        """
        import sqlite3

        tables, tally = self.build(start, stop, count, offset)
        staged = []
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("BEGIN")
            for model in INSERT_ORDER:
                if model in tables:
                    columns, rows = tables[model]
                    table, names = quoted_names(model, columns)
                    db.execute(f"CREATE TABLE {table} ({names})")  # no types: each value keeps its own
                    db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})", rows)
                    staged.append((model, columns))
            db.execute("COMMIT")
        finally:
            db.close()
        return staged, tally


def merge_staged(path: str, staged: list[tuple[type, list[str]]]) -> None:
    """SQLite: copy a chunk's staging database (ChunkLoader.stage) into this one, in one transaction
    (the column affinities of the real tables convert each value as an INSERT of it would)."""
    with connection.cursor() as cursor:
        cursor.execute("ATTACH DATABASE %s AS staged", [path])  # outside a transaction, as SQLite requires
        try:
            with transaction.atomic():
                for model, columns in staged:
                    table, names = quoted_names(model, columns)
                    cursor.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM staged.{table}")
        finally:
            cursor.execute("DETACH DATABASE staged")


INSERT_ORDER = [model for model, _ in Rows().by_model()]


def _state_of(i: int) -> str:
    bucket = i % 20
    if bucket < 9:
        return "waiting"
    if bucket < 11:
        return "failed"
    if bucket < 12:
        return "scheduled"
    if bucket < 13:
        return "suspended"
    if bucket < 19:
        return "completed"
    return "terminated"


def _instance_rows(rows: Rows, n, state, plan, slots, job_definitions, started, now, stacktrace) -> None:
    slot, prefix, wait_activity, service_activity, fail_variable = plan
    definition = slots[slot]
    pid = new_id()
    tenant = definition.tenant_id
    finished = state in ("completed", "terminated")
    graph = definition.graph
    variables = {"amount": {"value": (n * 37) % 20000, "type": "Integer"}, "approved": {"value": True, "type": "Boolean"}}
    variables["customer"] = {"value": CUSTOMERS[n % len(CUSTOMERS)], "type": "String"}
    if state == "failed":
        variables[fail_variable] = {"value": True, "type": "Boolean"}
    rows.history.append(
        HistoricProcessInstance(
            id=pid,
            business_key=f"{prefix}-{n:07d}",
            process_definition_id=definition.id,
            process_definition_key=definition.key,
            process_definition_name=definition.name,
            process_definition_version=definition.version,
            start_time=started,
            end_time=now if finished else None,
            duration_in_millis=int((now - started).total_seconds() * 1000) if finished else None,
            start_activity_id=graph["start"],
            delete_reason="Cancelled by demo operator" if state == "terminated" else None,
            tenant_id=tenant,
            state={
                "completed": HistoricProcessInstance.COMPLETED,
                "terminated": HistoricProcessInstance.EXTERNALLY_TERMINATED,
                "suspended": HistoricProcessInstance.SUSPENDED,
            }.get(state, HistoricProcessInstance.ACTIVE),
        )
    )
    rows.activities.append(_history_row(definition, pid, graph["start"], started, started, tenant))
    instance = ProcessInstance(
        id=pid,
        process_definition=definition,
        business_key=f"{prefix}-{n:07d}",
        tenant_id=tenant,
        suspended=state == "suspended",
        start_time=started,
    )
    runtime_variables, historic_variables = variable_rows(instance, variables, started)
    rows.historic_variables.extend(historic_variables)
    rows.variable_updates.extend(variable_updates(historic_variables, initial=True))
    if finished:
        end_id = next(a for a, node in graph["activities"].items() if node["type"] == "endEvent")
        rows.activities.append(_history_row(definition, pid, end_id, now, now, tenant))
        return
    rows.instances.append(instance)
    rows.variables.extend(runtime_variables)
    activity = service_activity if state in ("failed", "scheduled") else wait_activity
    token_id = new_id()
    node = graph["activities"][activity]
    token = ActivityInstance(
        id=token_id,
        process_instance_id=pid,
        activity_id=activity,
        activity_type=node["type"],
        activity_name=node["name"],
        start_time=started,
    )
    rows.tokens.append(token)
    rows.subscriptions.extend(subscriptions_of(instance, definition, token, started))
    history = _history_row(definition, pid, activity, started, None, tenant)
    history.id = token_id
    rows.activities.append(history)
    if node.get("topic"):  # an external task waits for its worker
        _external_task_rows(rows, definition, instance, token, node, state, started, stacktrace, fail_variable)
    elif activity == service_activity:
        _job_rows(rows, definition, pid, token_id, activity, state, job_definitions, started, now, stacktrace, fail_variable)


def _job_rows(rows, definition, pid, token_id, activity, state, job_definitions, started, now, stacktrace, variable):
    failed = state == "failed"
    message = f"Service task '{activity}' failed: process variable '{variable}' is set"
    job = Job(
        id=new_id(),
        job_definition=job_definitions.get((definition.id, activity)),
        job_type=ASYNC_CONTINUATION,
        process_instance_id=pid,
        process_definition_id=definition.id,
        process_definition_key=definition.key,
        execution_id=token_id,
        activity_id=activity,
        failed_activity_id=activity if failed else None,
        retries=0 if failed else 3,
        due_date=None if failed else now + timedelta(days=1),
        exception_message=message if failed else None,
        exception_stacktrace=stacktrace.replace("MESSAGE", message) if failed else None,
        tenant_id=definition.tenant_id,
        create_time=started,
    )
    rows.jobs.append(job)
    rows.job_logs.append(
        HistoricJobLog(
            timestamp=started,
            job_id=job.id,
            job_retries=job.retries,
            job_definition_id=job.job_definition_id,
            job_definition_type=ASYNC_CONTINUATION,
            activity_id=activity,
            process_instance_id=pid,
            process_definition_id=definition.id,
            process_definition_key=definition.key,
            tenant_id=definition.tenant_id,
            creation_log=True,
        )
    )
    if failed:
        rows.incidents.append(
            Incident(
                incident_timestamp=started,
                incident_message=message,
                process_instance_id=pid,
                process_definition_id=definition.id,
                execution_id=token_id,
                activity_id=activity,
                configuration=job.id,
                job_definition_id=job.job_definition_id,
                tenant_id=definition.tenant_id,
            )
        )


def _external_task_rows(rows, definition, instance, token, node, state, started, stacktrace, variable):
    task = external_task_of(instance, definition, token, node, started)
    task.suspended = instance.suspended
    if state == "failed":
        message = f"{node['name']} failed: '{variable}' is set"
        task.retries, task.error_message, task.error_details = 0, message, stacktrace.replace("MESSAGE", message)
        task.worker_id = "demo-worker"
        rows.incidents.append(external_task_incident(task, started))
    rows.external_tasks.append(task)


def _history_row(definition, pid, activity_id, start, end, tenant) -> HistoricActivityInstance:
    node = definition.graph["activities"][activity_id]
    return HistoricActivityInstance(
        id=new_id(),
        activity_id=activity_id,
        activity_name=node["name"],
        activity_type=node["type"],
        process_definition_id=definition.id,
        process_instance_id=pid,
        start_time=start,
        end_time=end,
        duration_in_millis=None if end is None else int((end - start).total_seconds() * 1000),
        tenant_id=tenant,
    )


def _sample_stacktrace() -> str:
    try:
        raise RuntimeError("MESSAGE")
    except RuntimeError as exc:
        return "".join(traceback.format_exception(exc))
