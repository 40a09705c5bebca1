"""Personas, API clients and the real q2 cluster fixture."""
from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from engine.models import Tenant
from tests.support.cluster import Cluster

PASSWORD = "pw-for-tests-only"


def make_user(username: str, *, superuser: bool = False, perms: bool = False, tenants: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_superuser=superuser, is_staff=superuser)
    if perms:
        user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["engine", "batches"]))
    for tenant_id in tenants:
        tenant, _ = Tenant.objects.get_or_create(id=tenant_id, defaults={"name": tenant_id})
        tenant.members.add(user)
    return user


def client_for(user: User) -> APIClient:
    client = APIClient()
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    return client


@pytest.fixture
def admin_user(db) -> User:
    return make_user("alice-admin", superuser=True)


@pytest.fixture
def operator(db) -> User:
    """Member of tenant-a with every engine and batch permission."""
    return make_user("olga-operator", perms=True, tenants=("tenant-a",))


@pytest.fixture
def viewer(db) -> User:
    """Logged in, no permissions, no tenants."""
    return make_user("victor-viewer")


@pytest.fixture
def api(admin_user) -> APIClient:
    return client_for(admin_user)


@pytest.fixture
def operator_api(operator) -> APIClient:
    return client_for(operator)


@pytest.fixture
def viewer_api(viewer) -> APIClient:
    return client_for(viewer)


@pytest.fixture
def cluster(transactional_db, settings):
    """Start real qcluster processes on the test database; stopped (and its log shown on failure) after."""
    started: list[Cluster] = []

    def start(workers: int = 2, **env: str) -> Cluster:
        c = Cluster(workers=workers, **env).start()
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()
        print(f"--- qcluster log ---\n{c.output()[-5000:]}")


@pytest.fixture
def batch_sizes(settings):
    """Set batchJobsPerSeed and invocationsPerBatchJob for batches created in the test."""

    def apply(per_seed: int, invocations: int) -> None:
        from batches.operations import REGISTRY

        # Per type too: they win over the operations' own defaults (instance-modification's 200).
        sizes = {"JOBS_PER_SEED": per_seed, "INVOCATIONS_PER_JOB": invocations}
        settings.BATCH = {**settings.BATCH, **sizes, "PER_TYPE": {batch_type: sizes for batch_type in REGISTRY}}

    return apply


@pytest.fixture(autouse=True)
def _forget_logins():
    """Each test starts with no failed logins counted and no HTTP Basic credential remembered."""
    from django.core.cache import caches

    caches["throttle"].clear()
    caches["default"].clear()
