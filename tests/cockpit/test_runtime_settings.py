"""Process-level settings the web server runs with: PostgreSQL without JIT, startup objects frozen."""
import gc

import pytest
from django.db import connection


@pytest.mark.django_db
def test_postgresql_connections_run_without_jit():
    """Short statements tripped jit_above_cost (22 of 34 ms compiling the batch statistics);
    DATABASE_JIT=true is the way back (cockpit/settings.py)."""
    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_the_wsgi_module_freezes_what_starting_made():
    """cockpit.wsgi freezes the objects made while starting, so full collections skip them."""
    import importlib

    import cockpit.wsgi

    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        importlib.reload(cockpit.wsgi)
        assert gc.get_freeze_count() > 0 and callable(cockpit.wsgi.application)
    finally:
        gc.unfreeze()


def test_a_webhook_allowed_network_that_is_not_a_network_stops_start_up():
    """WEBHOOK_ALLOWED_NETWORKS is checked when the settings load, not at the first send."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cockpit.settings", "DJANGO_DEBUG": "1",
           "WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, not-a-network"}
    code = "import django; django.setup()"
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "WEBHOOK_ALLOWED_NETWORKS: 'not-a-network' is not a network" in result.stderr
    env["WEBHOOK_ALLOWED_NETWORKS"] = "10.0.0.0/8, fd00::/8"
    assert subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True).returncode == 0
