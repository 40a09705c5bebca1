"""instance-migration: plans (generate, validate), the batch and the synchronous form, in-process."""
import pytest

from batches.models import BatchItem, HistoricBatch
from engine.models import (
    ActivityInstance,
    HistoricActivityInstance,
    HistoricIncident,
    HistoricProcessInstance,
    HistoricVariableInstance,
    Incident,
    Job,
    ProcessInstance,
    UserOperationLogEntry,
    VariableInstance,
)
from engine.services.migration import NO_INSTRUCTION
from engine.services.runtime import task_complete
from tests.support.factories import deploy, run_jobs, start, tokens

pytestmark = pytest.mark.django_db

V1 = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>'
    '<bpmn:parallelGateway id="fork"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="task"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="check"/>'
    '<bpmn:userTask id="task" name="Do it"/>'
    '<bpmn:userTask id="check" name="Check it"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="task" targetRef="join"/>'
    '<bpmn:sequenceFlow id="f5" sourceRef="check" targetRef="join"/>'
    '<bpmn:parallelGateway id="join"/>'
    '<bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="service"/>'
    '<bpmn:serviceTask id="service" name="Call it" cockpit:failWhen="fail"/>'
    '<bpmn:sequenceFlow id="f7" sourceRef="service" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)
# v2: "task" stays, "check" is renamed "review", "service" stays, a new user task "archive" follows.
V2 = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>'
    '<bpmn:parallelGateway id="fork"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="task"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="review"/>'
    '<bpmn:userTask id="task" name="Do it now"/>'
    '<bpmn:userTask id="review" name="Review it"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="task" targetRef="join"/>'
    '<bpmn:sequenceFlow id="f5" sourceRef="review" targetRef="join"/>'
    '<bpmn:parallelGateway id="join"/>'
    '<bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="service"/>'
    '<bpmn:serviceTask id="service" name="Call it" cockpit:failWhen="fail"/>'
    '<bpmn:sequenceFlow id="f7" sourceRef="service" targetRef="archive"/>'
    '<bpmn:userTask id="archive" name="Archive"/>'
    '<bpmn:sequenceFlow id="f8" sourceRef="archive" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)


def instruction(source: str, target: str | None = None) -> dict:
    return {"sourceActivityIds": [source], "targetActivityIds": [target or source], "updateEventTrigger": False}


@pytest.fixture
def versions():
    return deploy(V1, key="mig"), deploy(V2, key="mig")


def plan(v1, v2, *instructions, variables=None) -> dict:
    return {
        "sourceProcessDefinitionId": v1.id,
        "targetProcessDefinitionId": v2.id,
        "instructions": list(instructions) or [instruction("task"), instruction("check", "review"), instruction("join"), instruction("service")],
        "variables": variables,
    }


def at_service(definition, **variables) -> ProcessInstance:
    """An instance whose tokens passed both tasks and wait in the service task (its job due)."""
    instance = start(definition, **variables)
    for token in list(ActivityInstance.objects.filter(process_instance=instance)):
        task_complete(task_id=token.id)
    return instance


def test_generate_maps_activities_with_the_same_id_and_kind(api, versions):
    v1, v2 = versions
    response = api.post("/engine-rest/migration/generate", {
        "sourceProcessDefinitionId": v1.id, "targetProcessDefinitionId": v2.id, "updateEventTriggers": False,
    }, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["sourceProcessDefinitionId"], body["targetProcessDefinitionId"]) == (v1.id, v2.id)
    mapped = sorted(i["sourceActivityIds"][0] for i in body["instructions"])
    assert mapped == ["fork", "join", "service", "task"]  # "check" was renamed; events are never mapped (as Camunda)
    assert all(i["sourceActivityIds"] == i["targetActivityIds"] for i in body["instructions"])


def test_generate_with_an_unknown_definition_is_a_400(api, versions):
    v1, _ = versions
    response = api.post("/engine-rest/migration/generate", {
        "sourceProcessDefinitionId": v1.id, "targetProcessDefinitionId": "nope:1:x",
    }, format="json")
    assert response.status_code == 400
    assert "nope:1:x" in response.json()["message"]


def test_validate_reports_each_failing_instruction(api, versions):
    v1, v2 = versions
    response = api.post("/engine-rest/migration/validate", plan(
        v1, v2, instruction("task", "service"), instruction("gone"), instruction("check", "review"), instruction("check", "task"),
    ), format="json")
    assert response.status_code == 200, response.json()
    reports = {r["instruction"]["sourceActivityIds"][0] + ">" + r["instruction"]["targetActivityIds"][0]: r["failures"]
               for r in response.json()["instructionReports"]}
    assert any("incompatible types" in f for f in reports["task>service"])
    assert "Source activity 'gone' does not exist" in reports["gone>gone"]
    assert any("multiple mappings for source activity id 'check'" in f for f in reports["check>review"])
    assert response.json()["variableReports"] == {}


def test_a_valid_plan_validates_clean(api, versions):
    v1, v2 = versions
    response = api.post("/engine-rest/migration/validate", plan(v1, v2), format="json")
    assert response.json() == {"instructionReports": [], "variableReports": {}}


def test_execute_async_with_an_invalid_plan_is_camundas_validation_exception(api, versions):
    v1, v2 = versions
    instance = start(v1)
    response = api.post("/engine-rest/migration/executeAsync", {
        "migrationPlan": plan(v1, v2, instruction("task", "service")), "processInstanceIds": [instance.id],
    }, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "MigrationPlanValidationException"
    assert body["message"].startswith(f"ENGINE-23001 Migration plan for process definition '{v1.id}' to '{v2.id}' is not valid:\n")
    assert "\t Migration instruction MigrationInstructionImpl{sourceActivityId='task', targetActivityId='service'" in body["message"]
    assert body["validationReport"]["instructionReports"][0]["instruction"]["sourceActivityIds"] == ["task"]
    assert not HistoricBatch.objects.exists()


@pytest.mark.parametrize("payload, message", [
    ({"processInstanceIds": ["x"]}, "Migration plan cannot be null"),
    ({"migrationPlan": "text", "processInstanceIds": ["x"]}, "migrationPlan"),
    ({"migrationPlan": {"sourceProcessDefinitionId": "a"}, "processInstanceIds": ["x"]},
     "ENGINE-23008 Source process definition with id 'a' does not exist"),
    ({"migrationPlan": {"sourceProcessDefinitionId": "V1"}, "processInstanceIds": ["x"]}, "Target process definition id is null"),
    ({"migrationPlan": {"sourceProcessDefinitionId": "V1", "targetProcessDefinitionId": "V2",
                        "instructions": [{"sourceActivityIds": ["a", "b"], "targetActivityIds": ["a"]}]},
      "processInstanceIds": ["x"]}, "exactly one activity id"),
    ({"migrationPlan": "PLAN"}, "Process instance ids cannot empty"),
    ({"migrationPlan": "PLAN", "processInstanceQuery": {"nope": 1}}, "nope"),
])
def test_bad_execution_requests_are_400s(api, versions, payload, message):
    v1, v2 = versions
    raw = payload.get("migrationPlan")
    if raw == "PLAN":
        payload = {**payload, "migrationPlan": plan(v1, v2)}
    elif isinstance(raw, dict) and raw.get("sourceProcessDefinitionId") == "V1":
        ids = {"sourceProcessDefinitionId": v1.id} | ({"targetProcessDefinitionId": v2.id} if "instructions" in raw else {})
        payload = {**payload, "migrationPlan": {**raw, **ids}}
    for path in ("migration/executeAsync", "migration/execute"):
        response = api.post(f"/engine-rest/{path}", payload, format="json")
        assert response.status_code == 400, (path, response.json())
        assert message in response.json()["message"], (path, response.json())


def test_execute_moves_tokens_jobs_incidents_history_and_sets_variables(api, versions):
    v1, v2 = versions
    waiting = start(v1, amount=5)
    failing = at_service(v1, fail=True)
    run_jobs()  # the service task fails three times: retries 0 and an incident
    job = Job.objects.get(process_instance=failing)
    assert job.retries == 0 and Incident.objects.filter(process_instance=failing).count() == 1
    response = api.post("/engine-rest/migration/execute", {
        "migrationPlan": plan(v1, v2, variables={"migrated": {"value": True, "type": "Boolean"}}),
        "processInstanceIds": [waiting.id, failing.id],
    }, format="json")
    assert response.status_code == 204, response.json()
    assert set(ProcessInstance.objects.values_list("process_definition_id", flat=True)) == {v2.id}
    assert tokens(waiting) == ["review", "task"]
    assert set(ActivityInstance.objects.filter(process_instance=waiting).values_list("activity_name", flat=True)) == {"Do it now", "Review it"}
    job.refresh_from_db()
    assert (job.retries, job.process_definition_id, job.activity_id) == (0, v2.id, "service")
    assert job.job_definition.process_definition_id == v2.id
    incident = Incident.objects.get(process_instance=failing)
    assert (incident.process_definition_id, incident.job_definition_id) == (v2.id, job.job_definition_id)
    assert HistoricIncident.objects.get(id=incident.id).process_definition_id == v2.id
    history = HistoricProcessInstance.objects.get(id=waiting.id)
    assert (history.process_definition_id, history.process_definition_version) == (v2.id, v2.version)
    open_rows = HistoricActivityInstance.objects.filter(process_instance_id=waiting.id, end_time__isnull=True)
    assert sorted(open_rows.values_list("activity_id", flat=True)) == ["review", "task"]
    assert set(open_rows.values_list("process_definition_id", flat=True)) == {v2.id}
    assert VariableInstance.objects.filter(name="migrated", long_value=1).count() == 2
    assert HistoricVariableInstance.objects.get(process_instance_id=waiting.id, name="amount").process_definition_id == v2.id
    entry = UserOperationLogEntry.objects.get(operation_type="Migrate", property="processDefinitionId")
    assert (entry.org_value, entry.new_value) == (v1.id, v2.id)
    # The migrated instance goes on in the new version: its failed job runs again once retried.
    Job.objects.filter(id=job.id).update(retries=1)
    VariableInstance.objects.filter(process_instance=failing, name="fail").update(long_value=0, text_value="false")
    run_jobs()
    assert tokens(failing) == ["archive"]


def test_a_parallel_join_token_migrates_and_the_join_completes_in_the_new_version(api, versions):
    v1, v2 = versions
    instance = start(v1)
    task_complete(task_id=ActivityInstance.objects.get(process_instance=instance, activity_id="task").id)
    assert tokens(instance) == ["check", "join"]
    response = api.post("/engine-rest/migration/execute", {"migrationPlan": plan(v1, v2), "processInstanceIds": [instance.id]}, format="json")
    assert response.status_code == 204, response.json()
    assert tokens(instance) == ["join", "review"]
    task_complete(task_id=ActivityInstance.objects.get(process_instance=instance, activity_id="review").id)
    assert tokens(instance) == ["service"]


def test_sync_execute_is_all_or_nothing_with_the_instance_report(api, versions):
    v1, v2 = versions
    fine = start(v1)
    unmapped = start(v1)
    response = api.post("/engine-rest/migration/execute", {
        "migrationPlan": plan(v1, v2, instruction("task")), "processInstanceIds": [fine.id, unmapped.id],
    }, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "MigratingProcessInstanceValidationException"
    report = body["validationReport"]
    assert report["processInstanceId"] == fine.id
    assert [r["sourceScopeId"] for r in report["activityInstanceValidationReports"]] == ["check"]
    assert report["activityInstanceValidationReports"][0]["failures"] == [NO_INSTRUCTION]
    assert set(ProcessInstance.objects.values_list("process_definition_id", flat=True)) == {v1.id}


def test_the_batch_fails_unmapped_and_foreign_instances_with_reasons(create, versions, batch_sizes):
    batch_sizes(per_seed=10, invocations=10)
    v1, v2 = versions
    other = start(deploy(key="other"))
    movable = [at_service(v1, fail=True) for _ in range(3)]  # their jobs fail: they stay
    unmapped = start(v1)  # waits in "check", which this plan does not map
    finished = start(v1)
    ProcessInstance.objects.filter(id=finished.id).delete()
    batch = create("migration/executeAsync", {
        "migrationPlan": plan(v1, v2, instruction("task"), instruction("service")),
        "processInstanceIds": [i.id for i in movable] + [unmapped.id, other.id, finished.id],
    })
    run_jobs()
    items = {i.target_id: (i.state, i.detail) for i in BatchItem.objects.filter(batch_id=batch.id)}
    assert {items[i.id][0] for i in movable} == {BatchItem.SUCCEEDED}
    assert items[unmapped.id][0] == BatchItem.FAILED and NO_INSTRUCTION in items[unmapped.id][1]
    assert items[other.id][0] == BatchItem.FAILED and "does not match the source process definition of the migration plan" in items[other.id][1]
    assert items[finished.id][0] == BatchItem.SKIPPED
    assert set(ProcessInstance.objects.filter(id__in=[i.id for i in movable]).values_list("process_definition_id", flat=True)) == {v2.id}
    assert ProcessInstance.objects.get(id=unmapped.id).process_definition_id == v1.id
    entry = UserOperationLogEntry.objects.get(operation_type="Migrate", property="nrOfInstances")
    assert (entry.new_value, entry.batch_id) == ("6", batch.id)


def test_suspended_instances_migrate_and_stay_suspended(api, versions):
    v1, v2 = versions
    instance = at_service(v1)
    api.put(f"/engine-rest/process-instance/{instance.id}/suspended", {"suspended": True}, format="json")
    response = api.post("/engine-rest/migration/execute", {"migrationPlan": plan(v1, v2), "processInstanceIds": [instance.id]}, format="json")
    assert response.status_code == 204, response.json()
    instance.refresh_from_db()
    assert instance.suspended and instance.process_definition_id == v2.id
    assert Job.objects.get(process_instance=instance).suspended


def test_a_swap_of_two_activities_moves_both(api):
    both = '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="g"/><bpmn:parallelGateway id="g"/>' \
        '<bpmn:sequenceFlow id="b" sourceRef="g" targetRef="x"/><bpmn:sequenceFlow id="c" sourceRef="g" targetRef="y"/>' \
        '<bpmn:userTask id="x"/><bpmn:userTask id="y"/><bpmn:sequenceFlow id="d" sourceRef="x" targetRef="e1"/>' \
        '<bpmn:sequenceFlow id="e" sourceRef="y" targetRef="e2"/><bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
    v1, v2 = deploy(both, key="swap"), deploy(both, key="swap")
    instance = start(v1)
    task_complete(task_id=ActivityInstance.objects.get(process_instance=instance, activity_id="x").id)
    response = api.post("/engine-rest/migration/execute", {
        "migrationPlan": plan(v1, v2, instruction("x", "y"), instruction("y", "x")), "processInstanceIds": [instance.id],
    }, format="json")
    assert response.status_code == 204, response.json()
    assert tokens(instance) == ["x"]


def test_the_demo_invoice_versions_differ_so_that_migration_maps_renames_and_removes(api):
    from engine.demo import ensure_definitions

    slots = ensure_definitions()
    v2, v3 = slots["invoice:2"], slots["invoice:3"]
    generated = api.post("/engine-rest/migration/generate", {
        "sourceProcessDefinitionId": v2.id, "targetProcessDefinitionId": v3.id}, format="json").json()
    mapped = sorted(i["sourceActivityIds"][0] for i in generated["instructions"])
    assert mapped == ["archiveInvoice", "assignApprover", "prepareBankTransfer", "reviewInvoice"]
    # approveInvoice was renamed checkInvoice: the operator maps it by hand, and the plan is valid.
    edited = {**generated, "instructions": generated["instructions"] + [instruction("approveInvoice", "checkInvoice")]}
    assert api.post("/engine-rest/migration/validate", edited, format="json").json()["instructionReports"] == []
