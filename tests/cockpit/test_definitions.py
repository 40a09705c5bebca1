"""The process definition pages without a browser: login, tenants, counts, the activity filter, escaping."""
import json
import re
from html import unescape

import pytest

from engine.models import ProcessDefinition
from engine.services.modification import instance_modify
from tests.conftest import make_user
from tests.support.factories import deploy, run_jobs, start

pytestmark = pytest.mark.django_db


def failed_instance(definition):
    instance = start(definition, fail=True)
    instance_modify(instance_id=instance.id, instructions=[{"type": "startBeforeActivity", "activityId": "service"}])
    run_jobs()
    return instance


def activity_row(page: str, activity_id: str) -> tuple[str, str]:
    """(tokens, incidents) of the activity table row of activity_id."""
    row = re.search(rf'data-activity="{activity_id}".*?<td class="tokens">(\d+)</td>\s*<td class="incidents[^"]*">(\d+)</td>', page, re.DOTALL)
    assert row, f"no row for {activity_id}"
    return row.group(1), row.group(2)


def diagram_data(page: str) -> dict:
    raw = re.search(r'<script id="diagram-data" type="application/json">(.*?)</script>', page, re.DOTALL).group(1)
    return json.loads(raw)


def test_the_pages_require_login(client):
    definition = deploy()
    for url in ("/cockpit/process-definition", f"/cockpit/process-definition/{definition.id}"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_list_shows_versions_newest_first_with_counts(admin_user, client):
    client.force_login(admin_user)
    old, new = deploy(key="orders"), deploy(key="orders")
    start(old)
    start(new)
    failed_instance(new)
    page = client.get("/cockpit/process-definition").content.decode()
    assert page.index(new.id) < page.index(old.id)
    row = re.search(rf'{re.escape(new.id)}.*?</tr>', page, re.DOTALL).group(0)
    assert re.findall(r"<td[^>]*>(\d+)</td>", row) == ["2", "2", "1"]  # version, running, incidents


def test_an_operator_sees_only_their_tenants_definitions(client):
    operator = make_user("tina-tenant-a", tenants=("tenant-a",))
    client.force_login(operator)
    ours, theirs, shared = deploy(key="ours", tenant_id="tenant-a"), deploy(key="theirs", tenant_id="tenant-b"), deploy(key="shared")
    listing = client.get("/cockpit/process-definition").content.decode()
    assert ours.id in listing and shared.id in listing and theirs.id not in listing
    assert client.get(f"/cockpit/process-definition/{theirs.id}").status_code == 404
    assert client.get(f"/cockpit/process-definition/{ours.id}").status_code == 200


def test_an_unknown_definition_is_a_404(admin_user, client):
    client.force_login(admin_user)
    assert client.get("/cockpit/process-definition/nope:1:x").status_code == 404


def test_the_activity_table_and_the_diagram_data_count_tokens_and_incidents(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    for _ in range(3):
        start(definition)
    failed_instance(definition)
    page = client.get(f"/cockpit/process-definition/{definition.id}").content.decode()
    assert activity_row(page, "task") == ("4", "0")
    assert activity_row(page, "service") == ("1", "1")
    assert activity_row(page, "start") == ("0", "0")
    data = diagram_data(page)
    assert data["activities"]["service"] == {"tokens": 1, "incidents": 1}
    assert data["processKey"] == "proc" and data["selected"] is None
    assert "bpmndi:BPMNShape" in data["xml"]  # the generated diagram
    scripts = re.findall(r"<script\b[^>]*>", page)  # no inline code: files, or data that is never run
    assert scripts and all("src=" in tag or 'type="application/json"' in tag for tag in scripts)


def test_the_activity_filter_lists_instances_with_a_token_there_and_links_the_wizard(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    waiting = [start(definition, business_key=f"W-{i}") for i in range(2)]
    failed = failed_instance(definition)
    page = client.get(f"/cockpit/process-definition/{definition.id}?activity=service").content.decode()
    assert failed.id in page and all(w.id not in page for w in waiting)
    assert 'id="clear-filter"' in page and diagram_data(page)["selected"] == "service"
    wizard = unescape(re.search(r'id="batch-operation" href="([^"]+)"', page).group(1))
    assert wizard == f"/cockpit/batch/operation?key=proc&version={definition.id.replace(':', '%3A')}&activity=service"
    preselected = client.get(wizard + "&op=cancel").content.decode()  # once an operation is chosen, the wizard reads them
    assert f'value="{definition.id}" selected' in preselected and 'name="activity" type="text" value="service"' in preselected
    unfiltered = client.get(f"/cockpit/process-definition/{definition.id}").content.decode()
    assert all(i.id in unfiltered for i in [*waiting, failed]) and "clear-filter" not in unfiltered
    assert "&activity=" not in unescape(re.search(r'id="batch-operation" href="([^"]+)"', unfiltered).group(1))


def test_bad_input_never_fails_the_page(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    start(definition)
    url = f"/cockpit/process-definition/{definition.id}"
    assert "has no activity with id" in client.get(url, {"activity": "nowhere"}).content.decode()
    for page in ("0", "-3", "x", "999999999999999999999"):
        assert client.get(url, {"page": page}).status_code == 200
        assert client.get("/cockpit/process-definition", {"page": page}).status_code == 200


def test_paging_keeps_the_filter(admin_user, client, settings):
    client.force_login(admin_user)
    definition = deploy()
    for _ in range(51):
        start(definition)
    page = client.get(f"/cockpit/process-definition/{definition.id}?activity=task").content.decode()
    assert "page 1 of 2" in page and "?activity=task&amp;page=2" in page
    assert "page 2 of 2" in client.get(f"/cockpit/process-definition/{definition.id}?activity=task&page=9").content.decode()


def test_a_definition_name_is_escaped(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    ProcessDefinition.objects.filter(pk=definition.pk).update(name="<script>alert('x')</script>")
    for url in ("/cockpit/process-definition", f"/cockpit/process-definition/{definition.id}"):
        page = client.get(url).content.decode()
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page
