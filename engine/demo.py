"""Demo data: realistic processes, tenants, users and many instances in varied states, inserted in bulk."""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from engine.bulk import rows_insert
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
from engine.services.deployment import deployment_create
from engine.services.external_tasks import external_task_incident
from engine.services.incidents import historic_incident_for
from engine.services.runtime import ASYNC_CONTINUATION, external_task_of, subscriptions_of
from engine.services.variables import variable_rows, variable_updates

BPMN_DIR = Path(__file__).parent / "bpmn"
CHUNK = 2000
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
    slots = {}
    for d in ProcessDefinition.objects.all():
        slots[f"{d.key}:{d.tenant_id or d.version}"] = d
    return slots


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

    def save(self) -> None:
        for model, rows in [
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
        ]:
            rows_insert(model, rows)


def load_instances(count: int, *, now: datetime | None = None, progress=None) -> dict[str, int]:
    """Insert count instances in varied states, CHUNK at a time; return how many of each state.

    progress: called with the number of instances inserted after each chunk commits.
    """
    now = now or timezone.now()
    slots = ensure_definitions()
    job_definitions = {
        (jd.process_definition_id, jd.activity_id): jd
        for jd in JobDefinition.objects.filter(job_type=ASYNC_CONTINUATION)
    }
    stacktrace = _sample_stacktrace()
    tally: dict[str, int] = {}
    offset = HistoricProcessInstance.objects.count()
    for start in range(0, count, CHUNK):
        rows = Rows()
        for i in range(start, min(count, start + CHUNK)):
            state = _state_of(i)
            tally[state] = tally.get(state, 0) + 1
            # Shifted by one plan every 20 instances (the state cycle), so every plan meets every state.
            plan = PLANS[(i + i // 20) % len(PLANS)]
            started = now - timedelta(minutes=(count - i) * 43200 // max(count, 1), seconds=i % 60)
            _instance_rows(rows, offset + i, state, plan, slots, job_definitions, started, now, stacktrace)
        with transaction.atomic():
            rows.save()
        if progress is not None:
            progress(min(count, start + CHUNK) - start)
    return tally


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
