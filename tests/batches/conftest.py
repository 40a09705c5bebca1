"""Batch test helpers: small batch sizes and a way to create batches as a persona."""
import pytest

from batches.models import Batch
from batches.operations import ENDPOINTS
from batches.services import batch_create


@pytest.fixture
def batch_sizes(settings):
    """Set batchJobsPerSeed and invocationsPerBatchJob for batches created in the test."""

    def apply(per_seed: int, invocations: int) -> None:
        settings.BATCH = {**settings.BATCH, "JOBS_PER_SEED": per_seed, "INVOCATIONS_PER_JOB": invocations}

    return apply


@pytest.fixture
def create(admin_user):
    def make(path: str, payload: dict, user=None) -> Batch:
        return batch_create(operation=ENDPOINTS[path], payload=payload, user=user or admin_user)

    return make
