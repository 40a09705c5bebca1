"""The complete monitoring page: sorting, paging of failed jobs, history deletion, names, samples, live actions."""
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from batches.models import Batch, BatchProgressSample, HistoricBatch
from batches.operations import ENDPOINTS
from batches.services import batch_create, batch_set_suspended
from cockpit.views import monitoring
from engine.models import UserOperationLogEntry
from engine.services.lifecycle import instances_set_suspended
from tests.conftest import make_user
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def ended_batch(user, instances: int = 1, *, definition=None):
    definition = definition or deploy()
    batch = batch_create(
        operation=ENDPOINTS["process-instance/delete"],
        payload={"processInstanceIds": [start(definition).id for _ in range(instances)]},
        user=user,
    )
    run_jobs()
    assert HistoricBatch.objects.get(id=batch.id).end_time is not None
    return batch


def failing_batch(user, stuck: int = 1):
    """A running batch whose jobs fail: its instances are suspended, so the modification cannot apply."""
    definition = deploy()
    instances = [start(definition) for _ in range(stuck)]
    instances_set_suspended(instance_ids=[i.id for i in instances], suspended=True)
    batch = batch_create(
        operation=ENDPOINTS["modification/executeAsync"],
        payload={"processDefinitionId": definition.id, "processInstanceIds": [i.id for i in instances],
                 "instructions": [{"type": "cancel", "activityId": "task"}]},
        user=user,
    )
    run_jobs()
    return batch


def ended_ids(page: str) -> list[str]:
    section = page[page.index('id="ended"'):]
    return re.findall(r'<tr data-batch-id="([^"]+)"', section)


def test_ended_batches_sort_by_id_user_and_progress(admin_user, client):
    bob = make_user("bob", perms=True)
    client.force_login(admin_user)
    first, second = ended_batch(admin_user), ended_batch(bob)
    third = ended_batch(admin_user)
    HistoricBatch.objects.filter(id=third.id).update(items_succeeded=0, items_pending=1)  # a canceled one, say
    ids = sorted([first.id, second.id, third.id])
    assert ended_ids(client.get("/cockpit/batch?ended_sort=id").content.decode()) == ids
    assert ended_ids(client.get("/cockpit/batch?ended_sort=-id").content.decode()) == ids[::-1]
    by_user = ended_ids(client.get("/cockpit/batch?ended_sort=-user").content.decode())
    assert by_user[0] == second.id  # "bob" after "alice-admin"
    assert ended_ids(client.get("/cockpit/batch?ended_sort=progress").content.decode())[0] == third.id
    assert ended_ids(client.get("/cockpit/batch?ended_sort=-progress").content.decode())[-1] == third.id


def test_running_batches_sort_by_progress_and_links_keep_filters(admin_user, client, batch_sizes):
    batch_sizes(per_seed=10, invocations=1)
    client.force_login(admin_user)
    slow, fast = failing_batch(admin_user, stuck=2), failing_batch(admin_user, stuck=2)
    HistoricBatch.objects.filter(id=fast.id).update(items_failed=0, items_succeeded=2, items_pending=0)
    HistoricBatch.objects.filter(id=slow.id).update(items_failed=1, items_pending=1)
    page = client.get("/cockpit/batch?sort=-progress&failures=with").content.decode()
    running = page[page.index('id="running"'):page.index('id="ended"')]
    assert re.findall(r'<tr class="[^"]*" data-batch-id="([^"]+)"', running) == [fast.id, slow.id]
    # the clicked column flips; filters and the other table's order stay; the page resets
    assert 'href="?sort=progress&amp;failures=with"' in running
    assert 'aria-sort="descending"' in running
    page = client.get("/cockpit/batch?sort=type&ended_sort=-end&page=2").content.decode()
    assert "ended_sort=-end" in re.search(r'href="([^"]*)" data-sort="user"', page).group(1)
    assert '<input type="hidden" name="sort" value="type">' in page  # kept by the filter form


def test_an_unknown_sort_column_is_a_400_naming_the_field(admin_user, client):
    client.force_login(admin_user)
    response = client.get("/cockpit/batch?ended_sort=secret")
    assert response.status_code == 400 and b"ended_sort" in response.content
    assert client.get("/cockpit/batch?sort=end").status_code == 400  # running batches have no end
    assert client.get("/cockpit/batch?sort=-start").status_code == 200


def test_failed_jobs_and_items_are_paged(admin_user, client, batch_sizes, monkeypatch):
    batch_sizes(per_seed=10, invocations=1)
    monkeypatch.setattr(monitoring, "DETAIL_PAGE_SIZE", 2)
    client.force_login(admin_user)
    batch = failing_batch(admin_user, stuck=3)
    page = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert 'id="failed-job-count">(3)<' in page
    assert page.count('class="failed-job"') == 2 and "page 1 of 2" in page
    second = client.get(f"/cockpit/batch/{batch.id}?jobs_page=2").content.decode()
    assert second.count('class="failed-job"') == 1 and 'rel="prev"' in second
    shown = set(re.findall(r'<article class="failed-job">\s*<p><code>([^<]+)</code>', page + second))
    assert len(shown) == 3
    # the live refresh asks for the same page
    assert f'hx-get="/cockpit/batch/{batch.id}?jobs_page=2"' in second
    items = client.get(f"/cockpit/batch/{batch.id}?items_page=2").content.decode()
    assert 'id="failed-items-pager"' in items and "page 2 of 2" in items
    assert client.get(f"/cockpit/batch/{batch.id}?jobs_page=99").status_code == 200


def test_deleting_an_ended_batchs_history_asks_then_deletes(admin_user, client):
    client.force_login(admin_user)
    batch = ended_batch(admin_user)
    assert BatchProgressSample.objects.filter(batch_id=batch.id).exists()
    details = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert 'id="delete-history"' in details
    confirm = client.get(f"/cockpit/batch/{batch.id}/history/delete")
    assert confirm.status_code == 200 and b"Delete history" in confirm.content and b"csrfmiddlewaretoken" in confirm.content
    assert HistoricBatch.objects.filter(id=batch.id).exists()
    response = client.post(f"/cockpit/batch/{batch.id}/history/delete", follow=True)
    assert response.redirect_chain[-1][0] == "/cockpit/batch"
    assert f"The history of batch {batch.id} is deleted." in response.content.decode()
    assert not HistoricBatch.objects.filter(id=batch.id).exists()
    assert not BatchProgressSample.objects.filter(batch_id=batch.id).exists()
    entry = UserOperationLogEntry.objects.get(operation_type="DeleteHistory", batch_id=batch.id)
    assert entry.user_id == admin_user.username
    assert client.get(f"/cockpit/batch/{batch.id}/history/delete").status_code == 404


def test_history_deletion_needs_permission_csrf_an_ended_batch_and_visibility(admin_user, operator, viewer, client):
    batch = ended_batch(admin_user)
    client.force_login(viewer)
    assert client.post(f"/cockpit/batch/{batch.id}/history/delete").status_code == 403
    assert 'id="delete-history"' not in client.get(f"/cockpit/batch/{batch.id}").content.decode()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(f"/cockpit/batch/{batch.id}/history/delete").status_code == 403
    running = failing_batch(admin_user)
    client.force_login(admin_user)
    response = client.post(f"/cockpit/batch/{running.id}/history/delete", follow=True)
    assert "still running" in response.content.decode() and HistoricBatch.objects.filter(id=running.id).exists()
    foreign = ended_batch(admin_user, definition=deploy(key="claims", tenant_id="tenant-b"))
    client.force_login(operator)
    assert client.post(f"/cockpit/batch/{foreign.id}/history/delete").status_code == 404
    assert HistoricBatch.objects.filter(id=foreign.id).exists()


def test_the_users_full_name_is_shown_on_list_and_details(client, admin_user):
    ada = make_user("ada", perms=True)
    ada.first_name, ada.last_name = "Ada", "Lovelace"
    ada.save()
    named, plain = ended_batch(ada), ended_batch(admin_user)
    client.force_login(admin_user)
    page = client.get("/cockpit/batch").content.decode()
    assert '<td title="ada">Ada Lovelace</td>' in page
    assert '<td title="alice-admin">alice-admin</td>' in page
    details = client.get(f"/cockpit/batch/{named.id}").content.decode()
    assert 'id="create-user">Ada Lovelace <span class="muted">(ada)</span>' in details
    assert 'id="create-user">alice-admin</dd>' in client.get(f"/cockpit/batch/{plain.id}").content.decode()


def test_the_samples_endpoint_returns_the_series(admin_user, client):
    batch = ended_batch(admin_user, instances=3)
    historic = HistoricBatch.objects.get(id=batch.id)
    BatchProgressSample.objects.filter(batch=historic).delete()
    t0 = timezone.now() - timedelta(seconds=5)
    for seconds, done in ((0, 0), (2, 2), (3, 3)):
        BatchProgressSample.objects.create(batch=historic, at=t0 + timedelta(seconds=seconds), done=done, remaining=3 - done)
    assert client.get(f"/cockpit/batch/{batch.id}/progress.json").status_code == 302  # to the login
    client.force_login(admin_user)
    body = client.get(f"/cockpit/batch/{batch.id}/progress.json").json()
    assert body["running"] is False and body["totalItems"] == 3 and body["id"] == batch.id
    assert [(s["done"], s["remaining"], s["rate"]) for s in body["samples"]] == [(0, 3, None), (2, 1, 1.0), (3, 0, 1.0)]
    assert client.get("/cockpit/batch/nope/progress.json").status_code == 404


def test_the_samples_endpoint_is_tenant_filtered(admin_user, operator, client):
    foreign = ended_batch(admin_user, definition=deploy(key="claims", tenant_id="tenant-b"))
    own = ended_batch(admin_user, definition=deploy(key="mine", tenant_id="tenant-a"))
    client.force_login(operator)
    assert client.get(f"/cockpit/batch/{foreign.id}/progress.json").status_code == 404
    assert client.get(f"/cockpit/batch/{own.id}/progress.json").status_code == 200


def test_the_list_shows_item_progress_a_sparkline_and_states_in_words(admin_user, client, batch_sizes):
    batch_sizes(per_seed=10, invocations=1)
    client.force_login(admin_user)
    running = failing_batch(admin_user, stuck=2)
    historic = HistoricBatch.objects.get(id=running.id)
    BatchProgressSample.objects.filter(batch=historic).delete()
    now = timezone.now()
    BatchProgressSample.objects.create(batch=historic, at=now - timedelta(seconds=4), done=0, remaining=2)
    BatchProgressSample.objects.create(batch=historic, at=now - timedelta(seconds=2), done=2, remaining=0)
    ended = ended_batch(admin_user)
    HistoricBatch.objects.filter(id=ended.id).update(final_state="completed_with_failures")
    page = client.get("/cockpit/batch").content.decode()
    assert "2/2 items" in page and "100% · 1 ok / 0 skipped / 0 failed of 1 items" in page
    assert re.search(r'class="sparkline" data-points="\{&quot;t&quot;: \[[0-9.]+\], &quot;rate&quot;: \[1.0\]\}"', page)
    assert ">completed with failures</span>" in page and ">completed_with_failures<" not in page


def test_actions_follow_the_live_state(admin_user, client, batch_sizes):
    batch_sizes(per_seed=10, invocations=1)
    client.force_login(admin_user)
    batch = failing_batch(admin_user)
    live = client.get(f"/cockpit/batch/{batch.id}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="detail-live").content.decode()
    assert live.lstrip().startswith('<div id="detail-live"')
    assert 'id="suspend"' in live and 'id="retry-all"' in live and 'id="delete-batch"' in live
    batch_set_suspended(batch=Batch.objects.get(id=batch.id), suspended=True, user_id="someone-else")
    live = client.get(f"/cockpit/batch/{batch.id}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="detail-live").content.decode()
    assert 'id="activate"' in live and 'id="suspend"' not in live
    assert '<span id="eta">suspended</span>' in live and "s left" not in live
    done = ended_batch(admin_user)
    page = client.get(f"/cockpit/batch/{done.id}").content.decode()
    for button in ("suspend", "activate", "retry-all", "delete-batch"):
        assert f'id="{button}"' not in page
    assert 'id="final-state">completed<' in page
