"""The demo loader's worker processes (engine.demo.load_instances with processes > 1, PostgreSQL).

Started with "spawn", so nothing of the parent's threads or connections is inherited; this module
imports no Django at its top, because a spawned process imports it (to find its functions)
before Django is set up.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime

_loader = None


def _start(database: dict, now: datetime) -> None:
    import django

    django.setup()
    from django.conf import settings

    settings.DATABASES["default"].update(database)  # the parent's database (a test run's test database)
    from engine.demo import ChunkLoader

    global _loader
    _loader = ChunkLoader(now)


def _load(start: int, stop: int, count: int, offset: int) -> dict[str, int]:
    return _loader.load(start, stop, count, offset)


def load_chunks(
    chunks: list[tuple[int, int]], count: int, offset: int, now: datetime, processes: int
) -> Iterator[dict[str, int]]:
    """Load the chunks (start, stop) in processes processes; yield each chunk's instances by state
    as it commits. A chunk that fails raises here, after the chunks already committed."""
    from django.db import connection

    database = {"NAME": connection.settings_dict["NAME"]}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start, initargs=(database, now)) as pool:
        futures = [pool.submit(_load, start, stop, count, offset) for start, stop in chunks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
