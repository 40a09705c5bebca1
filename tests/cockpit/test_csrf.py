"""CSRF is enforced on every state-changing Cockpit form."""
import pytest
from django.test import Client

from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.models import Job
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db


def test_every_cockpit_post_without_a_csrf_token_is_refused(admin_user):
    batch = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [start(deploy()).id]}, user=admin_user)
    job = Job.objects.get(job_definition_id=batch.seed_job_definition_id)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    for url, data in [
        ("/cockpit/batch/operation/execute", {"op": "cancel", "token": "t", "payload": "{}"}),
        (f"/cockpit/batch/{batch.id}/suspend", {"suspended": "true"}),
        (f"/cockpit/batch/{batch.id}/retry", {}),
        (f"/cockpit/batch/{batch.id}/delete", {"cascade": "true"}),
        (f"/cockpit/batch/{batch.id}/jobs/{job.id}/delete", {}),
        ("/accounts/logout/", {}),
        ("/admin/batches/batch/", {"action": "suspend", "_selected_action": [batch.id]}),
    ]:
        assert client.post(url, data).status_code == 403, url
    batch.refresh_from_db()
    assert not batch.suspended and Job.objects.filter(id=job.id).exists()


def test_session_and_csrf_cookies_are_secure_and_httponly_in_production():
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cockpit.settings", "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 60}
    env.pop("DJANGO_SECURE_COOKIES", None)
    code = "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE)"
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True)
    assert result.stdout.split()[-3:] == ["True", "True", "True"], result.stderr
