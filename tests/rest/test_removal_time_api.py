"""The REST contract of POST /history/process-instance/set-removal-time and /history/batch/set-removal-time."""
import pytest

from batches.models import Batch
from engine.models import UserOperationLogEntry
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db
R = "/engine-rest"
PROCESS = f"{R}/history/process-instance/set-removal-time"
BATCHES = f"{R}/history/batch/set-removal-time"


def error(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["type"], body["message"]


@pytest.fixture
def instance_id(db):
    return start(deploy()).id


def test_a_process_set_removal_time_batch_is_created_with_camundas_batch_dto_and_op_log(api, instance_id):
    response = api.post(PROCESS, {
        "absoluteRemovalTime": "2030-01-02T03:04:05.000+0000", "historicProcessInstanceIds": [instance_id],
        "hierarchical": True, "updateInChunks": True, "updateChunkSize": 20,
    }, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "process-set-removal-time" and body["totalJobs"] == 1
    batch = Batch.objects.get(id=body["id"])
    assert batch.configuration["mode"] == "ABSOLUTE_REMOVAL_TIME" and batch.configuration["chunkSize"] == 20
    entries = {e.property: e for e in UserOperationLogEntry.objects.filter(operation_type="SetRemovalTime")}
    assert {e.entity_type for e in entries.values()} == {"ProcessInstance"}
    assert {p: e.new_value for p, e in entries.items()} == {
        "mode": "ABSOLUTE_REMOVAL_TIME", "removalTime": "1893553445000", "hierarchical": "true", "nrOfInstances": "1",
        "async": "true", "updateInChunks": "true", "chunkSize": "20",
    }
    assert {e.batch_id for e in entries.values()} == {body["id"]}


@pytest.mark.parametrize(("payload", "expected"), [
    ({"calculatedRemovalTime": True, "clearedRemovalTime": True},
     (400, "BadUserRequestException", "The removal time modes are mutually exclusive: mode is not null")),
    ({"calculatedRemovalTime": True, "absoluteRemovalTime": "2030-01-02T03:04:05.000+0000"},
     (400, "BadUserRequestException", "The removal time modes are mutually exclusive: mode is not null")),
    ({"historicProcessInstanceIds": ["x"]}, (400, "BadUserRequestException", "removalTime is null")),
    ({"calculatedRemovalTime": True}, (400, "BadUserRequestException", "Neither query nor ids provided.")),
    ({"calculatedRemovalTime": True, "historicProcessInstanceIds": ["x"], "updateChunkSize": 501},
     (400, "BadUserRequestException", "The value for chunk size should be between 1 and 500")),
    ({"calculatedRemovalTime": True, "historicProcessInstanceIds": ["x"], "updateChunkSize": 0},
     (400, "BadUserRequestException", "The value for chunk size should be between 1 and 500")),
    ({"calculatedRemovalTime": True, "historicProcessInstanceIds": []},
     (400, "InvalidRequestException", "historicProcessInstances is empty")),
    ({"calculatedRemovalTime": True, "historicProcessInstanceQuery": {"processDefinitionKey": "none"}},
     (400, "InvalidRequestException", "historicProcessInstances is empty")),
])
def test_process_set_removal_time_refusals_carry_camundas_messages(api, payload, expected):
    assert error(api.post(PROCESS, payload, format="json")) == expected
    assert not Batch.objects.exists()


def test_process_set_removal_time_bad_fields_name_them(api, viewer_api, instance_id):
    bad_date = api.post(PROCESS, {"absoluteRemovalTime": "tomorrow", "historicProcessInstanceIds": [instance_id]}, format="json")
    assert bad_date.status_code == 400 and "absoluteRemovalTime" in bad_date.json()["message"]
    bad_query = api.post(PROCESS, {"calculatedRemovalTime": True, "historicProcessInstanceQuery": {"nope": 1}}, format="json")
    assert bad_query.status_code == 400 and "nope" in bad_query.json()["message"]
    bad_flag = api.post(PROCESS, {"calculatedRemovalTime": "perhaps", "historicProcessInstanceIds": [instance_id]}, format="json")
    assert bad_flag.status_code == 400 and "calculatedRemovalTime" in bad_flag.json()["message"]
    bad_size = api.post(PROCESS, {"calculatedRemovalTime": True, "historicProcessInstanceIds": [instance_id], "updateChunkSize": "x"}, format="json")
    assert bad_size.status_code == 400 and "updateChunkSize" in bad_size.json()["message"]
    assert api.post(PROCESS, [1], format="json").status_code == 400
    assert viewer_api.post(PROCESS, {"calculatedRemovalTime": True, "historicProcessInstanceIds": [instance_id]}, format="json").status_code == 403
    assert not Batch.objects.exists()


def test_a_batch_set_removal_time_batch_keeps_only_existing_historic_batches(api, instance_id):
    first = api.post(f"{R}/process-instance/delete", {"processInstanceIds": [instance_id]}, format="json").json()
    response = api.post(BATCHES, {"clearedRemovalTime": True, "historicBatchIds": [first["id"], "unknown"]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "batch-set-removal-time"
    from batches.models import BatchItem

    assert list(BatchItem.objects.filter(batch_id=body["id"]).values_list("target_id", flat=True)) == [first["id"]]
    entries = {e.property: e for e in UserOperationLogEntry.objects.filter(operation_type="SetRemovalTime")}
    assert {e.entity_type for e in entries.values()} == {"Batch"}
    assert {p: e.new_value for p, e in entries.items()} == {
        "mode": "CLEARED_REMOVAL_TIME", "removalTime": None, "nrOfInstances": "1", "async": "true",
    }
    by_query = api.post(BATCHES, {"calculatedRemovalTime": True, "historicBatchQuery": {"type": "instance-deletion"}}, format="json")
    assert by_query.status_code == 200 and by_query.json()["totalJobs"] == 1


@pytest.mark.parametrize(("payload", "expected"), [
    ({"clearedRemovalTime": True, "historicBatchIds": ["unknown"]}, (400, "InvalidRequestException", "historicBatches is empty")),
    ({"clearedRemovalTime": True}, (400, "BadUserRequestException", "Neither query nor ids provided.")),
    ({"historicBatchIds": ["x"]}, (400, "BadUserRequestException", "removalTime is null")),
    ({"clearedRemovalTime": True, "calculatedRemovalTime": True, "historicBatchIds": ["x"]},
     (400, "BadUserRequestException", "The removal time modes are mutually exclusive: mode is not null")),
])
def test_batch_set_removal_time_refusals(api, payload, expected):
    assert error(api.post(BATCHES, payload, format="json")) == expected


def test_bad_historic_batch_query_names_the_key(api):
    response = api.post(BATCHES, {"clearedRemovalTime": True, "historicBatchQuery": {"batchType": "x"}}, format="json")
    assert response.status_code == 400 and "batchType" in response.json()["message"]


def test_every_new_path_is_in_the_openapi_document(api):
    paths = api.get(f"{R}/openapi.json").json()["paths"]
    for path in (
        "/engine-rest/history/process-instance/set-removal-time",
        "/engine-rest/history/batch/set-removal-time",
        "/engine-rest/history/cleanup",
        "/engine-rest/history/cleanup/jobs",
        "/engine-rest/history/cleanup/configuration",
        "/engine-rest/history/process-definition/cleanable-process-instance-report",
        "/engine-rest/history/process-definition/cleanable-process-instance-report/count",
        "/engine-rest/history/batch/cleanable-batch-report",
        "/engine-rest/history/batch/cleanable-batch-report/count",
        "/engine-rest/process-definition/{id}/history-time-to-live",
        "/engine-rest/process-definition/key/{key}/history-time-to-live",
        "/engine-rest/process-definition/key/{key}/tenant-id/{tenant_id}/history-time-to-live",
    ):
        assert path in paths, path
    report = paths["/engine-rest/history/process-definition/cleanable-process-instance-report"]["get"]
    assert {p["name"] for p in report["parameters"]} >= {"processDefinitionIdIn", "processDefinitionKeyIn", "compact", "sortBy"}


@pytest.mark.django_db(transaction=True)
def test_a_real_camunda_client_drives_the_removal_time_and_cleanup_endpoints(live_server, admin_user):
    import base64
    from datetime import UTC, datetime

    from generic_camunda_client import (
        ApiClient, Configuration, HistoricBatchApi, HistoricProcessDefinitionApi, HistoricProcessInstanceApi,
        HistoryCleanupApi, HistoryTimeToLiveDto, ProcessDefinitionApi, SetRemovalTimeToHistoricBatchesDto,
        SetRemovalTimeToHistoricProcessInstancesDto,
    )

    from engine.models import HistoricProcessInstance, ProcessDefinition
    from tests.conftest import PASSWORD
    from tests.support.factories import run_jobs

    token = base64.b64encode(f"{admin_user.username}:{PASSWORD}".encode()).decode()
    camunda = ApiClient(Configuration(host=f"{live_server.url}/engine-rest"), header_name="Authorization", header_value=f"Basic {token}")
    definition = deploy()
    instance = start(definition)
    ProcessDefinitionApi(camunda).update_history_time_to_live_by_process_definition_id(
        definition.id, history_time_to_live_dto=HistoryTimeToLiveDto(history_time_to_live=7))
    ProcessDefinitionApi(camunda).update_history_time_to_live_by_process_definition_key(
        "proc", history_time_to_live_dto=HistoryTimeToLiveDto(history_time_to_live=8))
    assert ProcessDefinition.objects.get(id=definition.id).history_time_to_live == 8
    when = datetime(2031, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    batch = HistoricProcessInstanceApi(camunda).set_removal_time_async(
        set_removal_time_to_historic_process_instances_dto=SetRemovalTimeToHistoricProcessInstancesDto(
            historic_process_instance_ids=[instance.id], absolute_removal_time=when))
    assert batch.type == "process-set-removal-time"
    run_jobs()
    assert HistoricProcessInstance.objects.get(id=instance.id).removal_time == when
    report = HistoricProcessDefinitionApi(camunda).get_cleanable_historic_process_instance_report(process_definition_id_in=definition.id)
    assert (report[0].process_definition_id, report[0].history_time_to_live, report[0].finished_process_instance_count) == (definition.id, 8, 0)
    assert HistoricProcessDefinitionApi(camunda).get_cleanable_historic_process_instance_report_count().count == 1
    batches = HistoricBatchApi(camunda)
    second = batches.set_removal_time_async_historic_batch(set_removal_time_to_historic_batches_dto=SetRemovalTimeToHistoricBatchesDto(
        historic_batch_ids=[batch.id], cleared_removal_time=True))
    assert second.type == "batch-set-removal-time"
    run_jobs()
    kinds = {r.batch_type: r for r in batches.get_cleanable_historic_batches_report()}
    assert kinds["process-set-removal-time"].finished_batches_count == 1
    assert batches.get_cleanable_historic_batches_report_count().count == 2
    cleanup = HistoryCleanupApi(camunda)
    job = cleanup.cleanup_async(immediately_due=True)
    assert job.id and job.due_date is not None
    assert [j.id for j in cleanup.find_cleanup_jobs()] == [job.id]
    assert cleanup.get_history_cleanup_configuration().enabled is True
