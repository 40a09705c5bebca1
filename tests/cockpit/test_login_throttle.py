"""Failed logins lock a username (and a client) out for a while: the login form, the admin and HTTP Basic alike."""
import base64
import logging

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
URL = "/engine-rest/batch/count"


@pytest.fixture
def limits(settings):
    settings.LOGIN_THROTTLE = {**settings.LOGIN_THROTTLE, "FAILURES": 3, "LOCKOUT_SECONDS": 600}
    return settings.LOGIN_THROTTLE


def basic(username: str, password: str, client_address: str = "127.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=client_address)
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{username}:{password}".encode()).decode())
    return client


def form_login(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_the_login_form_locks_a_user_out_after_repeated_failures(client, limits):
    make_user("lena-login", perms=True)
    for _ in range(3):
        assert form_login(client, "lena-login", "wrong").status_code == 200
    response = form_login(client, "lena-login", PASSWORD)  # even the right password, while locked
    assert response.status_code == 200 and "Too many failed logins. Try again in 10 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_logged(client, limits, caplog):
    make_user("lena-login", perms=True)
    with caplog.at_level(logging.WARNING, logger="cockpit.security"):
        for _ in range(3):
            form_login(client, "lena-login", "wrong")
    assert any("Login locked out for 600 s after 3 failed logins: user" in r.getMessage() for r in caplog.records)


def test_http_basic_counts_and_is_refused_with_429_while_locked(limits):
    make_user("lena-login", perms=True)
    assert [basic("lena-login", "wrong").get(URL).status_code for _ in range(3)] == [401, 401, 401]
    response = basic("lena-login", PASSWORD).get(URL)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 590 and "Too many failed logins" in response.json()["message"]


def test_basic_failures_lock_the_login_form_too_and_other_users_are_unaffected(client, limits):
    make_user("lena-login", perms=True)
    make_user("otto-other", perms=True)
    for _ in range(3):
        basic("lena-login", "wrong").get(URL)
    assert "Too many failed logins" in form_login(client, "lena-login", PASSWORD).content.decode()
    assert basic("otto-other", PASSWORD).get(URL).status_code == 200


def test_a_success_clears_the_count(client, limits):
    make_user("lena-login", perms=True)
    for _ in range(2):
        basic("lena-login", "wrong").get(URL)
    assert basic("lena-login", PASSWORD).get(URL).status_code == 200
    for _ in range(2):
        basic("lena-login", "wrong").get(URL)
    assert form_login(client, "lena-login", PASSWORD).status_code == 302


def test_one_client_guessing_many_usernames_is_locked_out(limits):
    make_user("lena-login", perms=True)
    for i in range(12):  # 3 failures x 4 for a client address
        assert basic(f"guess-{i}", "wrong", "10.0.0.9").get(URL).status_code == 401
    assert basic("lena-login", PASSWORD, "10.0.0.9").get(URL).status_code == 429
    assert basic("lena-login", PASSWORD, "10.0.0.10").get(URL).status_code == 200


def test_the_admin_login_is_throttled(client, limits):
    make_user("root-admin", superuser=True)
    for _ in range(3):
        client.post("/admin/login/", {"username": "root-admin", "password": "wrong"})
    page = client.post("/admin/login/", {"username": "root-admin", "password": PASSWORD}).content.decode()
    assert "Too many failed logins" in page
