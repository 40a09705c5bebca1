"""The demo loader's worker processes (engine.demo.load_instances with processes > 1).

On PostgreSQL each process loads whole chunks over its own connection. On SQLite, which admits one
writer, each process builds a chunk into a staging file (ChunkLoader.stage) and the parent copies
the staged chunks into the database one after another (engine.demo.merge_staged).

Started with "spawn", so nothing of the parent's threads or connections is inherited; this module
imports no Django at its top, because a spawned process imports it (to find its functions)
before Django is set up.
"""
from __future__ import annotations

import itertools
import multiprocessing
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import datetime
from pathlib import Path

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


def _stage(start: int, stop: int, count: int, offset: int, path: str) -> tuple[str, list, dict[str, int]]:
    staged, tally = _loader.stage(start, stop, count, offset, path)
    return path, staged, tally


def load_chunks(
    chunks: list[tuple[int, int]], count: int, offset: int, now: datetime, processes: int
) -> Iterator[dict[str, int]]:
    """Load the chunks (start, stop) with processes processes; yield each chunk's instances by state
    as it commits. A chunk that fails raises here, after the chunks already committed.

    At most two chunks per process are under way at once, so staged chunks never pile up on disk.
    """
    from django.db import connection

    from engine.demo import merge_staged

    sqlite = connection.vendor == "sqlite"
    database = {"NAME": connection.settings_dict["NAME"]}
    context = multiprocessing.get_context("spawn")
    staging = Path(tempfile.mkdtemp(prefix="cockpit-demo-")) if sqlite else None
    pending = iter(chunks)
    running = set()
    try:
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_start, initargs=(database, now)) as pool:

            def submit() -> None:
                for start, stop in itertools.islice(pending, 2 * processes - len(running)):
                    if sqlite:
                        running.add(pool.submit(_stage, start, stop, count, offset, str(staging / f"{start}.sqlite3")))
                    else:
                        running.add(pool.submit(_load, start, stop, count, offset))

            try:
                submit()
                while running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.discard(future)
                        if sqlite:
                            path, staged, tally = future.result()
                            merge_staged(path, staged)
                            Path(path).unlink()
                        else:
                            tally = future.result()
                        submit()
                        yield tally
            except BaseException:
                for future in running:
                    future.cancel()
                raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
