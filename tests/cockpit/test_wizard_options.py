"""The wizard's common Options fieldset: reason, throttle, schedule, window and webhook into the REST payload."""
import json
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission

from batches.models import Batch, HistoricBatch
from cockpit.wizard_options import reason_missing
from tests.cockpit.test_wizard import draft_for
from tests.conftest import make_user
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db


def test_filled_options_join_the_payload_under_their_rest_names(admin_user):
    definition = deploy(key="invoice")
    start(definition)
    draft = draft_for(
        admin_user, op="cancel", key="invoice", reason="ticket 12", maxItemsPerSecond="2.5",
        notBefore="2030-01-01T22:00", windowStart="22:00", windowEnd="05:00", windowTimeZone="Europe/Berlin",
        webhookUrl="https://hooks.example/batch",
    )
    assert draft.valid, draft.errors
    assert draft.payload["reason"] == "ticket 12"
    assert draft.payload["maxItemsPerSecond"] == 2.5
    assert draft.payload["notBefore"] == "2030-01-01T22:00:00.000+0000"
    assert draft.payload["window"] == {"start": "22:00", "end": "05:00", "timeZone": "Europe/Berlin"}
    assert draft.payload["webhookUrl"] == "https://hooks.example/batch"


def test_empty_options_leave_the_camunda_payload_as_it_was(admin_user):
    definition = deploy(key="invoice")
    start(definition)
    draft = draft_for(admin_user, op="cancel", key="invoice", reason="", maxItemsPerSecond="", windowTimeZone="UTC")
    assert draft.valid
    assert "processInstanceQuery" in draft.payload
    for name in ("reason", "maxItemsPerSecond", "notBefore", "window", "webhookUrl"):
        assert name not in draft.payload


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"maxItemsPerSecond": "0"}, "maxItemsPerSecond", "maxItemsPerSecond: must be a number greater than 0"),
        ({"maxItemsPerSecond": "fast"}, "maxItemsPerSecond", "maxItemsPerSecond: must be a number"),
        ({"notBefore": "tomorrow"}, "notBefore", ""),
        ({"windowStart": "22:00"}, "window", "window.end: must be a time of day"),
        ({"windowStart": "22:00", "windowEnd": "05:00", "windowTimeZone": "Mars/Olympus"}, "window", "unknown time zone"),
        ({"webhookUrl": "ftp://x.example/"}, "webhookUrl", "only http and https"),
    ],
)
def test_a_bad_option_shows_next_to_its_field(admin_user, params, field, fragment):
    definition = deploy(key="invoice")
    start(definition)
    draft = draft_for(admin_user, op="cancel", key="invoice", **params)
    assert not draft.valid
    assert draft.errors[field] and fragment in draft.errors[field]


def test_a_required_reason_is_marked_and_missing_is_an_error(admin_user, client, settings):
    settings.BATCH = {**settings.BATCH, "REQUIRE_REASON": ("instance-deletion",)}
    definition = deploy(key="invoice")
    start(definition)
    draft = draft_for(admin_user, op="cancel", key="invoice")
    assert draft.errors["reason"] == reason_missing("instance-deletion")
    assert draft_for(admin_user, op="cancel", key="invoice", reason="asked").valid
    assert "reason" not in draft_for(admin_user, op="retries", key="invoice", retries="1").errors
    client.force_login(admin_user)
    page = client.get("/cockpit/batch/operation?" + urlencode({"op": "cancel", "key": "invoice"})).content.decode()
    assert '<span class="required" title="required">(required)</span>' in page
    assert '<span class="field-error" id="error-reason">A reason is required' in page
    other = client.get("/cockpit/batch/operation?" + urlencode({"op": "retries"})).content.decode()
    assert 'id="reason"' in other and "(required)" not in other


def test_the_webhook_field_shows_only_with_the_permission_and_is_ignored_without_it(client):
    definition = deploy(key="invoice")
    start(definition)
    user = make_user("no-hooks")
    user.user_permissions.add(Permission.objects.get(codename="create_instance_deletion"))
    client.force_login(user)
    page = client.get("/cockpit/batch/operation?op=cancel").content.decode()
    assert 'id="maxItemsPerSecond"' in page and 'id="webhookUrl"' not in page
    draft = draft_for(user, op="cancel", key="invoice", webhookUrl="https://evil.example/")
    assert draft.valid and "webhookUrl" not in draft.payload
    client.force_login(make_user("hooks-too", superuser=True))
    assert 'id="webhookUrl"' in client.get("/cockpit/batch/operation?op=cancel").content.decode()


def test_the_confirm_step_shows_the_options_and_execute_stores_them(admin_user, client):
    client.force_login(admin_user)
    definition = deploy()
    start(definition)
    params = urlencode({
        "op": "cancel", "key": definition.key, "reason": "cleanup <now>", "maxItemsPerSecond": "3",
        "windowStart": "22:00", "windowEnd": "05:00", "windowTimeZone": "Europe/Berlin",
    })
    confirm = client.get(f"/cockpit/batch/operation/confirm?{params}")
    assert confirm.status_code == 200
    payload = json.loads(confirm.context["payload_json"])
    assert payload["reason"] == "cleanup <now>" and payload["maxItemsPerSecond"] == 3
    assert payload["window"] == {"start": "22:00", "end": "05:00", "timeZone": "Europe/Berlin"}
    assert "cleanup &lt;now&gt;" in confirm.content.decode()
    executed = client.post("/cockpit/batch/operation/execute", {"token": confirm.context["token"], "params": params})
    assert executed.status_code == 302
    batch = Batch.objects.get()
    assert (batch.reason, batch.max_items_per_second, batch.window_time_zone) == ("cleanup <now>", 3.0, "Europe/Berlin")
    history = HistoricBatch.objects.get()
    assert history.reason == "cleanup <now>" and history.request["options"]["maxItemsPerSecond"] == 3.0
    assert "reason" not in history.request["payload"]
    detail = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert 'id="batch-reason">cleanup &lt;now&gt;</dd>' in detail
