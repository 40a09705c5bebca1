"""The process instance page without a browser: login, tenants, every section, escaping, links."""
import re

import pytest

from batches.models import BatchItem
from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.models import ProcessInstance
from engine.services.modification import instance_modify
from engine.services.runtime import task_complete
from tests.conftest import make_user
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section class="panel" id="{section_id}">(.*?)</section>', page, re.DOTALL)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_the_page_requires_login(client):
    instance = start(deploy())
    response = client.get(f"/cockpit/process-instance/{instance.id}")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_running_instance_shows_tokens_variables_incidents_jobs_and_its_operation_log(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    instance = start(definition, business_key="<b>order-7</b>", amount=42, fail=True)
    task = instance.tokens.get()
    task_complete(task_id=task.id, user_id="alice-admin")
    for _ in range(3):
        run_jobs()  # the service task fails three times: an incident
    page = client.get(f"/cockpit/process-instance/{instance.id}").content.decode()
    assert "&lt;b&gt;order-7&lt;/b&gt;" in page and "<b>order-7</b>" not in page
    assert re.search(r'id="instance-state">active<', page)
    assert "service" in section(page, "tokens") and "Call it" in section(page, "tokens")
    variables = section(page, "variables")
    assert re.search(r"<code>amount</code></td><td>Integer</td><td class=\"value\"><code>42</code>", variables)
    assert "failedJob" in section(page, "incidents")
    jobs = section(page, "jobs")
    assert 'class="bad">0<' in jobs and "failed: process variable" in jobs
    assert "Complete" in section(page, "operations")
    assert f'href="/cockpit/process-definition/{definition.id}"' in page
    assert "No external tasks." in section(page, "external-tasks")


def test_an_ended_instance_shows_its_history_and_the_batches_that_acted_on_it(admin_user, client):
    client.force_login(admin_user)
    instance = start(deploy(), note="kept")
    batch = batch_create(
        operation=ENDPOINTS["process-instance/delete"],
        payload={"processInstanceIds": [instance.id], "deleteReason": "cleanup"},
        user=admin_user,
    )
    run_jobs()
    assert not ProcessInstance.objects.filter(id=instance.id).exists()
    assert BatchItem.objects.get(batch_id=batch.id).state == BatchItem.SUCCEEDED
    page = client.get(f"/cockpit/process-instance/{instance.id}").content.decode()
    assert re.search(r'id="instance-state">externally terminated<', page)
    assert "cleanup" in page and "The instance has ended." in section(page, "tokens")
    assert "<code>note</code>" in section(page, "variables")
    batches = section(page, "batches")
    assert f'href="/cockpit/batch/{batch.id}"' in batches and "SUCCEEDED" in batches and "instance-deletion" in batches
    history = section(page, "activity-history")
    assert "canceled" in history and "startEvent" in history


def test_moved_tokens_and_restarts_are_linked(admin_user, client):
    client.force_login(admin_user)
    instance = start(deploy())
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    page = client.get(f"/cockpit/process-instance/{instance.id}").content.decode()
    tokens = section(page, "tokens")
    assert "userTask" in tokens and "serviceTask" in tokens
    diagram = re.search(r'<script id="diagram-data" type="application/json">(.*?)</script>', page, re.DOTALL).group(1)
    assert '"task": {"tokens": 1' in diagram and '"service": {"tokens": 1' in diagram


def test_tenants_are_isolated_and_unknown_ids_are_404(client):
    operator = make_user("tina-tenant-a", tenants=("tenant-a",))
    client.force_login(operator)
    ours = start(deploy(key="ours", tenant_id="tenant-a"))
    theirs = start(deploy(key="theirs", tenant_id="tenant-b"))
    assert client.get(f"/cockpit/process-instance/{ours.id}").status_code == 200
    assert client.get(f"/cockpit/process-instance/{theirs.id}").status_code == 404
    assert client.get("/cockpit/process-instance/no-such-id").status_code == 404


def test_the_definition_page_and_the_wizard_link_to_instances(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    instance = start(definition)
    link = f'href="/cockpit/process-instance/{instance.id}"'
    assert link in client.get(f"/cockpit/process-definition/{definition.id}").content.decode()
    wizard = client.get("/cockpit/batch/operation?op=cancel&key=proc").content.decode()
    assert link in wizard


def test_failed_items_of_a_batch_link_to_their_instance(admin_user, client):
    client.force_login(admin_user)
    instance = start(deploy())
    batch = batch_create(
        operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [instance.id]}, user=admin_user
    )
    BatchItem.objects.filter(batch_id=batch.id).update(state=BatchItem.FAILED, detail="made to fail")
    page = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert f'<a href="/cockpit/process-instance/{instance.id}"><code>{instance.id}</code></a>' in page
