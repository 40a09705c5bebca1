"""The job log of a failed batch job in Cockpit ("Show full log for this job")."""
import pytest
from django.contrib.auth.models import Permission

from engine.models import HistoricJobLog, Job
from tests.cockpit.test_monitoring import failing_batch
from tests.conftest import make_user
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def test_the_failed_jobs_full_log_is_one_click_from_the_batch(admin_user, client):
    client.force_login(admin_user)
    batch, stuck = failing_batch(admin_user)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    log_url = f"/cockpit/batch/{batch.id}/jobs/{job.id}/log"
    assert log_url in client.get(f"/cockpit/batch/{batch.id}").content.decode()
    page = client.get(log_url).content.decode()
    assert page.count('class="job-log-creation"') == 1 and page.count('class="job-log-failure"') == 3
    assert "is suspended and cannot be modified" in page and "Full stack trace" in page
    assert "batches.execution.ItemFailed: Process instance" in page  # a failed item is reported, not raised
    assert "3 retries left" not in page and "0 retries left" in page
    assert f"/engine-rest/history/job-log?jobId={job.id}" in page


def test_the_log_shows_success_and_deletion_after_the_job_is_gone(admin_user, client):
    from engine.services.job_actions import job_delete

    client.force_login(admin_user)
    batch, _ = failing_batch(admin_user)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    job_delete(job=job, user_id="admin")
    page = client.get(f"/cockpit/batch/{batch.id}/jobs/{job.id}/log").content.decode()
    assert "the job no longer exists" in page and 'class="job-log-deletion"' in page
    # A seed job's log (it succeeded) is reachable the same way.
    seed = HistoricJobLog.objects.filter(job_definition_id=batch.seed_job_definition_id, success_log=True).first()
    assert 'class="job-log-success"' in client.get(f"/cockpit/batch/{batch.id}/jobs/{seed.job_id}/log").content.decode()


def test_exception_text_is_escaped(admin_user, client):
    client.force_login(admin_user)
    batch, _ = failing_batch(admin_user)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    HistoricJobLog.objects.filter(job_id=job.id, failure_log=True).update(
        job_exception_message="<script>alert('m')</script>", exception_stacktrace="<img src=x onerror=alert(1)>",
    )
    page = client.get(f"/cockpit/batch/{batch.id}/jobs/{job.id}/log").content.decode()
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_login_permission_tenant_and_unknown_jobs(admin_user, client):
    batch, _ = failing_batch(admin_user)
    job = Job.objects.get(job_definition_id=batch.batch_job_definition_id)
    url = f"/cockpit/batch/{batch.id}/jobs/{job.id}/log"
    assert client.get(url).status_code == 302  # to the login page
    no_perm = make_user("no-perm")
    client.force_login(no_perm)
    assert client.get(url).status_code == 403
    no_perm.user_permissions.add(Permission.objects.get(codename="view_historicjoblog"))
    assert client.get(url).status_code == 200  # a tenant-less batch is shared
    # A batch of another tenant is not found for a user outside it.
    foreign_definition = deploy(key="foreign", tenant_id="tenant-b")
    from batches.operations import ENDPOINTS
    from batches.services import batch_create

    foreign = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [start(foreign_definition).id]}, user=admin_user)
    run_jobs()
    seed = HistoricJobLog.objects.filter(job_definition_id=foreign.seed_job_definition_id).first()
    operator = make_user("op-a", perms=True, tenants=("tenant-a",))
    client.force_login(operator)
    assert client.get(f"/cockpit/batch/{foreign.id}/jobs/{seed.job_id}/log").status_code == 404
    assert client.get(url).status_code == 200
    # A job of another batch (or none) is not this batch's: 404.
    assert client.get(f"/cockpit/batch/{batch.id}/jobs/{seed.job_id}/log").status_code == 404
    assert client.get(f"/cockpit/batch/{batch.id}/jobs/nope/log").status_code == 404
