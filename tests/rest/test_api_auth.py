"""REST authentication: HTTP Basic verified once per credential and short while, API tokens instead of passwords."""
import base64
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from cockpit.models import ApiToken
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
URL = "/engine-rest/batch/count"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()


@pytest.fixture
def verifications(monkeypatch):
    """How often a password was really checked (the real check runs; the test only counts it)."""
    calls = []
    real = User.check_password

    def counted(self, raw):
        calls.append(self.username)
        return real(self, raw)

    monkeypatch.setattr(User, "check_password", counted)
    return calls


def basic(username: str, password: str) -> APIClient:
    client = APIClient()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    return client


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_basic_credentials_are_verified_once_then_remembered(verifications):
    make_user("carla-client", perms=True)
    client = basic("carla-client", PASSWORD)
    for _ in range(5):
        assert client.get(URL).status_code == 200
    assert verifications == ["carla-client"]


def test_a_wrong_password_is_never_remembered(verifications):
    make_user("carla-client", perms=True)
    client = basic("carla-client", "not-the-password")
    assert [client.get(URL).status_code for _ in range(3)] == [401, 401, 401]
    assert len(verifications) == 3


def test_changing_the_password_or_deactivating_the_user_ends_the_remembered_credential():
    user = make_user("carla-client", perms=True)
    old = basic("carla-client", PASSWORD)
    assert old.get(URL).status_code == 200
    user.set_password("a-new-password-7")
    user.save()
    assert old.get(URL).status_code == 401
    assert basic("carla-client", "a-new-password-7").get(URL).status_code == 200
    user.is_active = False
    user.save()
    assert basic("carla-client", "a-new-password-7").get(URL).status_code == 401


def test_the_cache_can_be_switched_off(settings, verifications):
    settings.BASIC_AUTH_CACHE_SECONDS = 0
    make_user("carla-client", perms=True)
    client = basic("carla-client", PASSWORD)
    assert [client.get(URL).status_code for _ in range(2)] == [200, 200]
    assert len(verifications) == 2


def test_an_api_token_works_as_bearer_and_as_the_basic_password(verifications):
    user = make_user("carla-client", perms=True)
    row, token = ApiToken.issue(user=user, name="ci")
    assert token.startswith("cbt_") and row.key_hash != token and token not in str(row.__dict__)
    assert bearer(token).get(URL).status_code == 200
    assert basic("carla-client", token).get(URL).status_code == 200
    assert verifications == []  # a token is never a password check
    row.refresh_from_db()
    assert row.last_used is not None


def test_a_token_is_refused_for_another_user_expired_revoked_or_malformed():
    carla = make_user("carla-client", perms=True)
    make_user("other-user", perms=True)
    row, token = ApiToken.issue(user=carla, name="ci")
    assert basic("other-user", token).get(URL).status_code == 401
    assert bearer(token + "x").get(URL).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer")
    assert client.get(URL).status_code == 401
    _, expired = ApiToken.issue(user=carla, name="old", expires=timezone.now() - timedelta(seconds=1))
    assert bearer(expired).get(URL).status_code == 401
    row.delete()
    assert bearer(token).get(URL).status_code == 401
    response = bearer(token).get(URL)
    assert response["WWW-Authenticate"].startswith("Basic")  # Camunda clients are asked for Basic


def test_the_token_follows_the_users_permissions_and_tenants():
    viewer = make_user("victor-token")  # no permissions
    _, token = ApiToken.issue(user=viewer, name="ci")
    response = bearer(token).post("/engine-rest/process-instance/delete", {"processInstanceIds": ["x"]}, format="json")
    assert response.status_code == 403


def test_the_command_issues_lists_and_revokes_tokens():
    make_user("carla-client", perms=True)
    out, err = StringIO(), StringIO()
    call_command("api_token", "create", "--user", "carla-client", "--name", "ci", "--days", "30", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert bearer(token).get(URL).status_code == 200
    listing = StringIO()
    call_command("api_token", "list", stdout=listing)
    assert "carla-client\tci\tcbt_" in listing.getvalue() and token not in listing.getvalue()
    row = ApiToken.objects.get()
    call_command("api_token", "revoke", str(row.id), stdout=StringIO())
    assert bearer(token).get(URL).status_code == 401


def test_the_admin_shows_a_new_token_once(admin_user, client):
    carla = make_user("carla-client", perms=True)
    client.force_login(admin_user)
    response = client.post("/admin/cockpit/apitoken/add/", {"user": carla.pk, "name": "ci", "expires_0": "", "expires_1": ""}, follow=True)
    page = response.content.decode()
    token = page.split("shown only now: ", 1)[1].split("<", 1)[0].strip()
    assert bearer(token).get(URL).status_code == 200
    assert token not in client.get("/admin/cockpit/apitoken/").content.decode()
