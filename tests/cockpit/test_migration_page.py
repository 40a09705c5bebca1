"""The migration page and the wizard's migrate and restart operations, without a browser."""
import json
import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth.models import Permission

from batches.models import Batch, BatchItem
from batches.operations.instance_migration import UNMAPPED_FAILS
from batches.operations.instance_restart import InstanceRestart
from cockpit.migration import NOTHING_MAPPED, OTHER_PROCESS, PLAN_INVALID, UNKNOWN_VERSION
from cockpit.models import WizardSubmission
from engine.models import HistoricProcessInstance, ProcessInstance
from engine.services.migration import INCOMPATIBLE, TARGET_MISSING
from engine.services.modification import instance_modify
from engine.services.runtime import task_complete
from tests.batches.test_migration import V1, V2
from tests.conftest import make_user
from tests.support.factories import deploy, start, tokens

pytestmark = pytest.mark.django_db
PAGE = "/cockpit/migration"


@pytest.fixture
def versions():
    return deploy(V1, key="mig"), deploy(V2, key="mig")


def past_check(definition):
    """An instance whose "check" branch is done: its one token waits in "task" (mapped in both versions)."""
    instance = start(definition)
    task_complete(task_id=instance.tokens.get(activity_id="check").id)
    return instance


def rows_of(page: str) -> list[tuple[str, str]]:
    """(source, target) of each filled mapping row, as the selects show them."""
    found = []
    for row in re.findall(r'<tr class="mapping-row[^"]*">(.*?)</tr>', page, re.DOTALL):
        chosen = re.findall(r'<option value="([^"]*)"[^>]*selected', row)
        if chosen:
            found.append(tuple(chosen))
    return found


def text_of(response) -> str:
    """The page's text: tags dropped, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", response.content.decode()))


def mapping_query(v1, v2, rows, **extra) -> str:
    pairs = [("source", v1.id), ("target", v2.id), ("mapping", f"{v1.id}>{v2.id}")]
    for source, target in rows:
        pairs += [("map_source", source), ("map_target", target)]
    return urlencode(pairs + list(extra.items()))


def test_the_page_needs_login_and_the_migration_permission(client, versions):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    user = make_user("no-migration", perms=False)
    user.user_permissions.add(Permission.objects.get(codename="create_instance_deletion"))
    client.force_login(user)
    assert client.get(PAGE).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="create_instance_migration"))
    assert client.get(PAGE).status_code == 200


def test_the_generated_mapping_shows_with_both_diagrams(admin_user, client, versions):
    v1, v2 = versions
    client.force_login(admin_user)
    page = client.get(f"{PAGE}?source={v1.id}&target={v2.id}").content.decode()
    assert rows_of(page) == [("fork", "fork"), ("join", "join"), ("service", "service"), ("task", "task")]
    data = json.loads(re.search(r'<script id="migration-data" type="application/json">(.*?)</script>', page, re.DOTALL).group(1))
    assert data["sourceProcessDefinitionId"] == v1.id and data["targetProcessDefinitionId"] == v2.id
    assert "<bpmndi:BPMNDiagram" in data["source"]["xml"] or "BPMNDiagram" in data["source"]["xml"]
    assert 'id="unmapped"' in page and "<code>check</code>" in page  # renamed in v2: not mapped
    assert "<script>" not in page.split('id="migration-data"')[0].split("<main>")[1]  # no inline script


def test_an_edited_row_is_validated_and_its_failures_shown_next_to_it(admin_user, client, versions):
    v1, v2 = versions
    client.force_login(admin_user)
    query = mapping_query(v1, v2, [("task", "task"), ("check", "service"), ("join", "nowhere")], action="validate")
    page = unescape(client.get(f"{PAGE}?{query}").content.decode())
    assert PLAN_INVALID in page
    rows = re.findall(r'<tr class="mapping-row( invalid)?">(.*?)</tr>', page, re.DOTALL)
    failures = [re.findall(r'<span class="field-error">(.*?)</span>', body) for _, body in rows]
    assert failures[0] == []
    assert failures[1] == [INCOMPATIBLE.format(source="UserTaskActivityBehavior", target="ClassDelegateActivityBehavior")]
    assert failures[2] == [TARGET_MISSING.format(id="nowhere")]
    # "Next" with an invalid plan stays on the page with the message.
    response = client.get(f"{PAGE}?{mapping_query(v1, v2, [('check', 'service')], action='next')}")
    assert response.status_code == 200 and PLAN_INVALID in response.content.decode()
    nothing = client.get(f"{PAGE}?{mapping_query(v1, v2, [], action='next')}")
    assert NOTHING_MAPPED in nothing.content.decode()


def test_next_hands_the_edited_plan_to_the_wizard_and_confirm_shows_the_exact_payload(admin_user, client, versions):
    v1, v2 = versions
    client.force_login(admin_user)
    ids = [past_check(v1).id for _ in range(2)]
    rows = [("task", "task"), ("check", "review"), ("join", "join"), ("service", "service")]
    response = client.get(f"{PAGE}?{mapping_query(v1, v2, rows, action='next')}")
    assert response.status_code == 302
    step1 = response["Location"]
    assert parse_qs(urlsplit(step1).query)["op"] == ["migrate"]
    page = client.get(step1)
    assert page.context["draft"].valid and page.context["draft"].count == 2
    confirm = client.get(step1.replace("/cockpit/batch/operation?", "/cockpit/batch/operation/confirm?"))
    text = text_of(confirm)
    assert "You are about to migrate 2 instances." in text
    assert "POST /engine-rest/migration/execute" in text  # 2 ≤ MIGRATION_SYNC_THRESHOLD: at once
    assert json.loads(confirm.context["payload_json"]) == {
        "processInstanceQuery": {"processDefinitionKey": "mig", "processDefinitionId": v1.id},
        "migrationPlan": {
            "sourceProcessDefinitionId": v1.id,
            "targetProcessDefinitionId": v2.id,
            "instructions": [
                {"sourceActivityIds": [s], "targetActivityIds": [t], "updateEventTrigger": False} for s, t in rows
            ],
            "variables": None,
        },
        "skipCustomListeners": False,
        "skipIoMappings": False,
    }
    result = client.post("/cockpit/batch/operation/execute", {"token": confirm.context["token"]}, follow=True)
    assert "2 instances were changed at once" in text_of(result)
    assert set(ProcessInstance.objects.filter(id__in=ids).values_list("process_definition_id", flat=True)) == {v2.id}
    assert not Batch.objects.exists() and WizardSubmission.objects.get().instances == 2


def test_above_the_threshold_execute_creates_a_migration_batch(admin_user, client, versions, settings):
    settings.MIGRATION_SYNC_THRESHOLD = 1
    v1, v2 = versions
    client.force_login(admin_user)
    ids = [past_check(v1).id for _ in range(2)]
    stuck = start(v1)  # a token in "check", which the generated plan does not map: its item will fail
    step1 = client.get(f"{PAGE}?source={v1.id}&target={v2.id}&action=next")["Location"]
    confirm = client.get(step1.replace("/cockpit/batch/operation?", "/cockpit/batch/operation/confirm?"))
    text = text_of(confirm)
    assert f"You are about to migrate 3 instances; 1 {UNMAPPED_FAILS[0]}." in text
    assert "POST /engine-rest/migration/executeAsync" in text
    result = client.post("/cockpit/batch/operation/execute", {"token": confirm.context["token"]}, follow=True)
    batch = Batch.objects.get()
    assert batch.type == "instance-migration" and f'href="/cockpit/batch/{batch.id}"' in result.content.decode()
    assert set(BatchItem.objects.values_list("target_id", flat=True)) == {*ids, stuck.id}


def test_a_failing_synchronous_migration_changes_nothing_and_says_why(admin_user, client, versions):
    v1, v2 = versions
    client.force_login(admin_user)
    moving, stuck = past_check(v1), start(v1)
    step1 = client.get(f"{PAGE}?source={v1.id}&target={v2.id}&action=next")["Location"]
    confirm = client.get(step1.replace("/cockpit/batch/operation?", "/cockpit/batch/operation/confirm?"))
    assert "none is changed" in confirm.content.decode()
    result = client.post("/cockpit/batch/operation/execute", {"token": confirm.context["token"]}, follow=True)
    page = unescape(result.content.decode())
    assert "Nothing was changed" in page and "ENGINE-23004" in page and stuck.id in page
    assert ProcessInstance.objects.get(id=moving.id).process_definition_id == v1.id


def test_another_tenants_versions_are_neither_listed_nor_usable(client):
    ours = deploy(V1, key="mig", tenant_id="tenant-a"), deploy(V2, key="mig", tenant_id="tenant-a")
    theirs = deploy(V1, key="mig", tenant_id="tenant-b"), deploy(V2, key="mig", tenant_id="tenant-b")
    user = make_user("tina", perms=True, tenants=("tenant-a",))
    client.force_login(user)
    page = client.get(PAGE).content.decode()
    assert ours[0].id in page and theirs[0].id not in page
    response = client.get(f"{PAGE}?source={theirs[0].id}&target={theirs[1].id}")
    assert response.status_code == 200 and UNKNOWN_VERSION in unescape(response.content.decode())
    mixed = client.get(f"{PAGE}?source={ours[0].id}&target={theirs[1].id}&action=next")
    assert mixed.status_code == 200 and UNKNOWN_VERSION in unescape(mixed.content.decode())


def test_bad_input_is_a_message_never_a_500(admin_user, client, versions):
    v1, v2 = versions
    other = deploy(key="other")
    client.force_login(admin_user)
    for query in [
        "source=nope", f"source={v1.id}&target=nope&action=validate", f"source={v1.id}&target={v1.id}&action=next",
        f"source={v1.id}&target={other.id}", mapping_query(v1, v2, [("<b>x</b>", "task")], action="next"),
        f"source={v1.id}&target={v2.id}&mapping=junk&map_source=task", "source=&target=&action=next&back=%00",
    ]:
        response = client.get(f"{PAGE}?{query}")
        assert response.status_code == 200, query
        assert "<b>x</b>" not in response.content.decode()
    page = unescape(client.get(f"{PAGE}?source={v1.id}&target={other.id}").content.decode())
    assert OTHER_PROCESS in page


def test_the_wizard_migrates_with_the_generated_plan_and_links_the_page(admin_user, client, versions):
    v1, v2 = versions
    client.force_login(admin_user)
    past_check(v1)
    params = {"op": "migrate", "version": v1.id, "target": v2.id}
    response = client.get(f"/cockpit/batch/operation?{urlencode(params)}")
    draft = response.context["draft"]
    assert draft.valid and draft.payload["migrationPlan"]["targetProcessDefinitionId"] == v2.id
    page = unescape(response.content.decode())
    assert 'id="edit-mapping"' in page and "/cockpit/migration?source=" in page
    missing = client.get("/cockpit/batch/operation?op=migrate").context["draft"]
    assert missing.errors["version"] == "Choose the process definition version to migrate from."


def finished(definition, **variables):
    instance = start(definition, **variables)
    instance_modify(instance_id=instance.id, instructions=[{"type": "cancel", "activityId": "task"}])
    return instance


def test_restart_in_the_wizard_sends_the_definition_in_the_path(admin_user, client):
    definition = deploy(key="again")
    done = [finished(definition) for _ in range(2)]
    start(definition)  # running: not offered
    client.force_login(admin_user)
    params = {"op": "restart", "version": definition.id, "ins_type": "startBeforeActivity", "ins_id": "task",
              "withoutBusinessKey": "on", "select": "ids", "id": [done[0].id]}
    step1 = client.get(f"/cockpit/batch/operation?{urlencode(params, doseq=True)}")
    assert step1.context["draft"].valid and step1.context["match_count"] == 2
    confirm = client.get(f"/cockpit/batch/operation/confirm?{urlencode(params, doseq=True)}")
    text = unescape(confirm.content.decode())
    assert f"POST /engine-rest/process-definition/{definition.id}/restart-async" in text
    assert json.loads(confirm.context["payload_json"]) == {
        "processInstanceIds": [done[0].id],
        "instructions": [{"type": "startBeforeActivity", "activityId": "task"}],
        "initialVariables": False,
        "withoutBusinessKey": True,
        "skipCustomListeners": False,
        "skipIoMappings": False,
    }
    client.post("/cockpit/batch/operation/execute", {"token": confirm.context["token"]})
    batch = Batch.objects.get()
    assert batch.type == "instance-restart" and batch.configuration["processDefinitionId"] == definition.id
    assert batch.invocations_per_batch_job == InstanceRestart.invocations_per_job  # the operation's own size


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"op": "restart"}, "version", "Choose the process definition version to restart."),
        ({"op": "restart", "version": "VERSION"}, "instructions", "Add at least one start instruction"),
        ({"op": "restart", "version": "VERSION", "ins_type": "cancel", "ins_id": "task"}, "instructions", "instructions[0].type must be one of"),
        ({"op": "migrate", "version": "VERSION"}, "migrationPlan", "Choose the version to migrate to."),
        ({"op": "migrate", "version": "VERSION", "target": "VERSION"}, "migrationPlan", "Choose another version than the source."),
    ],
)
def test_restart_and_migration_errors_show_next_to_their_field(admin_user, params, field, message):
    from tests.cockpit.test_wizard import draft_for

    definition = deploy(key="errs")
    finished(definition)
    start(definition)
    params = {k: (definition.id if v == "VERSION" else v) for k, v in params.items()}
    draft = draft_for(admin_user, **params)
    assert not draft.valid and message in draft.errors[field]


def test_the_restart_by_query_selects_finished_instances_of_the_version(admin_user):
    from tests.cockpit.test_wizard import draft_for

    definition = deploy(key="hq")
    finished(definition)
    draft = draft_for(admin_user, op="restart", version=definition.id, ins_type="startBeforeActivity", ins_id="task")
    assert draft.valid and draft.count == 1
    assert draft.payload["historicProcessInstanceQuery"] == {"finished": True, "processDefinitionId": definition.id}
    assert HistoricProcessInstance.objects.count() == 1
    assert tokens(start(definition)) == ["task"]
