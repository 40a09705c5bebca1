"""Prometheus metrics at /metrics, computed from the database at scrape time.

Every process (web, workers, other nodes) writes its state to the database, so one scrape of any
web process sees the whole installation, and nothing is lost when a worker restarts. Each metric
is one aggregate query over indexed or small tables (the batch item counts come from the historic
batches' live counters, never from counting items).

Access: a request with `Authorization: Bearer <METRICS_TOKEN>` (when the setting is set), or from an
address in METRICS_ALLOWED_NETWORKS (default: loopback only). Anything else gets a 403.
"""
from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from batches.models import Batch, HistoricBatch, WebhookDelivery
from engine.models import Incident, Job, ProcessInstance
from engine.services.jobs import executable_jobs


class DatabaseCollector:
    """The installation's state, read at each scrape."""

    def collect(self):
        now = timezone.now()
        running = GaugeMetricFamily("cockpit_batches", "Runtime batches by state.", labels=["state"])
        counts = Batch.objects.aggregate(suspended=Count("id", filter=Q(suspended=True)), total=Count("id"))
        running.add_metric(["active"], counts["total"] - counts["suspended"])
        running.add_metric(["suspended"], counts["suspended"])
        yield running

        ended = GaugeMetricFamily(
            "cockpit_historic_batches", "Ended batches kept in history, by type and final state.", labels=["type", "final_state"]
        )
        for row in (
            HistoricBatch.objects.filter(end_time__isnull=False).values("type", "final_state").annotate(n=Count("id")).order_by()
        ):
            ended.add_metric([row["type"], row["final_state"] or ""], row["n"])
        yield ended

        items = GaugeMetricFamily(
            "cockpit_batch_items", "Batch items by batch type and result, over the batches in history.", labels=["type", "result"]
        )
        sums = HistoricBatch.objects.values("type").annotate(
            succeeded=Coalesce(Sum("items_succeeded"), 0), skipped=Coalesce(Sum("items_skipped"), 0),
            failed=Coalesce(Sum("items_failed"), 0), pending=Coalesce(Sum("items_pending"), 0),
        ).order_by()
        for row in sums:
            for result in ("succeeded", "skipped", "failed", "pending"):
                items.add_metric([row["type"], result], row[result])
        yield items

        depth = GaugeMetricFamily(
            "cockpit_jobs_executable", "Jobs due, unlocked and not suspended, with retries left (the job executor's queue), by job type.",
            labels=["job_type"],
        )
        lag = GaugeMetricFamily(
            "cockpit_job_lag_seconds", "How long the oldest executable job has been due, by job type.", labels=["job_type"]
        )
        queue = executable_jobs(now).values("job_type").annotate(
            n=Count("id"), oldest=Min(Coalesce("due_date", "create_time"))
        ).order_by()
        for row in queue:
            depth.add_metric([row["job_type"]], row["n"])
            lag.add_metric([row["job_type"]], max(0.0, (now - row["oldest"]).total_seconds()))
        yield depth
        yield lag

        failed = GaugeMetricFamily("cockpit_jobs_failed", "Jobs without retries left, by job type.", labels=["job_type"])
        for row in Job.objects.filter(retries__lte=0).values("job_type").annotate(n=Count("id")).order_by():
            failed.add_metric([row["job_type"]], row["n"])
        yield failed

        webhooks = GaugeMetricFamily("cockpit_webhook_deliveries", "Batch webhook deliveries by state.", labels=["state"])
        by_state = dict(WebhookDelivery.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n").order_by())
        for state in WebhookDelivery.STATES:
            webhooks.add_metric([state], by_state.get(state, 0))
        yield webhooks

        yield GaugeMetricFamily("cockpit_incidents_open", "Open incidents.", value=Incident.objects.count())
        yield GaugeMetricFamily(
            "cockpit_process_instances_running", "Running process instances.", value=ProcessInstance.objects.count()
        )


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS["TOKEN"]
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS["ALLOWED_NETWORKS"])


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponseForbidden("Metrics need the METRICS_TOKEN bearer token or an address in METRICS_ALLOWED_NETWORKS.\n",
                                     content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
