"""The bench's statement counter: per process, per role, written after each request."""
import pytest

from cockpit import sqlcount

pytestmark = pytest.mark.django_db


def test_requests_write_their_running_statement_count(admin_user, client, tmp_path):
    client.force_login(admin_user)
    uninstall = sqlcount.install(str(tmp_path))
    try:
        client.get("/engine-rest/batch/count")
        first = sqlcount.totals(str(tmp_path))["web"]
        client.get("/engine-rest/batch/count")
        second = sqlcount.totals(str(tmp_path))["web"]
    finally:
        uninstall()
    assert 0 < first < second
    client.get("/engine-rest/batch/count")
    assert sqlcount.totals(str(tmp_path))["web"] == second  # nothing counted once uninstalled
