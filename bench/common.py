"""Shared pieces of the benchmarks: a fresh database, the servers as subprocesses, RSS sampling."""
from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SQLITE_PATH = Path("/tmp/cockpit-bench.sqlite3")
PG_DATABASE = "cockpit_bench"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
PASSWORD = "bench-password"


def database_url(kind: str, database: str = PG_DATABASE) -> str:
    return f"sqlite:///{SQLITE_PATH}" if kind == "sqlite" else f"postgres://postgres@127.0.0.1:5432/{database}"


def base_env(kind: str, database: str = PG_DATABASE, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(kind, database),
        "DJANGO_SECRET_KEY": "bench-secret-key",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SETTINGS_MODULE": "cockpit.settings",
        "Q_CLUSTER_NAME": f"bench-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    if kind == "postgres" and os.environ.get("REDIS_URL") is None:
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    if kind == "sqlite":
        env.pop("REDIS_URL", None)
    return env


def fresh_database(kind: str, database: str = PG_DATABASE) -> None:
    _drop(kind, str(SQLITE_PATH) if kind == "sqlite" else database)
    if kind != "sqlite":
        _admin_sql(f'CREATE DATABASE "{database}"')


def _drop(kind: str, target: str) -> None:
    """Remove a SQLite database file (and its WAL and shared memory) or a PostgreSQL database."""
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    else:
        _admin_sql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def _admin_sql(*statements: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _snapshot_name(kind: str, database: str) -> str:
    return f"{SQLITE_PATH}.snapshot" if kind == "sqlite" else f"{database}_snapshot"


def _copy_database(kind: str, source: str, target: str) -> None:
    """Replace target (a SQLite path or a PostgreSQL database) by a copy of source. No process may
    be connected to either (the servers are stopped)."""
    _drop(kind, target)
    if kind == "sqlite":
        for suffix in ("", "-wal"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
        return
    # FILE_COPY: a checkpoint and a copy of the files; the default (WAL_LOG) writes every page to
    # the WAL, minutes for a million instances.
    _admin_sql(f'CREATE DATABASE "{target}" TEMPLATE "{source}" STRATEGY FILE_COPY')


def snapshot(kind: str, database: str = PG_DATABASE) -> None:
    """Keep a copy of the loaded database for restore(): loading a million demo instances takes
    minutes, copying the files seconds."""
    _copy_database(kind, str(SQLITE_PATH) if kind == "sqlite" else database, _snapshot_name(kind, database))


def restore(kind: str, database: str = PG_DATABASE) -> None:
    """The database as snapshot() saw it."""
    _copy_database(kind, _snapshot_name(kind, database), str(SQLITE_PATH) if kind == "sqlite" else database)


def drop_snapshot(kind: str, database: str = PG_DATABASE) -> None:
    _drop(kind, _snapshot_name(kind, database))


def manage(env: dict, *args: str) -> str:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def prepare(kind: str, instances: int, database: str = PG_DATABASE) -> dict:
    """A fresh database with migrations, demo users and `instances` demo instances."""
    env = base_env(kind, database)
    fresh_database(kind, database)
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")  # the login page links hashed static files
    manage(env, "load_demo_data", "--instances", str(instances), "--password", PASSWORD)
    return env


class Servers:
    """gunicorn and `clusters` worker nodes on the bench database; stopped on exit.

    Each node is `manage.py workers`, as `make run` starts it: the q2 cluster under its supervisor
    (README "Supervised workers"). cluster_env(i) adds environment variables for the i-th node
    (e.g. its own application_name).
    """

    def __init__(
        self,
        env: dict,
        port: int = 8765,
        workers: int = 2,
        *,
        clusters: int = 1,
        cluster_env: Callable[[int], dict] | None = None,
        web_workers: int = 2,
        log_prefix: str = "cockpit-bench",
    ) -> None:
        self.env = {**env, "Q_WORKERS": str(workers)}
        self.port = port
        self.clusters_wanted = clusters
        self.cluster_env = cluster_env or (lambda i: {})
        self.web_workers = web_workers
        self.log_prefix = log_prefix
        self.web = self.cluster = None
        self.clusters: list[subprocess.Popen] = []

    def _log(self, name: str):
        """Server output goes to /tmp/<log_prefix>-<name>.log (read it when a run fails)."""
        return open(f"/tmp/{self.log_prefix}-{name}.log", "w")  # noqa: SIM115  (closed with the process)

    def __enter__(self) -> Servers:
        self.web = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "cockpit.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.web_workers)],
            cwd=ROOT, env=self.env, stdout=self._log("web"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        for i in range(self.clusters_wanted):
            self.clusters.append(subprocess.Popen(
                [PYTHON, "manage.py", "workers"], cwd=ROOT, env={**self.env, **self.cluster_env(i)},
                stdout=self._log("cluster" if i == 0 else f"cluster{i + 1}"), stderr=subprocess.STDOUT,
                start_new_session=True,
            ))
        self.cluster = self.clusters[0] if self.clusters else None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.login()
                return self
            except OSError:
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the web server did not start; see /tmp/{self.log_prefix}-web.log")

    def __exit__(self, *exc) -> None:
        for process in (*self.clusters, self.web):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (*self.clusters, self.web):
            if process:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def login(self) -> None:
        """Log in once through the login form, like the Cockpit UI: later requests carry the session.

        HTTP Basic would hash the password (PBKDF2) on every request; the bench polls the batch
        every 50 ms, and that hashing would take a core from the workers being measured.
        """
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        url = f"http://127.0.0.1:{self.port}/accounts/login/"
        self.opener.open(url, timeout=30).read()
        form = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": self._csrf(jar)})
        self.opener.open(urllib.request.Request(url, data=form.encode(), headers={"Referer": url}), timeout=30).read()
        if not any(cookie.name == "sessionid" for cookie in jar):
            raise RuntimeError("bench login failed")
        self.jar = jar

    @staticmethod
    def _csrf(jar) -> str:
        return next(cookie.value for cookie in jar if cookie.name == "csrftoken")

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "X-CSRFToken": self._csrf(self.jar), "Referer": f"http://127.0.0.1:{self.port}/"}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers=headers)
        with self.opener.open(request, timeout=120) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str):
        return self.request("GET", path)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakRss:
    """Samples the largest single-process RSS under each root pid every 0.2 s."""

    def __init__(self, **roots: int) -> None:
        self.roots = roots
        self.peak = {name: 0.0 for name in roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, root in self.roots.items():
                biggest = max((rss_mb(p) for p in descendants(root)), default=0.0)
                self.peak[name] = max(self.peak[name], biggest)
            time.sleep(0.2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def table(headers: list[str], rows: list[list]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda values: "  ".join(str(v).rjust(w) for v, w in zip(values, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
