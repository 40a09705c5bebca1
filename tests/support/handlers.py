"""Job handlers used only by tests (loaded through ENGINE_JOB_HANDLER_MODULES)."""
import time
from pathlib import Path

from engine.models import Job
from engine.services.jobs import register_job_handler


def sleep_once(job: Job) -> None:
    """The first run creates the marker file and sleeps (to be killed); later runs succeed at once."""
    marker = Path(job.handler_configuration["marker"])
    if not marker.exists():
        marker.write_text("started")
        time.sleep(job.handler_configuration.get("seconds", 60))


register_job_handler("test-sleep-once", sleep_once)


def terminate_connection_once(job: Job) -> None:
    """The first run kills its own PostgreSQL backend mid-job; later runs succeed."""
    from django.db import connection

    marker = Path(job.handler_configuration["marker"])
    if not marker.exists():
        marker.write_text("terminated")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


register_job_handler("test-terminate-connection-once", terminate_connection_once)
