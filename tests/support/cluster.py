"""Run a real django-q2 cluster (manage.py qcluster) against the test database."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class Cluster:
    def __init__(self, workers: int = 2, *, command: str = "qcluster", args: Sequence[str] = (), **env: str) -> None:
        self.workers = workers
        self.command = command
        self.args = list(args)
        self.env = env
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="qcluster-", suffix=".log", delete=False)

    def start(self) -> Cluster:
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "DJANGO_SETTINGS_MODULE": "cockpit.settings_test",
            "Q_WORKERS": str(self.workers),
            **self.env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", self.command, *self.args],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGTERM to the qcluster parent only: it stops its own workers in order.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        try:  # whatever the cluster left behind (a stuck worker) goes too
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


def wait_for(predicate: Callable[[], object], *, timeout: float = 60, message: str = "condition") -> object:
    """Poll until predicate() is truthy; fail with message after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
