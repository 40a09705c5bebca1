"""historyTimeToLive, removal time by strategy, and the history cleanup job (in-process and on real workers)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from batches.models import BatchItem, HistoricBatch
from engine.errors import BadUserRequest
from engine.models import (
    ActivityInstance,
    HistoricActivityInstance,
    HistoricJobLog,
    HistoricProcessInstance,
    HistoricVariableInstance,
    HistoricVariableUpdate,
    Job,
    ProcessDefinition,
    UserOperationLogEntry,
)
from engine.services.deployment import deployment_create
from engine.services.history_cleanup import (
    HISTORY_CLEANUP,
    current_or_next_window,
    history_cleanup_schedule,
    is_within_window,
)
from engine.services.instance_actions import instance_delete
from engine.services.jobs import job_execute
from engine.services.lifecycle import instances_delete
from engine.services.restart import instances_restart
from engine.services.runtime import task_complete
from tests.conftest import client_for
from tests.support.cluster import wait_for
from tests.support.factories import LINEAR, run_jobs, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
# start -> userTask "task" -> end
SIMPLE = (
    '<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>'
    '<bpmn:userTask id="task"/><bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/><bpmn:endEvent id="end"/>'
)


def bpmn_with_ttl(ttl: str | None, key: str = "ttl", body: str = SIMPLE) -> bytes:
    attribute = f' camunda:historyTimeToLive="{ttl}"' if ttl is not None else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="{CAMUNDA}" '
        'xmlns:cockpit="urn:cockpit:bpmn" id="d" targetNamespace="urn:test">'
        f'<bpmn:process id="{key}" isExecutable="true"{attribute}>{body}</bpmn:process></bpmn:definitions>'
    ).encode()


def deploy_ttl(ttl: str | None, key: str = "ttl", body: str = SIMPLE, tenant_id: str | None = None) -> ProcessDefinition:
    _, definitions = deployment_create(name="ttl", resources=[(f"{key}.bpmn", bpmn_with_ttl(ttl, key, body))], tenant_id=tenant_id)
    return definitions[0]


def complete(instance) -> None:
    task_complete(task_id=ActivityInstance.objects.get(process_instance=instance, activity_id="task").id, user_id="u")


def history_removal_times(instance_id: str) -> set:
    """The removal times of every history row of an instance (one set: they must agree)."""
    times = set()
    for model in (HistoricActivityInstance, HistoricJobLog, HistoricVariableInstance, HistoricVariableUpdate):
        times |= set(model.objects.filter(process_instance_id=instance_id).values_list("removal_time", flat=True))
    return times


@pytest.fixture
def create(admin_user):
    from batches.operations import ENDPOINTS
    from batches.services import batch_create

    return lambda path, payload: batch_create(operation=ENDPOINTS[path], payload=payload, user=admin_user)


@pytest.fixture
def strategy(settings):
    def use(name: str) -> None:
        settings.HISTORY = {**settings.HISTORY, "REMOVAL_TIME_STRATEGY": name}

    return use


@pytest.fixture
def window(settings):
    """Configure the batch window as "HH:mm" strings (UTC) relative to now: (start offset, end offset) in minutes."""

    def use(start_minutes: int | None, end_minutes: int | None = None) -> None:
        now = timezone.now()

        def hhmm(minutes: int) -> str:
            return (now + timedelta(minutes=minutes)).strftime("%H:%M")

        settings.TIME_ZONE = "UTC"
        settings.HISTORY = {
            **settings.HISTORY,
            "CLEANUP_BATCH_WINDOW_START_TIME": hhmm(start_minutes) if start_minutes is not None else "",
            "CLEANUP_BATCH_WINDOW_END_TIME": hhmm(end_minutes) if end_minutes is not None else "",
        }

    return use


# --- historyTimeToLive ---------------------------------------------------------------------------


@pytest.mark.parametrize(("attribute", "days"), [("5", 5), ("P7D", 7), ("0", 0), (None, None), ("", None)])
def test_the_bpmn_attribute_sets_the_definitions_history_time_to_live(attribute, days, api):
    definition = deploy_ttl(attribute)
    assert definition.history_time_to_live == days
    assert api.get(f"{R}/process-definition/{definition.id}").json()["historyTimeToLive"] == days


@pytest.mark.parametrize(("attribute", "message"), [
    ("abc", 'Cannot parse historyTimeToLive: For input string: "abc"'),
    ("P5W", 'Cannot parse historyTimeToLive: For input string: "P5W"'),
    ("-1", "Cannot parse historyTimeToLive: negative value is not allowed"),
    ("99999999999", 'Cannot parse historyTimeToLive: For input string: "99999999999"'),
])
def test_an_invalid_history_time_to_live_is_a_parse_error_naming_it(attribute, message):
    with pytest.raises(BadUserRequest) as error:
        deploy_ttl(attribute)
    assert message in str(error.value) and "Process 'ttl'" in str(error.value)
    assert not ProcessDefinition.objects.filter(key="ttl").exists()


def test_put_history_time_to_live_by_id_key_and_tenant_with_its_operation_log(api, admin_user):
    definition = deploy_ttl("5")
    response = api.put(f"{R}/process-definition/{definition.id}/history-time-to-live", {"historyTimeToLive": 10}, format="json")
    assert response.status_code == 204, response.content
    definition.refresh_from_db()
    assert definition.history_time_to_live == 10
    entry = UserOperationLogEntry.objects.get(operation_type="UpdateHistoryTimeToLive")
    assert (entry.entity_type, entry.category, entry.property, entry.org_value, entry.new_value) == (
        "ProcessDefinition", "Operator", "historyTimeToLive", "5", "10",
    )
    assert (entry.process_definition_id, entry.process_definition_key, entry.user_id) == (definition.id, "ttl", admin_user.username)
    second = deploy_ttl(None)
    assert api.put(f"{R}/process-definition/key/ttl/history-time-to-live", {"historyTimeToLive": 3}, format="json").status_code == 204
    second.refresh_from_db()
    definition.refresh_from_db()
    assert (second.history_time_to_live, definition.history_time_to_live) == (3, 10)  # the latest version only
    assert api.put(f"{R}/process-definition/{definition.id}/history-time-to-live", {"historyTimeToLive": None}, format="json").status_code == 204
    definition.refresh_from_db()
    assert definition.history_time_to_live is None
    tenant = deploy_ttl(None, tenant_id="tenant-a")
    assert api.put(f"{R}/process-definition/key/ttl/tenant-id/tenant-a/history-time-to-live", {"historyTimeToLive": 1}, format="json").status_code == 204
    tenant.refresh_from_db()
    assert tenant.history_time_to_live == 1


def test_put_history_time_to_live_errors(api, viewer_api, operator_api):
    definition = deploy_ttl("5")
    url = f"{R}/process-definition/{definition.id}/history-time-to-live"
    negative = api.put(url, {"historyTimeToLive": -1}, format="json")
    assert negative.status_code == 400
    assert negative.json() == {"type": "BadUserRequestException", "message": "historyTimeToLive is not greater than or equal to 0", "code": None}
    for bad in ("5", 1.5, True, 2**31):
        response = api.put(url, {"historyTimeToLive": bad}, format="json")
        assert response.status_code == 400 and "historyTimeToLive" in response.json()["message"], bad
    assert api.put(url, {"historyTimeToLive": 1, "ttl": 2}, format="json").status_code == 400
    missing = api.put(f"{R}/process-definition/nope/history-time-to-live", {"historyTimeToLive": 1}, format="json")
    assert missing.status_code == 404 and missing.json()["message"] == "No matching definition with id nope"
    by_key = api.put(f"{R}/process-definition/key/nope/history-time-to-live", {"historyTimeToLive": 1}, format="json")
    assert by_key.status_code == 404
    assert by_key.json() == {"type": "RestException", "message": "No matching process definition with key: nope and no tenant-id", "code": None}
    by_tenant = api.put(f"{R}/process-definition/key/ttl/tenant-id/t9/history-time-to-live", {"historyTimeToLive": 1}, format="json")
    assert by_tenant.json()["message"] == "No matching process definition with key: ttl and tenant-id: t9"
    assert viewer_api.put(url, {"historyTimeToLive": 1}, format="json").status_code == 403
    other_tenant = deploy_ttl("5", key="hidden", tenant_id="tenant-b")
    assert operator_api.put(f"{R}/process-definition/{other_tenant.id}/history-time-to-live", {"historyTimeToLive": 1}, format="json").status_code == 404
    definition.refresh_from_db()
    assert definition.history_time_to_live == 5 and not UserOperationLogEntry.objects.filter(operation_type="UpdateHistoryTimeToLive").exists()


# --- removal time by strategy ---------------------------------------------------------------------


def test_end_strategy_sets_end_plus_ttl_on_the_instance_and_all_its_history(strategy):
    strategy("end")
    definition = deploy_ttl("5", body=LINEAR)
    instance = start(definition, amount=1)
    assert HistoricProcessInstance.objects.get(id=instance.id).removal_time is None  # not while it runs
    complete(instance)
    run_jobs()
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert history.state == "COMPLETED" and history.removal_time == history.end_time + timedelta(days=5)
    # Every row written until the end; the job's success log is written after its handler ended the
    # instance and has none (as in Camunda, whose end strategy sets job logs only in the end event);
    # the cleanup deletes it with its instance all the same.
    success = HistoricJobLog.objects.filter(process_instance_id=instance.id, success_log=True)
    assert success.count() == 1 and success.get().removal_time is None
    success.delete()
    assert history_removal_times(instance.id) == {history.removal_time}
    assert HistoricJobLog.objects.filter(process_instance_id=instance.id, creation_log=True).exists()


def test_a_definition_without_ttl_and_the_none_strategy_leave_no_removal_time(strategy):
    strategy("end")
    instance = start(deploy_ttl(None))
    complete(instance)
    assert HistoricProcessInstance.objects.get(id=instance.id).removal_time is None
    strategy("none")
    other = start(deploy_ttl("5", key="other"))
    complete(other)
    assert HistoricProcessInstance.objects.get(id=other.id).removal_time is None
    assert history_removal_times(other.id) == {None}


def test_start_strategy_sets_it_at_start_and_the_rows_written_meanwhile_take_it_at_the_end(strategy):
    strategy("start")
    definition = deploy_ttl("3")
    instance = start(definition, note="x")
    history = HistoricProcessInstance.objects.get(id=instance.id)
    assert history.removal_time == history.start_time + timedelta(days=3)
    complete(instance)
    assert HistoricProcessInstance.objects.get(id=instance.id).removal_time == history.removal_time  # unchanged at the end
    assert history_removal_times(instance.id) == {history.removal_time}


def test_cancelling_many_instances_sets_their_removal_time_set_based(strategy, django_assert_max_num_queries):
    strategy("end")
    short, long_, none = deploy_ttl("1", key="a"), deploy_ttl("P30D", key="b"), deploy_ttl(None, key="c")
    instances = [start(d) for d in (short, long_, none) for _ in range(5)]
    ids = [i.id for i in instances]
    instances_delete(instance_ids=ids, delete_reason="gone")
    rows = {h.id: h for h in HistoricProcessInstance.objects.filter(id__in=ids)}
    for instance in instances:
        row = rows[instance.id]
        expected = {"a": timedelta(days=1), "b": timedelta(days=30), "c": None}[row.process_definition_key]
        assert row.removal_time == (row.end_time + expected if expected else None)
        assert history_removal_times(instance.id) == {row.removal_time}


def test_a_restart_that_completes_at_once_gets_its_removal_time(strategy):
    strategy("end")
    definition = deploy_ttl("2")
    old = start(definition)
    instance_delete(instance=old, delete_reason="x", user_id="u")
    with transaction.atomic():
        result = instances_restart(
            definition=definition, historic_ids=[old.id],
            instructions=[{"type": "startBeforeActivity", "activityId": "end"}], initial_variables=False,
            without_business_key=False, user_id="u",
        )
    assert result.changed == [old.id]
    new = HistoricProcessInstance.objects.get(restarted_process_instance_id=old.id)
    assert new.state == "COMPLETED" and new.removal_time == new.end_time + timedelta(days=2)
    assert history_removal_times(new.id) == {new.removal_time}


# --- the batch window ------------------------------------------------------------------------------


def test_the_batch_window_over_midnight_and_the_configuration_endpoint(settings, api):
    settings.TIME_ZONE = "UTC"
    settings.HISTORY = {**settings.HISTORY, "CLEANUP_BATCH_WINDOW_START_TIME": "22:00", "CLEANUP_BATCH_WINDOW_END_TIME": "05:00"}
    from datetime import UTC, datetime

    inside = datetime(2026, 3, 4, 2, 30, tzinfo=UTC)
    window = current_or_next_window(inside)
    assert (window.start, window.end) == (datetime(2026, 3, 3, 22, tzinfo=UTC), datetime(2026, 3, 4, 5, tzinfo=UTC))
    assert is_within_window(inside) and is_within_window(window.start) and not is_within_window(window.end)
    later = current_or_next_window(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    assert later.start == datetime(2026, 3, 4, 22, tzinfo=UTC)
    settings.HISTORY = {**settings.HISTORY, "CLEANUP_BATCH_WINDOW_START_TIME": "22:00+0200", "CLEANUP_BATCH_WINDOW_END_TIME": "23:00+0200"}
    assert current_or_next_window(datetime(2026, 3, 4, 12, 0, tzinfo=UTC)).start == datetime(2026, 3, 4, 20, tzinfo=UTC)
    body = api.get(f"{R}/history/cleanup/configuration").json()
    assert body["enabled"] is True and body["batchWindowStartTime"].endswith("+0000")
    settings.HISTORY = {**settings.HISTORY, "CLEANUP_BATCH_WINDOW_START_TIME": "", "CLEANUP_BATCH_WINDOW_END_TIME": ""}
    assert api.get(f"{R}/history/cleanup/configuration").json() == {
        "batchWindowStartTime": None, "batchWindowEndTime": None, "enabled": True,
    }


# --- the cleanup job -------------------------------------------------------------------------------


def ended_with_removal_time(definition, removal_time) -> str:
    instance = start(definition, note="n")
    complete(instance)
    HistoricProcessInstance.objects.filter(id=instance.id).update(removal_time=removal_time)
    for model in (HistoricActivityInstance, HistoricJobLog, HistoricVariableInstance, HistoricVariableUpdate, UserOperationLogEntry):
        model.objects.filter(process_instance_id=instance.id).update(removal_time=removal_time)
    return instance.id


def run_cleanup_job() -> str:
    job = Job.objects.get(job_type=HISTORY_CLEANUP)
    Job.objects.filter(id=job.id).update(due_date=timezone.now())  # let the executor take it now
    return job_execute(job.id, owner="test")


def test_cleanup_deletes_expired_history_keeps_the_rest_and_never_runs_outside_the_window(window, strategy, api):
    strategy("none")  # removal times set by hand below
    definition = deploy_ttl(None)
    past, future = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    expired = [ended_with_removal_time(definition, past) for _ in range(3)]
    kept = ended_with_removal_time(definition, future)
    running = start(definition)  # running, with a passed removal time: its history stays
    HistoricProcessInstance.objects.filter(id=running.id).update(removal_time=past)
    # Outside the window: scheduled for its start, and even run now it deletes nothing.
    window(120, 180)
    job = api.post(f"{R}/history/cleanup?immediatelyDue=false").json()
    assert job["dueDate"] == current_or_next_window(timezone.now()).start.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert job["jobDefinitionId"] is None and job["processInstanceId"] is None
    assert run_cleanup_job() == "succeeded"
    assert HistoricProcessInstance.objects.filter(id__in=expired).count() == 3
    row = Job.objects.get(job_type=HISTORY_CLEANUP)
    assert row.due_date == current_or_next_window(timezone.now()).start  # back to the window's start
    # Inside the window: the expired instances go with every history row; the others stay.
    window(-5, 60)
    assert run_cleanup_job() == "succeeded"
    assert not HistoricProcessInstance.objects.filter(id__in=expired).exists()
    for model in (HistoricActivityInstance, HistoricJobLog, HistoricVariableInstance, HistoricVariableUpdate, UserOperationLogEntry):
        assert not model.objects.filter(process_instance_id__in=expired).exists(), model
    assert HistoricProcessInstance.objects.filter(id__in=[kept, running.id]).count() == 2
    assert HistoricActivityInstance.objects.filter(process_instance_id=kept).exists()
    row = Job.objects.get(job_type=HISTORY_CLEANUP)
    assert row.due_date > timezone.now() and row.handler_configuration["countEmptyRuns"] == 1  # an empty run: a delay
    entry = UserOperationLogEntry.objects.get(operation_type="CreateHistoryCleanupJobs")
    assert (entry.entity_type, entry.property, entry.new_value) == ("Job", "immediatelyDue", "false")


def test_a_full_chunk_runs_again_at_once_and_a_manual_run_ignores_the_window_once(window, strategy, settings):
    strategy("none")
    settings.HISTORY = {**settings.HISTORY, "CLEANUP_BATCH_SIZE": 2}
    window(120, 180)
    definition = deploy_ttl(None)
    past = timezone.now() - timedelta(hours=1)
    expired = [ended_with_removal_time(definition, past) for _ in range(3)]
    job = history_cleanup_schedule(immediately_due=True, user_id="admin")
    assert job.handler_configuration["immediatelyDue"] is True and job.due_date <= timezone.now()
    assert job_execute(job.id, owner="test") == "succeeded"
    assert HistoricProcessInstance.objects.filter(id__in=expired).count() == 1  # a chunk of 2
    job.refresh_from_db()
    assert job.due_date <= timezone.now()  # a full chunk: again at once
    assert job_execute(job.id, owner="test") == "succeeded"
    assert not HistoricProcessInstance.objects.filter(id__in=expired).exists()
    job.refresh_from_db()
    # Done: the manual run ends, the job waits for the window and obeys it from now on.
    assert job.handler_configuration["immediatelyDue"] is False
    assert job.due_date == current_or_next_window(timezone.now()).start
    again = ended_with_removal_time(definition, past)
    assert run_cleanup_job() == "succeeded"
    assert HistoricProcessInstance.objects.filter(id=again).exists()


def test_expired_historic_batches_go_with_their_items_and_job_log(window, create, settings):
    settings.HISTORY = {**settings.HISTORY, "BATCH_OPERATION_HISTORY_TIME_TO_LIVE": "P1D"}
    definition = deploy_ttl(None)
    instance = start(definition)
    batch = create("process-instance/delete", {"processInstanceIds": [instance.id]})
    run_jobs()
    historic = HistoricBatch.objects.get(id=batch.id)
    assert historic.end_time is not None and historic.removal_time == historic.end_time + timedelta(days=1)
    logs = HistoricJobLog.objects.filter(job_definition_configuration=batch.id)
    # The success log of the job that ended the batch is written after the batch ended, without one
    # (as in Camunda); the cleanup deletes it with its batch all the same.
    assert set(logs.filter(success_log=False).values_list("removal_time", flat=True)) == {historic.removal_time}
    assert logs.filter(removal_time__isnull=True).count() <= 1
    kept = create("process-instance/delete", {"processInstanceIds": [start(definition).id]})
    run_jobs()
    HistoricBatch.objects.filter(id=batch.id).update(removal_time=timezone.now() - timedelta(minutes=1))
    window(-5, 60)
    history_cleanup_schedule(immediately_due=False, user_id="admin")
    assert run_cleanup_job() == "succeeded"
    assert not HistoricBatch.objects.filter(id=batch.id).exists()
    assert not BatchItem.objects.filter(batch_id=batch.id).exists()
    assert not HistoricJobLog.objects.filter(job_definition_configuration=batch.id).exists()
    assert HistoricBatch.objects.filter(id=kept.id).exists() and BatchItem.objects.filter(batch_id=kept.id).exists()


def test_cleanup_rest_contract(api, viewer_api, settings, window):
    window(None)
    assert api.get(f"{R}/history/cleanup/jobs").json() == {"type": "RestException", "message": "History cleanup jobs are empty", "code": None}
    assert api.get(f"{R}/history/cleanup/job").status_code == 404
    not_scheduled = api.post(f"{R}/history/cleanup?immediatelyDue=false")
    assert not_scheduled.status_code == 400 and "no batch window is configured" in not_scheduled.json()["message"]
    assert viewer_api.post(f"{R}/history/cleanup").json()["type"] == "AuthorizationException"
    assert api.post(f"{R}/history/cleanup?unknown=1").status_code == 400
    first = api.post(f"{R}/history/cleanup")
    assert first.status_code == 200 and first.json()["retries"] == 3 and first.json()["suspended"] is False
    second = api.post(f"{R}/history/cleanup").json()
    assert second["id"] == first.json()["id"]  # one job, reconfigured
    jobs = api.get(f"{R}/history/cleanup/jobs").json()
    assert [j["id"] for j in jobs] == [first.json()["id"]] and viewer_api.get(f"{R}/history/cleanup/jobs").status_code == 200
    # Without a window and not immediately due, the job is suspended (HistoryCleanupCmd.suspendJobs).
    suspended = api.post(f"{R}/history/cleanup?immediatelyDue=false").json()
    assert suspended["suspended"] is True and suspended["dueDate"] is None
    # A manual run without a window ends suspended, waiting for the next POST.
    api.post(f"{R}/history/cleanup")
    assert run_cleanup_job() == "succeeded"
    assert Job.objects.get(job_type=HISTORY_CLEANUP).suspended
    settings.HISTORY = {**settings.HISTORY, "CLEANUP_ENABLED": False}
    disabled = api.post(f"{R}/history/cleanup")
    assert disabled.status_code == 400 and disabled.json()["message"] == "History cleanup is disabled for this engine"


def test_cleanable_process_instance_report(api, operator_api, strategy):
    strategy("end")
    a, b = deploy_ttl("0", key="a"), deploy_ttl("10", key="b")
    for definition in (a, a, b):
        complete(start(definition))
    start(a)  # running
    hidden = deploy_ttl("1", key="h", tenant_id="tenant-b")
    complete(start(hidden))
    rows = api.get(f"{R}/history/process-definition/cleanable-process-instance-report").json()
    by_key = {r["processDefinitionKey"]: r for r in rows}
    assert by_key["a"] == {
        "processDefinitionId": a.id, "processDefinitionKey": "a", "processDefinitionName": None, "processDefinitionVersion": 1,
        "historyTimeToLive": 0, "finishedProcessInstanceCount": 2, "cleanableProcessInstanceCount": 2, "tenantId": None,
    }
    assert (by_key["b"]["finishedProcessInstanceCount"], by_key["b"]["cleanableProcessInstanceCount"]) == (1, 0)
    assert api.get(f"{R}/history/process-definition/cleanable-process-instance-report/count").json() == {"count": 3}
    keyed = api.get(f"{R}/history/process-definition/cleanable-process-instance-report?processDefinitionKeyIn=b,h").json()
    assert sorted(r["processDefinitionKey"] for r in keyed) == ["b", "h"]
    assert [r["processDefinitionKey"] for r in operator_api.get(
        f"{R}/history/process-definition/cleanable-process-instance-report?processDefinitionKeyIn=b,h").json()] == ["b"]
    assert api.get(f"{R}/history/process-definition/cleanable-process-instance-report?withoutTenantId=true&tenantIdIn=tenant-b").json() == []
    deploy_ttl(None, key="empty")
    compact = api.get(f"{R}/history/process-definition/cleanable-process-instance-report/count?compact=true").json()
    assert compact == {"count": 3}
    ordered = api.get(f"{R}/history/process-definition/cleanable-process-instance-report?sortBy=finished&sortOrder=desc").json()
    assert [r["finishedProcessInstanceCount"] for r in ordered][:2] == [2, 1]
    assert api.get(f"{R}/history/process-definition/cleanable-process-instance-report?sortBy=name&sortOrder=asc").status_code == 400
    assert api.get(f"{R}/history/process-definition/cleanable-process-instance-report?foo=1").status_code == 400
    assert api.get(f"{R}/history/process-definition/cleanable-process-instance-report?compact=maybe").status_code == 400


def test_cleanable_batch_report(api, create, settings):
    settings.HISTORY = {**settings.HISTORY, "BATCH_OPERATION_HISTORY_TIME_TO_LIVE": "5",
                        "BATCH_OPERATIONS_FOR_HISTORY_CLEANUP": {"instance-deletion": "P0D"}}
    definition = deploy_ttl(None)
    for _ in range(2):
        create("process-instance/delete", {"processInstanceIds": [start(definition).id]})
    run_jobs()
    create("history/process-instance/delete", {"historicProcessInstanceIds": [
        HistoricProcessInstance.objects.filter(end_time__isnull=False).values_list("id", flat=True).first()]})
    rows = api.get(f"{R}/history/batch/cleanable-batch-report").json()
    assert rows == [
        {"batchType": "historic-instance-deletion", "historyTimeToLive": 5, "finishedBatchesCount": 0, "cleanableBatchesCount": 0},
        {"batchType": "instance-deletion", "historyTimeToLive": 0, "finishedBatchesCount": 2, "cleanableBatchesCount": 2},
    ]
    assert api.get(f"{R}/history/batch/cleanable-batch-report/count").json() == {"count": 2}
    desc = api.get(f"{R}/history/batch/cleanable-batch-report?sortBy=finished&sortOrder=desc&maxResults=1").json()
    assert [r["batchType"] for r in desc] == ["instance-deletion"]
    assert api.get(f"{R}/history/batch/cleanable-batch-report?batchType=x").status_code == 400


@pytest.mark.cluster
def test_the_cleanup_job_runs_on_real_workers_inside_the_window(cluster, admin_user, transactional_db):
    definition = deploy_ttl("0")  # removal time = end time: expired as soon as the instance ends
    expired = []
    for _ in range(3):
        instance = start(definition, note="n")
        complete(instance)
        expired.append(instance.id)
    kept_definition = deploy_ttl("30", key="kept")
    kept = start(kept_definition)
    complete(kept)
    assert HistoricProcessInstance.objects.get(id=kept.id).removal_time is not None
    now = timezone.now()
    cluster(
        workers=2,
        HISTORY_CLEANUP_BATCH_WINDOW_START_TIME=(now - timedelta(minutes=5)).strftime("%H:%M"),
        HISTORY_CLEANUP_BATCH_WINDOW_END_TIME=(now + timedelta(minutes=60)).strftime("%H:%M"),
    )
    response = client_for(admin_user).post(f"{R}/history/cleanup")
    assert response.status_code == 200, response.content
    wait_for(lambda: not HistoricProcessInstance.objects.filter(id__in=expired).exists(), timeout=60, message="the cleanup")
    assert not HistoricActivityInstance.objects.filter(process_instance_id__in=expired).exists()
    assert HistoricProcessInstance.objects.filter(id=kept.id).exists()
    job = wait_for(
        lambda: Job.objects.filter(job_type=HISTORY_CLEANUP, lock_owner__isnull=True, due_date__gt=timezone.now()).first(),
        timeout=30, message="the job to reschedule itself",
    )
    assert job.retries == 3 and job.exception_message is None
