"""Counting SQL statements per process, for bench/ (off unless COCKPIT_SQL_COUNT_DIR is set).

Each process counts the statements its database connections execute and writes the running total
to `<dir>/<role>-<pid>` after every request (role `web`) and every q2 task (role `worker`), so a
benchmark can report statements per batch item without touching the code it measures.
"""
from __future__ import annotations

import os
from pathlib import Path

_count = {"n": 0}


def _counter(execute, sql, params, many, context):
    _count["n"] += 1
    return execute(sql, params, many, context)


def _install_on(connection, **kwargs) -> None:
    if _counter not in connection.execute_wrappers:
        connection.execute_wrappers.append(_counter)


def _writer(directory: Path, role: str):
    def write(**kwargs) -> None:
        target = directory / f"{role}-{os.getpid()}"
        target.with_suffix(".tmp").write_text(str(_count["n"]))
        target.with_suffix(".tmp").replace(target)

    return write


def install(directory: str):
    """Count from now on; return a function that stops counting (for tests)."""
    from django.core.signals import request_finished
    from django.db import connections
    from django.db.backends.signals import connection_created
    from django_q.signals import post_execute_in_worker

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    web, worker = _writer(path, "web"), _writer(path, "worker")
    connection_created.connect(_install_on, weak=False)
    request_finished.connect(web, weak=False)
    post_execute_in_worker.connect(worker, weak=False)
    for connection in connections.all(initialized_only=True):
        _install_on(connection)

    def uninstall() -> None:
        connection_created.disconnect(_install_on)
        request_finished.disconnect(web)
        post_execute_in_worker.disconnect(worker)
        for connection in connections.all(initialized_only=True):
            if _counter in connection.execute_wrappers:
                connection.execute_wrappers.remove(_counter)

    return uninstall


def totals(directory: str) -> dict[str, int]:
    """Statements so far by role, summed over the processes that wrote a file."""
    sums: dict[str, int] = {}
    for entry in Path(directory).glob("*-*"):
        if entry.suffix == ".tmp":
            continue
        role = entry.name.split("-", 1)[0]
        sums[role] = sums.get(role, 0) + int(entry.read_text() or 0)
    return sums
