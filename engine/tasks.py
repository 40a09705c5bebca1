"""django-q2 entry points: they only fetch by id and call a service."""
from engine.services.jobs import job_execute, jobs_sweep, worker_id


def execute_job(job_id: str) -> str:
    return job_execute(job_id, owner=worker_id())


def sweep_jobs() -> int:
    return jobs_sweep()
