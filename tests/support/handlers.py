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
