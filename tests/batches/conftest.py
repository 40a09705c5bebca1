"""Batch test helpers: a way to create batches as a persona."""
import pytest

from batches.models import Batch
from batches.operations import ENDPOINTS
from batches.services import batch_create


@pytest.fixture
def create(admin_user):
    def make(path: str, payload: dict, user=None) -> Batch:
        return batch_create(operation=ENDPOINTS[path], payload=payload, user=user or admin_user)

    return make
