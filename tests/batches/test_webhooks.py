"""Batch webhooks without workers: recording, signing, sending to a loopback receiver, the delivery log."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from batches.models import Batch, HistoricBatch, WebhookDelivery
from batches.notifications import (
    WEBHOOK_JOB, job_id_for, run_webhook_job, webhook_attempt, webhook_attempt_record, webhook_deliveries_record,
    webhook_post, webhook_targets,
)
from batches.operations import ENDPOINTS
from batches.options import parse_webhook_url
from batches.services import batch_create
from engine.errors import BadUserRequest
from engine.models import Job
from tests.conftest import client_for, make_user
from tests.support.factories import deploy, start

R = "/engine-rest"
SECRET = "shared-secret-for-tests"


class Receiver:
    """An HTTP server on 127.0.0.1 (ephemeral port) recording every POST; answers from a script, then 200."""

    def __init__(self, statuses: list[int] | None = None, headers: dict[str, str] | None = None) -> None:
        self.requests: list[dict] = []
        self.statuses = list(statuses or [])
        self.extra_headers = headers or {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(request: dict, secret: str = SECRET) -> bool:
    """What a receiver does: HMAC-SHA256 over "<timestamp>.<raw body>", compared in constant time."""
    timestamp = request["headers"]["X-Cockpit-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"].get("X-Cockpit-Signature", ""), f"sha256={expected}")


@pytest.fixture
def webhooks(settings):
    def apply(**overrides) -> None:
        settings.WEBHOOKS = {"DEFAULT_URL": "", "SECRET": SECRET, "TIMEOUT_SECONDS": 5.0, "MAX_ATTEMPTS": 3,
                             "BACKOFF_SECONDS": 10.0, "ALLOWED_NETWORKS": ("127.0.0.0/8", "::1/128"), **overrides}

    apply()
    return apply


def suspension_batch(user, **options) -> Batch:
    payload = {"processInstanceIds": [start(deploy()).id], "suspended": True, **options}
    return batch_create(operation=ENDPOINTS["process-instance/suspended-async"], payload=payload, user=user)


def claim(delivery: WebhookDelivery) -> int:
    """Run the delivery's engine job as the executor does: it claims the next attempt."""
    with transaction.atomic():
        run_webhook_job(Job.objects.get(id=job_id_for(delivery.id)))
    return WebhookDelivery.objects.get(id=delivery.id).attempts


def test_an_event_is_signed_and_the_receiver_can_verify_it(admin_user, webhooks):
    with Receiver() as receiver:
        batch = suspension_batch(admin_user, webhookUrl=receiver.url, reason="quarterly cleanup")
        [delivery] = webhook_deliveries_record(batch_id=batch.id, event="first_failed_job")
        assert webhook_attempt(delivery_id=delivery.id, attempt=claim(delivery)) == "delivered"
    [request] = receiver.requests
    assert verify(request)
    assert not verify(request, secret="another-secret")
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Cockpit-Event-Id"] == delivery.id
    event = json.loads(request["body"])
    assert (event["id"], event["type"]) == (delivery.id, "batch.first_failed_job")
    assert event["batch"]["id"] == batch.id and event["batch"]["reason"] == "quarterly cleanup"
    assert event["batch"]["totalItems"] == 1 and event["batch"]["createUserId"] == "alice-admin"
    row = WebhookDelivery.objects.get(id=delivery.id)
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == ("delivered", 1, 200, None)
    assert row.delivered_at is not None


def test_a_tampered_body_fails_verification(admin_user, webhooks):
    with Receiver() as receiver:
        batch = suspension_batch(admin_user, webhookUrl=receiver.url)
        [delivery] = webhook_deliveries_record(batch_id=batch.id, event="canceled")
        webhook_attempt(delivery_id=delivery.id, attempt=claim(delivery))
    request = dict(receiver.requests[0])
    request["body"] = request["body"].replace(b"batch.canceled", b"batch.completed")
    assert request["body"] != receiver.requests[0]["body"]
    assert not verify(request)


def test_the_same_event_is_recorded_once_per_url(admin_user, webhooks):
    webhooks(DEFAULT_URL="https://hooks.example.org/all")
    batch = suspension_batch(admin_user, webhookUrl="https://hooks.example.org/own")
    first = webhook_deliveries_record(batch_id=batch.id, event="completed")
    again = webhook_deliveries_record(batch_id=batch.id, event="completed")
    assert sorted(d.url for d in first) == ["https://hooks.example.org/all", "https://hooks.example.org/own"]
    assert again == []
    assert WebhookDelivery.objects.filter(batch_id=batch.id).count() == 2
    assert Job.objects.filter(job_type=WEBHOOK_JOB).count() == 2


def test_the_url_outlives_the_runtime_batch(admin_user, webhooks):
    batch = suspension_batch(admin_user, webhookUrl="https://hooks.example.org/own")
    Batch.objects.filter(id=batch.id).delete()  # as batch_end does before the event is sent
    assert webhook_targets(batch.id) == ["https://hooks.example.org/own"]


def test_a_batch_without_any_url_records_nothing(admin_user, webhooks):
    batch = suspension_batch(admin_user)
    assert webhook_deliveries_record(batch_id=batch.id, event="completed") == []


@pytest.mark.parametrize("url", ["ftp://example.org/x", "javascript:alert(1)", "file:///etc/passwd", "http://", "https://u:p@example.org/", 7])
def test_only_http_urls_with_a_host_and_no_credentials_are_accepted(url):
    with pytest.raises(BadUserRequest, match="webhookUrl"):
        parse_webhook_url(url)


def test_a_bad_webhook_url_is_a_400_naming_the_field(api):
    response = api.post(f"{R}/process-instance/suspended-async",
                        {"processInstanceIds": [start(deploy()).id], "suspended": True, "webhookUrl": "ftp://example.org"}, format="json")
    assert response.status_code == 400
    assert "webhookUrl" in response.json()["message"]


def test_setting_a_webhook_needs_the_permission(db, webhooks):
    user = make_user("wanda-without-webhooks", perms=True)
    user.user_permissions.remove(Permission.objects.get(codename="configure_webhook"))
    payload = {"processInstanceIds": [start(deploy()).id], "suspended": True}
    denied = client_for(user).post(f"{R}/process-instance/suspended-async", {**payload, "webhookUrl": "https://example.org/h"}, format="json")
    assert denied.status_code == 403
    assert "batches.configure_webhook" in denied.json()["message"]
    assert not HistoricBatch.objects.exists()
    assert client_for(user).post(f"{R}/process-instance/suspended-async", payload, format="json").status_code == 200


def test_a_redirect_is_not_followed_and_counts_as_a_failure(admin_user, webhooks):
    with Receiver() as elsewhere, Receiver(statuses=[302], headers={"Location": "http://127.0.0.1:1/x"}) as receiver:
        receiver.extra_headers["Location"] = elsewhere.url
        batch = suspension_batch(admin_user, webhookUrl=receiver.url)
        [delivery] = webhook_deliveries_record(batch_id=batch.id, event="completed")
        assert webhook_attempt(delivery_id=delivery.id, attempt=claim(delivery)) == "pending"
    assert len(receiver.requests) == 1 and elsewhere.requests == []
    row = WebhookDelivery.objects.get(id=delivery.id)
    assert row.last_status_code == 302 and "not followed" in row.last_error


def test_a_url_that_is_not_http_is_never_requested():
    status, error = webhook_post("file:///etc/passwd", {"id": "x"})
    assert status is None and "http" in error


def test_failed_attempts_back_off_exponentially_then_fail(admin_user, webhooks):
    with Receiver(statuses=[500, 503, 500]) as receiver:
        batch = suspension_batch(admin_user, webhookUrl=receiver.url)
        [delivery] = webhook_deliveries_record(batch_id=batch.id, event="completed")
        for attempt, wait in ((1, 10), (2, 20)):
            before = timezone.now()
            assert webhook_attempt(delivery_id=delivery.id, attempt=claim(delivery)) == "pending"
            row = WebhookDelivery.objects.get(id=delivery.id)
            assert (row.attempts, row.state) == (attempt, "pending")
            assert row.next_attempt_at >= before + timedelta(seconds=wait)
            assert Job.objects.get(id=job_id_for(delivery.id)).due_date == row.next_attempt_at
            WebhookDelivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())  # time passes
        assert webhook_attempt(delivery_id=delivery.id, attempt=claim(delivery)) == "failed"
    row = WebhookDelivery.objects.get(id=delivery.id)
    assert (row.state, row.attempts, row.last_status_code, row.next_attempt_at) == ("failed", 3, 500, None)
    assert "HTTP 500" in row.last_error
    assert len(receiver.requests) == 3 and len({r["headers"]["X-Cockpit-Event-Id"] for r in receiver.requests}) == 1


def test_a_duplicate_task_for_one_attempt_sends_nothing(admin_user, webhooks):
    with Receiver() as receiver:
        batch = suspension_batch(admin_user, webhookUrl=receiver.url)
        [delivery] = webhook_deliveries_record(batch_id=batch.id, event="completed")
        attempt = claim(delivery)
        assert webhook_attempt(delivery_id=delivery.id, attempt=attempt) == "delivered"
        assert webhook_attempt(delivery_id=delivery.id, attempt=attempt) == "not-claimed"
    assert len(receiver.requests) == 1


def test_an_answer_for_a_superseded_attempt_changes_nothing(admin_user, webhooks):
    batch = suspension_batch(admin_user, webhookUrl="https://hooks.example.org/own")
    [delivery] = webhook_deliveries_record(batch_id=batch.id, event="completed")
    claim(delivery)
    assert webhook_attempt_record(delivery=delivery, attempt=2, status=200, error=None) == "superseded"
    assert WebhookDelivery.objects.get(id=delivery.id).state == "pending"


def deliveries_fixture(admin_user) -> tuple[Batch, WebhookDelivery]:
    batch = suspension_batch(admin_user, webhookUrl="https://hooks.example.org/<own>")
    [delivery] = webhook_deliveries_record(batch_id=batch.id, event="first_failed_job")
    WebhookDelivery.objects.filter(id=delivery.id).update(attempts=2, last_status_code=500, last_error="HTTP 500: <b>down</b>")
    return batch, delivery


def test_the_rest_api_lists_the_deliveries_of_a_visible_batch(admin_user, api, webhooks):
    batch, delivery = deliveries_fixture(admin_user)
    [row] = api.get(f"{R}/batch/{batch.id}/webhook-deliveries").json()
    assert (row["id"], row["type"], row["state"], row["attempts"], row["lastStatusCode"]) == (
        delivery.id, "batch.first_failed_job", "pending", 2, 500)
    HistoricBatch.objects.filter(id=batch.id).update(tenant_id="tenant-b")
    outsider = make_user("tina-tenant-a", perms=True, tenants=("tenant-a",))
    assert client_for(outsider).get(f"{R}/batch/{batch.id}/webhook-deliveries").status_code == 404
    assert api.get(f"{R}/batch/unknown/webhook-deliveries").status_code == 404


def test_the_details_page_shows_the_delivery_log_escaped(admin_user, client, webhooks):
    batch, delivery = deliveries_fixture(admin_user)
    client.force_login(admin_user)
    html = client.get(f"/cockpit/batch/{batch.id}").content.decode()
    assert 'id="webhook-deliveries"' in html and delivery.id in html
    assert "batch.first_failed_job" in html and "https://hooks.example.org/&lt;own&gt;" in html
    assert "HTTP 500: &lt;b&gt;down&lt;/b&gt;" in html and "<b>down</b>" not in html


def test_the_delivery_log_refreshes_itself_while_a_delivery_waits(admin_user, client, webhooks):
    batch, delivery = deliveries_fixture(admin_user)
    client.force_login(admin_user)
    part = client.get(f"/cockpit/batch/{batch.id}", headers={"HX-Request": "true", "HX-Target": "webhook-deliveries"})
    html = part.content.decode().strip()
    assert '<section class="panel" id="webhook-deliveries" hx-get=' in html
    assert 'id="detail-live"' not in html and delivery.id in html
    Batch.objects.filter(id=batch.id).delete()  # the batch has ended; the delivery still waits
    assert 'id="webhook-deliveries" hx-get=' in client.get(f"/cockpit/batch/{batch.id}").content.decode()
    WebhookDelivery.objects.filter(id=delivery.id).update(state=WebhookDelivery.DELIVERED)
    final = client.get(f"/cockpit/batch/{batch.id}", headers={"HX-Request": "true", "HX-Target": "webhook-deliveries"})
    assert '<section class="panel" id="webhook-deliveries">' in final.content.decode()  # nothing left to wait for


def test_metrics_count_deliveries_by_state(admin_user, client, webhooks):
    deliveries_fixture(admin_user)
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'cockpit_webhook_deliveries{state="pending"} 1.0' in text
    assert 'cockpit_webhook_deliveries{state="delivered"} 0.0' in text


def test_the_admin_lists_deliveries_read_only_with_filters(admin_user, client, webhooks):
    _, delivery = deliveries_fixture(admin_user)
    client.force_login(admin_user)
    listing = client.get("/admin/batches/webhookdelivery/", {"state": "pending"})
    assert listing.status_code == 200 and delivery.id in listing.content.decode()
    assert client.get("/admin/batches/webhookdelivery/", {"state": "delivered"}).content.decode().count(delivery.id) == 0
    assert client.get("/admin/batches/webhookdelivery/add/").status_code == 403


def test_an_expired_lease_resends_an_untaken_attempt_and_counts_a_lost_one(admin_user, webhooks):
    batch = suspension_batch(admin_user, webhookUrl="https://hooks.example.org/own")
    [delivery] = webhook_deliveries_record(batch_id=batch.id, event="completed")
    expire = lambda: WebhookDelivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())  # noqa: E731
    assert claim(delivery) == 1
    expire()  # no task took attempt 1 (a long queue): the same attempt is sent again
    assert claim(delivery) == 1
    WebhookDelivery.objects.filter(id=delivery.id).update(last_error="attempt 1: sending")  # a task took it...
    expire()  # ...and its worker was lost
    assert claim(delivery) == 2
    WebhookDelivery.objects.filter(id=delivery.id).update(attempts=3, last_error="attempt 3: sending")
    expire()
    claim(delivery)
    row = WebhookDelivery.objects.get(id=delivery.id)
    assert (row.state, row.attempts, row.last_error) == ("failed", 3, "attempt 3: no answer recorded")


def test_canceling_a_batch_records_one_canceled_event_after_commit(admin_user, api, webhooks, django_capture_on_commit_callbacks):
    webhooks(DEFAULT_URL="https://hooks.example.org/all")
    batch = suspension_batch(admin_user, webhookUrl="https://hooks.example.org/own")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert api.delete(f"{R}/batch/{batch.id}").status_code == 204
        assert not WebhookDelivery.objects.exists()  # nothing inside the batch's transaction
    assert callbacks
    rows = WebhookDelivery.objects.filter(batch_id=batch.id)
    assert sorted((d.event, d.url, d.state) for d in rows) == [
        ("canceled", "https://hooks.example.org/all", "pending"), ("canceled", "https://hooks.example.org/own", "pending")]
    assert {d.payload["batch"]["finalState"] for d in rows} == {"canceled"}


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.5", "169.254.169.254", "0.0.0.0", "::1", "fe80::1",
                "fd00::5", "::ffff:127.0.0.1", "224.0.0.1", "100.64.0.1"],
)
def test_webhooks_never_reach_loopback_private_or_link_local_addresses(webhooks, address):
    """Server-side request forgery: a user with the webhook permission must not make the workers
    call the database, a cloud metadata service (169.254.169.254) or anything else inside."""
    import ipaddress

    from batches.options import webhook_address_refused

    webhooks(ALLOWED_NETWORKS=())
    assert "WEBHOOK_ALLOWED_NETWORKS" in webhook_address_refused(ipaddress.ip_address(address))
    assert webhook_address_refused(ipaddress.ip_address("93.184.216.34")) is None  # public: allowed
    webhooks(ALLOWED_NETWORKS=("10.0.0.0/8", "127.0.0.0/8", "::1/128"))
    assert (webhook_address_refused(ipaddress.ip_address("10.1.2.3")), webhook_address_refused(ipaddress.ip_address("::1"))) == (None, None)


def test_a_webhook_url_naming_a_private_address_is_a_400_naming_the_field(api, webhooks):
    webhooks(ALLOWED_NETWORKS=())
    payload = {"processInstanceIds": ["x"], "suspended": True, "webhookUrl": "http://169.254.169.254/latest/meta-data"}
    response = api.post("/engine-rest/process-instance/suspended-async", payload, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("webhookUrl: 169.254.169.254 is not a public address")
    assert not Batch.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_host_that_resolves_to_a_refused_address_is_never_requested(webhooks, host):
    """Checked when sending, on the addresses the name resolves to then (a name may point anywhere later)."""
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        webhooks(ALLOWED_NETWORKS=())
        status, error = webhook_post(f"http://{host}:{port}/hook", {"id": "x"})
        assert status is None and "is not a public address" in error
        if host == "localhost":  # a name: refused on what it resolves to (127.0.0.1 or ::1)
            assert error.startswith("not sent: localhost resolves to ")
        webhooks()  # loopback allowed: the same URL is delivered
        assert webhook_post(f"http://{host}:{port}/hook", {"id": "y"}) == (200, None)
        assert [event["id"] for event in receiver.events()] == ["y"]


@pytest.fixture
def tls_receiver(tmp_path):
    """A Receiver behind TLS with a self-signed certificate for the name localhost (openssl)."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    receiver = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    with receiver:
        yield receiver, cert


def test_an_https_webhook_goes_to_the_checked_address_and_verifies_the_name(webhooks, tls_receiver):
    receiver, cert = tls_receiver
    port = receiver.server.server_address[1]
    webhooks(CA_BUNDLE=str(cert))
    assert webhook_post(f"https://localhost:{port}/hook?k=1", {"id": "e1"}) == (200, None)
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"localhost:{port}" and request["path"] == "/hook?k=1"
    # The certificate names localhost: the same receiver by its address fails verification.
    status, error = webhook_post(f"https://127.0.0.1:{port}/hook", {"id": "e2"})
    assert status is None and error.startswith("SSLError") and "doesn't match 'localhost'" in error
    webhooks()  # certifi's bundle does not know the self-signed certificate
    status, error = webhook_post(f"https://localhost:{port}/hook", {"id": "e3"})
    assert status is None and error.startswith("SSLError") and "certificate verify failed" in error
    assert len(receiver.requests) == 1
