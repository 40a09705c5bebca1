"""A real Camunda 7 client (generic-camunda-client, generated from Camunda's OpenAPI) drives the API unchanged."""
import base64

import pytest
from generic_camunda_client import (
    ApiClient,
    Configuration,
    HistoricProcessInstanceApi,
    MigrationApi,
    MigrationExecutionDto,
    MigrationPlanGenerationDto,
    ProcessDefinitionApi,
    RestartProcessInstanceDto,
    RestartProcessInstanceModificationInstructionDto,
)
from generic_camunda_client.exceptions import ApiException

from engine.models import HistoricProcessInstance, ProcessInstance
from tests.batches.test_migration import V1, V2
from tests.batches.test_restart import finished
from tests.conftest import PASSWORD
from tests.support.factories import deploy, run_jobs, start, tokens

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def camunda(live_server, admin_user) -> ApiClient:
    # The client's own username/password settings send no header (its auth_settings are empty),
    # so its users pass Basic as a default header, as here.
    token = base64.b64encode(f"{admin_user.username}:{PASSWORD}".encode()).decode()
    return ApiClient(Configuration(host=f"{live_server.url}/engine-rest"), header_name="Authorization", header_value=f"Basic {token}")


def test_generate_validate_and_execute_a_migration_async(camunda):
    v1, v2 = deploy(V1, key="mig"), deploy(V2, key="mig")
    instances = [start(v1) for _ in range(3)]
    api = MigrationApi(camunda)
    plan = api.generate_migration_plan(migration_plan_generation_dto=MigrationPlanGenerationDto(
        source_process_definition_id=v1.id, target_process_definition_id=v2.id, update_event_triggers=False,
    ))
    assert {i.source_activity_ids[0] for i in plan.instructions} == {"fork", "task", "join", "service"}
    report = api.validate_migration_plan(migration_plan_dto=plan)
    assert report.instruction_reports == []
    # "check" was renamed "review" in v2: the generated plan leaves it out, so executing it fails.
    with pytest.raises(ApiException) as refused:
        api.execute_migration_plan(migration_execution_dto=MigrationExecutionDto(
            migration_plan=plan, process_instance_ids=[instances[0].id]))
    assert refused.value.status == 400 and "MigratingProcessInstanceValidationException" in str(refused.value.body)
    plan.instructions.append(type(plan.instructions[0])(source_activity_ids=["check"], target_activity_ids=["review"]))
    batch = api.execute_migration_plan_async(migration_execution_dto=MigrationExecutionDto(
        migration_plan=plan, process_instance_ids=[i.id for i in instances]))
    assert batch.type == "instance-migration" and batch.start_time is not None
    run_jobs()
    assert set(ProcessInstance.objects.values_list("process_definition_id", flat=True)) == {v2.id}
    assert tokens(instances[0]) == ["review", "task"]


def test_restart_async_and_sync(camunda):
    definition = deploy()
    olds = [finished(definition, business_key=f"c-{n}") for n in range(2)]
    api = ProcessDefinitionApi(camunda)
    instruction = RestartProcessInstanceModificationInstructionDto(type="startBeforeActivity", activity_id="task")
    batch = api.restart_process_instance_async_operation(definition.id, restart_process_instance_dto=RestartProcessInstanceDto(
        process_instance_ids=olds[:1], instructions=[instruction]))
    assert batch.type == "instance-restart"
    run_jobs()
    api.restart_process_instance(definition.id, restart_process_instance_dto=RestartProcessInstanceDto(
        process_instance_ids=olds[1:], instructions=[instruction], without_business_key=True))
    restarted = {h.restarted_process_instance_id: h for h in HistoricProcessInstance.objects.exclude(restarted_process_instance_id=None)}
    assert restarted[olds[0]].business_key == "c-0" and restarted[olds[1]].business_key is None
    fresh = HistoricProcessInstanceApi(camunda).get_historic_process_instance(restarted[olds[0]].id)
    assert (fresh.state, fresh.process_definition_id, fresh.business_key) == ("ACTIVE", definition.id, "c-0")


def test_job_controls_job_log_and_the_historic_query_variants(camunda):
    from generic_camunda_client import (
        DeleteProcessInstancesDto,
        HistoricJobLogApi,
        HistoricProcessInstanceQueryDto,
        JobApi,
        JobDefinitionApi,
        JobDefinitionPriorityDto,
        JobDefinitionSuspensionStateDto,
        JobSuspensionStateDto,
        PriorityDto,
        ProcessInstanceApi,
        ProcessInstanceModificationDto,
        ProcessInstanceModificationInstructionDto,
        SetJobRetriesByProcessDto,
        SuspensionStateDto,
    )

    from engine.models import Job, JobDefinition

    definition = deploy()
    instance = start(definition)
    ProcessInstanceApi(camunda).modify_process_instance(instance.id, process_instance_modification_dto=ProcessInstanceModificationDto(
        instructions=[ProcessInstanceModificationInstructionDto(type="startBeforeActivity", activity_id="service")]))
    job = Job.objects.get(process_instance_id=instance.id)
    jobs = JobApi(camunda)
    jobs.update_job_suspension_state(job.id, suspension_state_dto=SuspensionStateDto(suspended=True))
    assert jobs.get_job(job.id).suspended is True
    jobs.update_suspension_state_by(job_suspension_state_dto=JobSuspensionStateDto(suspended=False, process_instance_id=instance.id))
    jobs.set_job_priority(job.id, priority_dto=PriorityDto(priority=7))
    assert (jobs.get_job(job.id).suspended, jobs.get_job(job.id).priority) == (False, 7)
    job_definition = JobDefinition.objects.get(process_definition=definition, activity_id="service")
    definitions = JobDefinitionApi(camunda)
    definitions.update_suspension_state_job_definition(job_definition.id, job_definition_suspension_state_dto=JobDefinitionSuspensionStateDto(
        suspended=True, include_jobs=True))
    definitions.set_job_priority_job_definition(job_definition.id, job_definition_priority_dto=JobDefinitionPriorityDto(priority=3))
    found = definitions.get_job_definition(job_definition.id)
    assert (found.suspended, found.overriding_job_priority) == (True, 3)
    assert jobs.get_job(job.id).suspended is True
    logs = HistoricJobLogApi(camunda).get_historic_job_logs(job_id=job.id)
    assert logs and logs[0].creation_log is True

    instances = ProcessInstanceApi(camunda)
    retries = instances.set_retries_by_process_historic_query_based(set_job_retries_by_process_dto=SetJobRetriesByProcessDto(
        retries=2, historic_process_instance_query=HistoricProcessInstanceQueryDto(process_definition_id=definition.id)))
    assert retries.type == "set-job-retries"
    modification = instances.modify_process_instance_async_operation(instance.id, process_instance_modification_dto=ProcessInstanceModificationDto(
        instructions=[ProcessInstanceModificationInstructionDto(type="cancel", activity_id="task")]))
    assert modification.type == "instance-modification"
    deletion = instances.delete_async_historic_query_based(delete_process_instances_dto=DeleteProcessInstancesDto(
        delete_reason="via client", historic_process_instance_query=HistoricProcessInstanceQueryDto(process_definition_id=definition.id)))
    assert deletion.type == "instance-deletion" and deletion.total_jobs == 1
