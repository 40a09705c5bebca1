"""Django admin: every model is registered and its pages render; batch actions work."""
import pytest
from django.apps import apps
from django.contrib import admin

from batches.models import Batch
from batches.operations import ENDPOINTS
from batches.services import batch_create
from engine.models import Job
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db


def test_every_engine_and_batch_model_is_in_the_admin():
    models = [m for app in ("engine", "batches") for m in apps.get_app_config(app).get_models()]
    assert models and all(admin.site.is_registered(m) for m in models)


def test_every_changelist_renders(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [start(definition).id]}, user=admin_user)
    for app in ("engine", "batches"):
        for model in apps.get_app_config(app).get_models():
            url = f"/admin/{app}/{model._meta.model_name}/"
            response = client.get(url)
            assert response.status_code == 200, url
            row = model.objects.first()
            if row is not None:
                assert client.get(f"{url}{row.pk}/change/").status_code == 200, url


def test_admin_actions_suspend_and_activate_batches(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    batch = batch_create(operation=ENDPOINTS["process-instance/delete"], payload={"processInstanceIds": [start(definition).id]}, user=admin_user)
    response = client.post("/admin/batches/batch/", {"action": "suspend", "_selected_action": [batch.id]}, follow=True)
    assert "Suspended 1 batch(es)." in response.content.decode()
    assert Batch.objects.get(id=batch.id).suspended
    assert Job.objects.get(job_definition_id=batch.seed_job_definition_id).suspended
    client.post("/admin/batches/batch/", {"action": "activate", "_selected_action": [batch.id]})
    assert not Batch.objects.get(id=batch.id).suspended


def test_anonymous_users_are_sent_to_the_admin_login(client):
    response = client.get("/admin/batches/batch/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
