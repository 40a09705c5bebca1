"""The physical limit: the batch's state change as set-based SQL in one transaction (run by batch_throughput)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cockpit.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import DateTimeField, F, Value  # noqa: E402
from django.utils import timezone  # noqa: E402

from engine.models import (  # noqa: E402
    ActivityInstance,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    Job,
    JobDefinition,
    ProcessDefinition,
    ProcessInstance,
    VariableInstance,
)
from engine.models import EventSubscription, ExternalTask  # noqa: E402
from engine.services.jobs import jobs_log_deletions  # noqa: E402
from engine.services.lifecycle import historic_rows_delete  # noqa: E402
from engine.services.removal_time import instances_removal_time_set  # noqa: E402
from engine.services.variables import variables_set_many  # noqa: E402
from engine.variables import parse_variables_map  # noqa: E402
from engine.services.migration import Instruction, _case, plan_generate  # noqa: E402
from engine.services.runtime import close_open_activities  # noqa: E402
from engine.sql import MillisBetween  # noqa: E402


def cancel() -> int:
    """What a cancellation batch changes, for every running instance at once: the same statements
    shapes as engine.services.lifecycle.instances_delete (history closed with durations, a deletion
    log row per job, incident history closed, runtime rows and variables removed), minus the batch's
    own per-item bookkeeping and its row locks."""
    now = timezone.now()
    when = Value(now, output_field=DateTimeField())
    running = ProcessInstance.objects.values("id")
    count = ProcessInstance.objects.count()
    close_open_activities(HistoricActivityInstance.objects.filter(process_instance_id__in=running), now, canceled=True)
    jobs_log_deletions(Job.objects.filter(process_instance__isnull=False))
    HistoricIncident.objects.filter(id__in=Incident.objects.filter(process_instance__isnull=False).values("id")).update(
        state="deleted", end_time=when
    )
    for model in (Incident, Job, ExternalTask, EventSubscription, ActivityInstance, VariableInstance):
        model.objects.filter(process_instance__isnull=False)._raw_delete(connection.alias)
    HistoricProcessInstance.objects.filter(id__in=running).update(
        state="EXTERNALLY_TERMINATED", end_time=when, duration_in_millis=MillisBetween(F("start_time"), when), delete_reason="bench"
    )
    ProcessInstance.objects.all()._raw_delete(connection.alias)
    return count


def suspend() -> int:
    """Instances, their jobs and external tasks suspended (Camunda suspends all three), history state."""
    count = ProcessInstance.objects.update(suspended=True)
    Job.objects.filter(process_instance__isnull=False).update(suspended=True)
    ExternalTask.objects.filter(process_instance__isnull=False).update(suspended=True)
    HistoricProcessInstance.objects.filter(id__in=ProcessInstance.objects.values("id")).update(state="SUSPENDED")
    return count


def retries() -> int:
    count = Job.objects.update(retries=5, due_date=timezone.now().replace(year=2099))
    resolved = Incident.objects.filter(incident_type="failedJob")
    HistoricIncident.objects.filter(id__in=resolved.values("id")).update(state="resolved", end_time=timezone.now())
    resolved._raw_delete(connection.alias)
    return count


def invoice(version: int) -> ProcessDefinition:
    return ProcessDefinition.objects.get(key="invoice", version=version, tenant_id=None)


def migrate() -> int:
    """What a migration batch changes (engine.services.migration._move), for every running instance
    of invoice v2 at once, selected by a join instead of id lists: tokens, open activity history,
    jobs, incidents and variable history moved by the plan (generated, plus the renamed and removed
    user tasks mapped by hand), then the instances and their history. Each statement takes the
    faster of a join and the id list on PostgreSQL (measured)."""
    source, target = invoice(2), invoice(3)
    plan = plan_generate(source, target)
    plan.instructions += [Instruction(old, "checkInvoice") for old in ("approveInvoice", "secondApproval")]
    moved = {i.source: target.activity(i.target) | {"id": i.target} for i in plan.instructions}
    activity_id = _case("activity_id", {s: n["id"] for s, n in moved.items()})
    activity_type = _case("activity_id", {s: n["type"] for s, n in moved.items()})
    activity_name = _case("activity_id", {s: n["name"] for s, n in moved.items()})
    jobs = dict(JobDefinition.objects.filter(process_definition=target).values_list("activity_id", "id"))
    job_definition = _case("activity_id", {s: jobs.get(n["id"]) for s, n in moved.items()}, "job_definition_id")
    running = ProcessInstance.objects.filter(process_definition=source).values("id")
    # History tables are keyed by a plain id column: PostgreSQL plans "IN (subquery)" there as a
    # nested loop over 100k+ rows (32 s for the open activity history), so they take the id list.
    ids = set(running.values_list("id", flat=True))
    ActivityInstance.objects.filter(process_instance__in=running).update(
        activity_id=activity_id, activity_type=activity_type, activity_name=activity_name)
    HistoricActivityInstance.objects.filter(process_instance_id__in_ids=ids, end_time__isnull=True).update(
        process_definition_id=target.id, activity_id=activity_id, activity_type=activity_type, activity_name=activity_name)
    Job.objects.filter(process_instance__in=running).update(
        process_definition_id=target.id, process_definition_key=target.key, activity_id=activity_id,
        failed_activity_id=_case("failed_activity_id", {s: n["id"] for s, n in moved.items()}), job_definition_id=job_definition)
    Incident.objects.filter(process_instance__in=running).update(
        process_definition_id=target.id, activity_id=activity_id, job_definition_id=job_definition)
    HistoricIncident.objects.filter(process_instance_id__in_ids=ids, end_time__isnull=True).update(
        process_definition_id=target.id, activity_id=activity_id, job_definition_id=job_definition)
    HistoricVariableInstance.objects.filter(process_instance_id__in_ids=ids).update(
        process_definition_id=target.id, process_definition_key=target.key)
    HistoricProcessInstance.objects.filter(id__in_ids=ids).update(
        process_definition_id=target.id, process_definition_key=target.key, process_definition_name=target.name,
        process_definition_version=target.version)
    return ProcessInstance.objects.filter(process_definition=source).update(process_definition=target)


def restart() -> int:
    """A new instance per finished instance of invoice v2, waiting in its first user task, with the
    old instance's business key and last variables: runtime and history rows inserted by
    INSERT … SELECT (new ids derived from the old ones), one statement per table."""
    source = invoice(2)
    node = source.activity("assignApprover")
    now = timezone.now()
    q = connection.ops.quote_name
    finished = f"FROM {q('engine_historicprocessinstance')} h WHERE h.process_definition_id = %s AND h.end_time IS NOT NULL"
    statements = [
        (f"INSERT INTO {q('engine_processinstance')} (id, process_definition_id, business_key, tenant_id, suspended, start_time) "
         f"SELECT h.id || '-r', %s, h.business_key, h.tenant_id, %s, %s {finished}", [source.id, False, now, source.id]),
        (f"INSERT INTO {q('engine_historicprocessinstance')} (id, business_key, process_definition_id, process_definition_key, "
         "process_definition_name, process_definition_version, start_time, start_activity_id, tenant_id, state, "
         "restarted_process_instance_id) "
         f"SELECT h.id || '-r', h.business_key, %s, %s, %s, %s, %s, %s, h.tenant_id, %s, h.id {finished}",
         [source.id, source.key, source.name, source.version, now, "assignApprover", "ACTIVE", source.id]),
        (f"INSERT INTO {q('engine_activityinstance')} (id, process_instance_id, activity_id, activity_type, activity_name, start_time) "
         f"SELECT h.id || '-t', h.id || '-r', %s, %s, %s, %s {finished}", ["assignApprover", node["type"], node["name"], now, source.id]),
        (f"INSERT INTO {q('engine_historicactivityinstance')} (id, activity_id, activity_name, activity_type, process_definition_id, "
         "process_instance_id, start_time, canceled, tenant_id) "
         f"SELECT h.id || '-t', %s, %s, %s, %s, h.id || '-r', %s, %s, h.tenant_id {finished}",
         ["assignApprover", node["name"], node["type"], source.id, now, False, source.id]),
        (f"INSERT INTO {q('engine_variableinstance')} (id, process_instance_id, name, type, text_value, long_value, double_value, tenant_id) "
         f"SELECT v.id || '-r', v.process_instance_id || '-r', v.name, v.type, v.text_value, v.long_value, v.double_value, v.tenant_id "
         f"FROM {q('engine_historicvariableinstance')} v JOIN {q('engine_historicprocessinstance')} h ON h.id = v.process_instance_id "
         "WHERE h.process_definition_id = %s AND h.end_time IS NOT NULL", [source.id]),
        (f"INSERT INTO {q('engine_historicvariableinstance')} (id, process_instance_id, process_definition_id, process_definition_key, "
         "state, create_time, name, type, text_value, long_value, double_value, tenant_id) "
         f"SELECT v.id || '-r', v.process_instance_id || '-r', %s, %s, %s, %s, v.name, v.type, v.text_value, v.long_value, "
         f"v.double_value, v.tenant_id FROM {q('engine_historicvariableinstance')} v "
         f"JOIN {q('engine_historicprocessinstance')} h ON h.id = v.process_instance_id "
         "WHERE h.process_definition_id = %s AND h.end_time IS NOT NULL",
         [source.id, source.key, "CREATED", now, source.id]),
        (f"INSERT INTO {q('engine_historicvariableupdate')} (id, variable_instance_id, process_instance_id, process_definition_id, "
         f"process_definition_key, revision, time, {q('initial')}, name, type, text_value, long_value, double_value, tenant_id) "
         f"SELECT v.id || '-u', v.id || '-r', v.process_instance_id || '-r', %s, %s, 0, %s, %s, v.name, v.type, v.text_value, "
         f"v.long_value, v.double_value, v.tenant_id FROM {q('engine_historicvariableinstance')} v "
         f"JOIN {q('engine_historicprocessinstance')} h ON h.id = v.process_instance_id "
         "WHERE h.process_definition_id = %s AND h.end_time IS NOT NULL",
         [source.id, source.key, now, True, source.id]),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
    return HistoricProcessInstance.objects.filter(restarted_process_instance_id__isnull=False).count()


def modify() -> int:
    """The modification batch's change (cancel approveInvoice, startBeforeActivity secondApproval)
    for every active waiting instance of invoice v2 at once: the old token's history closed as canceled, a
    new token and its history inserted by INSERT … SELECT (new ids derived from the old ones), the
    old tokens deleted: four statements."""
    source = invoice(2)
    node = source.activity("secondApproval")
    now = timezone.now()
    q = connection.ops.quote_name
    waiting = ActivityInstance.objects.filter(
        process_instance__process_definition=source, process_instance__suspended=False, activity_id="approveInvoice")
    count = waiting.count()
    tokens = f"FROM {q('engine_activityinstance')} t JOIN {q('engine_processinstance')} p ON p.id = t.process_instance_id " \
             "WHERE p.process_definition_id = %s AND t.activity_id = %s AND NOT p.suspended"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q('engine_historicactivityinstance')} (id, activity_id, activity_name, activity_type, "
            "process_definition_id, process_instance_id, start_time, canceled, tenant_id) "
            f"SELECT t.id || '-m', %s, %s, %s, %s, t.process_instance_id, %s, %s, p.tenant_id {tokens}",
            ["secondApproval", node["name"], node["type"], source.id, now, False, source.id, "approveInvoice"])
        cursor.execute(
            f"INSERT INTO {q('engine_activityinstance')} (id, process_instance_id, activity_id, activity_type, activity_name, start_time) "
            f"SELECT t.id || '-m', t.process_instance_id, %s, %s, %s, %s {tokens}",
            ["secondApproval", node["type"], node["name"], now, source.id, "approveInvoice"])
    ids = set(waiting.values_list("id", flat=True))
    close_open_activities(HistoricActivityInstance.objects.filter(id__in_ids=ids), now, canceled=True)
    waiting._raw_delete(connection.alias)
    return count


def delete_history() -> int:
    """Every finished instance's history deleted by the statements of historic_instances_delete
    (plain DELETEs by id list), minus its row locks and per-item results."""
    ids = set(HistoricProcessInstance.objects.filter(end_time__isnull=False).values_list("id", flat=True))
    historic_rows_delete(ids)
    return len(ids)


def set_variables() -> int:
    """The batch's variable on every running instance: variables_set_many (runtime rows upserted,
    history and a revision per write, all set-based) over all of them at once, without the locks."""
    ids = set(ProcessInstance.objects.values_list("id", flat=True))
    variables_set_many(instance_ids=ids, variables=parse_variables_map(SET_VARIABLES, ""), now=timezone.now())
    return len(ids)


def removal_time() -> int:
    """An absolute removal time on every finished instance and its dependent history rows."""
    ids = set(HistoricProcessInstance.objects.filter(end_time__isnull=False).values_list("id", flat=True))
    instances_removal_time_set(ids, REMOVAL_TIME)
    return len(ids)


def external_task_retries() -> int:
    """Retries on every external task, their failedExternalTask incidents resolved (with history)."""
    count = ExternalTask.objects.update(retries=5)
    resolved = Incident.objects.filter(incident_type="failedExternalTask")
    HistoricIncident.objects.filter(id__in=resolved.values("id")).update(state="resolved", end_time=timezone.now())
    resolved._raw_delete(connection.alias)
    return count


# The payload values the batches of batch_throughput.py use (the limit applies the same change).
SET_VARIABLES = {"benchChecked": {"value": True, "type": "Boolean"}, "benchNote": {"value": "bench", "type": "String"}}
REMOVAL_TIME = timezone.now().replace(year=2099, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)

OPERATIONS = {
    "cancel": cancel, "suspend": suspend, "retries": retries, "migrate": migrate, "restart": restart, "modify": modify,
    "delete-history": delete_history, "set-variables": set_variables, "removal-time": removal_time,
    "external-task-retries": external_task_retries,
}

if __name__ == "__main__":
    started = time.perf_counter()
    with transaction.atomic():
        changed = OPERATIONS[sys.argv[1]]()
    print(f"{time.perf_counter() - started:.4f} {changed}")
