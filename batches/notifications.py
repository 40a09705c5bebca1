"""Batch webhooks: one signed JSON event per batch transition and target URL, sent with retries.

How an event travels (README "Webhooks"):
  1. batches.signals.batch_event (sent after the batch's transaction commits) reaches
     webhook_deliveries_record, which writes one WebhookDelivery per target URL (the batch's
     webhookUrl and WEBHOOK_DEFAULT_URL) and one engine job per delivery, in its own transaction.
     The delivery id is derived from (batch, event, url), so a second signal changes nothing.
  2. The engine job (durable, swept, due dates) is the delivery's timer: when due it claims an
     attempt and enqueues the q2 task that sends it, then waits until the attempt's lease ends.
  3. The q2 task sends the request outside any transaction (a slow receiver never holds a database
     lock), records the attempt, and moves the job's due date to the next attempt or to now (done).
A worker lost mid-send leaves the job due at the lease's end: the next attempt follows.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from batches.models import Batch, HistoricBatch, WebhookDelivery
from batches.options import parse_webhook_url, webhook_address_refused
from engine.errors import BadUserRequest
from engine.models import Job
from engine.query import format_date
from engine.services.jobs import Reschedule, job_create, jobs_enqueue, register_job_handler

logger = logging.getLogger(__name__)

WEBHOOK_JOB = "batch-webhook"
SEND_TASK = "batches.notifications.webhook_send_task"
EVENT_ID_NAMESPACE = uuid.UUID("5b0f3c39-8a43-4a4e-9a0e-1f1b6b0c7d21")
LEASE_MARGIN_SECONDS = 30
MAX_ERROR = 2000
HEADER_ID = "X-Cockpit-Event-Id"
HEADER_TIMESTAMP = "X-Cockpit-Timestamp"
HEADER_SIGNATURE = "X-Cockpit-Signature"
USER_AGENT = "cockpit-webhooks/1"


def _config(name: str):
    return settings.WEBHOOKS[name]


# --- recording (the signal receiver) ---------------------------------------------------------------


def on_batch_event(sender, *, batch_id: str, event: str, **kwargs) -> None:
    """Receiver of batch_event. It runs after the batch's commit; a failure here never touches the batch."""
    try:
        webhook_deliveries_record(batch_id=batch_id, event=event)
    except Exception:
        logger.exception("could not record the webhook deliveries of batch %s (%s)", batch_id, event)


def webhook_targets(batch_id: str) -> list[str]:
    """The batch's own webhook URL (runtime batch, else what its creation asked) and the global default."""
    own = Batch.objects.filter(id=batch_id).values_list("webhook_url", flat=True).first()
    if own is None:
        request = HistoricBatch.objects.filter(id=batch_id).values_list("request", flat=True).first() or {}
        own = (request.get("options") or {}).get("webhookUrl") if isinstance(request, dict) else None
    urls: list[str] = []
    for url in (own, _config("DEFAULT_URL")):
        try:
            valid = parse_webhook_url(url)
        except BadUserRequest as exc:  # e.g. a WEBHOOK_DEFAULT_URL on a network WEBHOOK_ALLOWED_NETWORKS lacks
            logger.warning("batch %s: webhook URL %r skipped: %s", batch_id, url, exc)
            continue
        if valid and valid not in urls:
            urls.append(valid)
    return urls


def delivery_id_for(batch_id: str, event: str, url: str) -> str:
    """The event id: the same (batch, event, url) always names the same delivery (exactly one row)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{batch_id}\n{event}\n{url}"))


def event_payload(*, delivery_id: str, historic: HistoricBatch, event: str, created_at: datetime) -> dict:
    return {
        "id": delivery_id,
        "type": f"batch.{event}",
        "createdAt": format_date(created_at),
        "batch": {
            "id": historic.id,
            "type": historic.type,
            "finalState": historic.final_state,
            "totalItems": historic.total_items,
            "itemsSucceeded": historic.items_succeeded,
            "itemsSkipped": historic.items_skipped,
            "itemsFailed": historic.items_failed,
            "itemsPending": historic.items_pending,
            "startTime": format_date(historic.start_time) if historic.start_time else None,
            "endTime": format_date(historic.end_time) if historic.end_time else None,
            "createUserId": historic.create_user_id,
            "reason": historic.reason,
        },
    }


def webhook_deliveries_record(*, batch_id: str, event: str) -> list[WebhookDelivery]:
    """One pending delivery (and its engine job) per target URL; none twice for the same event and URL."""
    historic = HistoricBatch.objects.filter(id=batch_id).first()
    if historic is None:
        return []
    created: list[WebhookDelivery] = []
    for url in webhook_targets(batch_id):
        delivery_id = delivery_id_for(batch_id, event, url)
        if WebhookDelivery.objects.filter(id=delivery_id).exists():
            continue
        now = timezone.now()
        delivery = WebhookDelivery(
            id=delivery_id, batch=historic, event=event, url=url, created_at=now, next_attempt_at=now,
            payload=event_payload(delivery_id=delivery_id, historic=historic, event=event, created_at=now),
        )
        try:
            with transaction.atomic():
                delivery.save(force_insert=True)
                job_create(job_type=WEBHOOK_JOB, id=job_id_for(delivery_id),
                           handler_configuration={"deliveryId": delivery_id}, tenant_id=historic.tenant_id)
        except IntegrityError:  # the same event recorded at the same moment by another process
            continue
        created.append(delivery)
    return created


def job_id_for(delivery_id: str) -> str:
    return f"webhook-{delivery_id}"


# --- the engine job: the delivery's timer ----------------------------------------------------------


def run_webhook_job(job: Job) -> Reschedule | None:
    """Claim the next attempt when it is due and hand it to a q2 task; done when the delivery is final."""
    delivery_id = job.handler_configuration.get("deliveryId")
    delivery = WebhookDelivery.objects.select_for_update().filter(id=delivery_id).first()
    if delivery is None or delivery.state != WebhookDelivery.PENDING:
        return None
    now = timezone.now()
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return Reschedule(due_date=delivery.next_attempt_at)
    # A claimed attempt that no task has taken yet (a long q2 queue) is sent again under a new lease;
    # one a task took and never answered (its worker was lost) counts, and the next one follows.
    waiting = delivery.attempts > 0 and delivery.last_error == _claimed_marker(delivery.attempts)
    attempt = delivery.attempts if waiting else delivery.attempts + 1
    if attempt > _config("MAX_ATTEMPTS"):  # the last attempt's worker was lost before it answered
        WebhookDelivery.objects.filter(id=delivery.id).update(
            state=WebhookDelivery.FAILED, next_attempt_at=None, last_error=f"attempt {attempt - 1}: no answer recorded"
        )
        return None
    lease_end = now + timedelta(seconds=_config("TIMEOUT_SECONDS") + LEASE_MARGIN_SECONDS)
    # attempts counts started attempts: a duplicate task for the same attempt loses the compare-and-set.
    WebhookDelivery.objects.filter(id=delivery.id).update(
        attempts=attempt, next_attempt_at=lease_end, last_error=_claimed_marker(attempt)
    )
    transaction.on_commit(lambda: _enqueue_send(delivery.id, attempt))
    return Reschedule(due_date=lease_end)


def _enqueue_send(delivery_id: str, attempt: int) -> None:
    from django_q.tasks import async_task

    async_task(SEND_TASK, delivery_id, attempt, task_name=f"webhook {delivery_id} #{attempt}")


def register_handlers() -> None:
    register_job_handler(WEBHOOK_JOB, run_webhook_job)


# --- sending -------------------------------------------------------------------------------------


def webhook_send_task(delivery_id: str, attempt: int) -> str:
    """q2 entry point: send one claimed attempt of a delivery."""
    return webhook_attempt(delivery_id=delivery_id, attempt=attempt)


def webhook_attempt(*, delivery_id: str, attempt: int) -> str:
    """Send attempt number `attempt` (claimed by the job) unless another task took it; record the answer."""
    delivery = _take_claimed(delivery_id, attempt)
    if delivery is None:
        return "not-claimed"
    status, error = webhook_post(delivery.url, delivery.payload)
    return webhook_attempt_record(delivery=delivery, attempt=attempt, status=status, error=error)


def _claimed_marker(attempt: int) -> str:
    return f"attempt {attempt}: claimed"


def _take_claimed(delivery_id: str, attempt: int) -> WebhookDelivery | None:
    """Compare-and-set from "claimed" to "sending": a second task for the same attempt gets None."""
    taken = WebhookDelivery.objects.filter(
        id=delivery_id, state=WebhookDelivery.PENDING, attempts=attempt, last_error=_claimed_marker(attempt)
    ).update(last_error=f"attempt {attempt}: sending")
    return WebhookDelivery.objects.get(id=delivery_id) if taken == 1 else None


def webhook_post(url: str, payload: dict) -> tuple[int | None, str | None]:
    """POST the signed event; (status code, error or None). 2xx only is success; redirects are not followed.

    The host's addresses are resolved here and each must be allowed (options.webhook_address_refused);
    the request then goes to the checked address itself (TLS still verifies the host's name), so a
    name that resolves to another address a moment later (DNS rebinding) cannot redirect it.
    """
    try:
        parse_webhook_url(url)
    except BadUserRequest as exc:
        return None, str(exc)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: cannot resolve {parts.hostname!r}: {exc}"[:MAX_ERROR]
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    for address in addresses:
        refused = webhook_address_refused(address)
        if refused:
            return None, f"not sent: {parts.hostname} resolves to {refused}"[:MAX_ERROR]
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {**signed_headers(payload["id"], body), "Host": parts.netloc}
    timeout = _config("TIMEOUT_SECONDS")
    ca = settings.WEBHOOKS.get("CA_BUNDLE") or certifi.where()
    tls = {"server_hostname": parts.hostname, "assert_hostname": parts.hostname, "ca_certs": ca} if https else {}
    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for k, address in enumerate(addresses):  # like a browser: the next address if one cannot be reached
        try:
            with pool_class(str(address), port, timeout=urllib3.Timeout(total=timeout), retries=False, **tls) as pool:
                response = pool.urlopen(
                    "POST", path, body=body, headers=headers, redirect=False, retries=False, preload_content=False
                )
                status, location = response.status, response.headers.get("Location", "?")
                text = b"" if 200 <= status < 400 else response.read(200)  # an answer's start, never all of it
                response.release_conn()
            break
        except urllib3.exceptions.NewConnectionError as exc:
            if k == len(addresses) - 1:
                return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        except urllib3.exceptions.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirect to {location!r} not followed"[:MAX_ERROR]
    return status, f"HTTP {status}: {text.decode('utf-8', errors='replace')}"[:MAX_ERROR]


def signed_headers(event_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER_ID: event_id,
        HEADER_TIMESTAMP: str(timestamp),
    }
    secret = _config("SECRET")
    if secret:
        headers[HEADER_SIGNATURE] = "sha256=" + signature(secret, timestamp, body)
    return headers


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """HMAC-SHA256 (hex) over "<timestamp>.<body>": what a receiver recomputes to verify an event."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def backoff_seconds(attempt: int) -> float:
    """Wait after failed attempt number `attempt` (1, 2, ...): BACKOFF * 2^(attempt-1)."""
    return _config("BACKOFF_SECONDS") * 2 ** (attempt - 1)


def webhook_attempt_record(*, delivery: WebhookDelivery, attempt: int, status: int | None, error: str | None) -> str:
    """Store the attempt's answer; the next attempt after the backoff, or a final state; wake the job."""
    now = timezone.now()
    changes: dict = {"last_status_code": status, "last_error": error}
    if error is None:
        changes.update(state=WebhookDelivery.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif attempt >= _config("MAX_ATTEMPTS"):
        changes.update(state=WebhookDelivery.FAILED, next_attempt_at=None)
    else:
        changes.update(next_attempt_at=now + timedelta(seconds=backoff_seconds(attempt)))
    with transaction.atomic():
        updated = WebhookDelivery.objects.filter(id=delivery.id, state=WebhookDelivery.PENDING, attempts=attempt).update(**changes)
        due = changes["next_attempt_at"] or now
        Job.objects.filter(id=job_id_for(delivery.id), lock_owner__isnull=True).update(due_date=due, enqueued_at=None)
    if updated and due <= timezone.now():
        jobs_enqueue([job_id_for(delivery.id)])
    state = changes.get("state", WebhookDelivery.PENDING)
    logger.info("webhook %s attempt %d to %s: %s", delivery.id, attempt, delivery.url, error or status)
    return state if updated else "superseded"

