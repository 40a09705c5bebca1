"""Migration and restart batches on real qcluster workers: mixed instances, failures with reasons."""
import pytest

from batches.models import BatchItem
from engine.models import ActivityInstance, HistoricProcessInstance, Incident, Job, ProcessInstance
from engine.services.runtime import task_complete
from engine.services.variables import variables_of
from tests.batches.test_cluster import create_via_rest, finished
from tests.batches.test_migration import V1, V2, instruction
from tests.batches.test_restart import finished as ended_instance
from tests.support.cluster import wait_for
from tests.support.factories import deploy, start, tokens

pytestmark = pytest.mark.cluster


def complete(instance, activity_id: str) -> None:
    task_complete(task_id=ActivityInstance.objects.get(process_instance=instance, activity_id=activity_id).id)


def test_a_migration_batch_moves_every_kind_of_token_and_fails_the_unmapped(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    v1, v2 = deploy(V1, key="mig"), deploy(V2, key="mig")
    cluster(workers=2)
    parallel = start(v1)  # tokens in "task" and "check"
    joined = start(v1)
    complete(joined, "task")  # a token waits in the join, one in "check"
    failing = start(v1, fail=True)
    complete(failing, "task")
    complete(failing, "check")  # its service job fails on the workers until retries are exhausted
    job = wait_for(lambda: Job.objects.filter(process_instance=failing, retries=0).first(), timeout=60, message="the job to fail")
    assert Incident.objects.filter(process_instance=failing).exists()
    foreign = start(deploy(V1, key="mig"))  # a third version: not an instance of the plan's source
    plan = {
        "sourceProcessDefinitionId": v1.id, "targetProcessDefinitionId": v2.id,
        "instructions": [instruction("task"), instruction("check", "review"), instruction("join"), instruction("service")],
        "variables": {"migratedBy": {"value": "batch", "type": "String"}},
    }
    batch = create_via_rest(admin_user, "migration/executeAsync", {
        "migrationPlan": plan, "processInstanceIds": [parallel.id, joined.id, failing.id, foreign.id],
    })
    job_row = wait_for(
        lambda: Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"], retries=0).first(),
        timeout=60, message="the execution job holding the foreign instance to run out of retries",
    )
    assert "does not match the source process definition" in job_row.exception_message
    items = {i.target_id: i for i in BatchItem.objects.filter(batch_id=batch["id"])}
    assert {items[i.id].state for i in (parallel, joined, failing)} == {"SUCCEEDED"}
    assert items[foreign.id].state == "FAILED"
    assert tokens(parallel) == ["review", "task"] and tokens(joined) == ["join", "review"]
    job.refresh_from_db()
    assert (job.retries, job.process_definition_id) == (0, v2.id)
    assert Incident.objects.get(process_instance=failing).process_definition_id == v2.id
    assert variables_of(parallel.id)["migratedBy"]["value"] == "batch"
    # The migrated instances run on in the new version on the same workers.
    complete(joined, "review")
    wait_for(lambda: tokens(joined) == ["archive"], timeout=30, message="the migrated instance to pass the service task")
    assert ProcessInstance.objects.get(id=foreign.id).process_definition.version == 3


def test_a_restart_batch_from_the_start_event_and_from_an_activity(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    definition = deploy()
    cluster(workers=2)
    olds = [ended_instance(definition, business_key=f"r-{n}", amount=n) for n in range(3)]
    batch = create_via_rest(admin_user, f"process-definition/{definition.id}/restart-async", {
        "processInstanceIds": olds,
        "instructions": [{"type": "startBeforeActivity", "activityId": "start"}],
        "initialVariables": True,
    })
    historic = finished(batch["id"])
    assert (historic.final_state, historic.items_succeeded) == ("completed", 3)
    news = HistoricProcessInstance.objects.filter(restarted_process_instance_id__in=olds)
    assert sorted(n.business_key for n in news) == ["r-0", "r-1", "r-2"]
    for new in news:
        assert variables_of(new.id)["amount"]["value"] == int(new.business_key[-1])  # the initial value, not 99
        assert tokens(ProcessInstance.objects.get(id=new.id)) == ["task"]
    second = create_via_rest(admin_user, f"process-definition/{definition.id}/restart-async", {
        "processInstanceIds": olds[:1], "instructions": [{"type": "startBeforeActivity", "activityId": "service"}],
        "withoutBusinessKey": True,
    })
    assert finished(second["id"]).final_state == "completed"
    again = HistoricProcessInstance.objects.filter(restarted_process_instance_id=olds[0]).exclude(id__in=[n.id for n in news]).get()
    assert again.business_key is None
    # Its service task ran on the workers and the instance completed with the last variables.
    wait_for(lambda: HistoricProcessInstance.objects.get(id=again.id).state == "COMPLETED", timeout=30, message="completion")


def test_an_unmapped_active_activity_fails_its_item_on_real_workers(cluster, admin_user, batch_sizes):
    batch_sizes(per_seed=2, invocations=2)
    v1, v2 = deploy(V1, key="mig"), deploy(V2, key="mig")
    cluster(workers=2)
    mapped = start(v1)
    complete(mapped, "check")  # tokens in "task" and the join: both mapped below
    unmapped = start(v1)  # a token in "check", which the plan leaves out
    plan = {"sourceProcessDefinitionId": v1.id, "targetProcessDefinitionId": v2.id,
            "instructions": [instruction("task"), instruction("join")]}
    batch = create_via_rest(admin_user, "migration/executeAsync", {"migrationPlan": plan, "processInstanceIds": [mapped.id, unmapped.id]})
    job = wait_for(
        lambda: Job.objects.filter(job_definition_id=batch["batchJobDefinitionId"], retries=0).first(),
        timeout=60, message="the execution job to run out of retries",
    )
    assert "There is no migration instruction for this instance's activity" in job.exception_message
    items = {i.target_id: i for i in BatchItem.objects.filter(batch_id=batch["id"])}
    assert items[mapped.id].state == "SUCCEEDED" and items[unmapped.id].state == "FAILED"
    assert f"Cannot migrate process instance '{unmapped.id}'" in items[unmapped.id].detail
    assert ProcessInstance.objects.get(id=unmapped.id).process_definition_id == v1.id
    assert tokens(mapped) == ["join", "task"] and ProcessInstance.objects.get(id=mapped.id).process_definition_id == v2.id
