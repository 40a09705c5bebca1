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
    Incident,
    Job,
    ProcessInstance,
    VariableInstance,
)
from engine.services.jobs import jobs_log_deletions  # noqa: E402
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
    for model in (Incident, Job, ActivityInstance, VariableInstance):
        model.objects.filter(process_instance__isnull=False)._raw_delete(connection.alias)
    HistoricProcessInstance.objects.filter(id__in=running).update(
        state="EXTERNALLY_TERMINATED", end_time=when, duration_in_millis=MillisBetween(F("start_time"), when), delete_reason="bench"
    )
    ProcessInstance.objects.all()._raw_delete(connection.alias)
    return count


def suspend() -> int:
    count = ProcessInstance.objects.update(suspended=True)
    Job.objects.filter(process_instance__isnull=False).update(suspended=True)
    HistoricProcessInstance.objects.filter(id__in=ProcessInstance.objects.values("id")).update(state="SUSPENDED")
    return count


def retries() -> int:
    count = Job.objects.update(retries=5, due_date=timezone.now().replace(year=2099))
    resolved = Incident.objects.filter(incident_type="failedJob")
    HistoricIncident.objects.filter(id__in=resolved.values("id")).update(state="resolved", end_time=timezone.now())
    resolved._raw_delete(connection.alias)
    return count


OPERATIONS = {"cancel": cancel, "suspend": suspend, "retries": retries}

if __name__ == "__main__":
    started = time.perf_counter()
    with transaction.atomic():
        changed = OPERATIONS[sys.argv[1]]()
    print(f"{time.perf_counter() - started:.4f} {changed}")
