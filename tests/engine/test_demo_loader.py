"""The demo loader copies one built kind of rows per (plan, state): each instance's rows must be
exactly what the engine's row builders make for it, ids aside."""
from datetime import timedelta

import pytest
from django.utils import timezone

from engine.demo import PLANS, Kinds, Rows, _instance_rows, _sample_stacktrace, _state_of, ensure_definitions, load_instances
from engine.bulk import copy_text, rows_of
from engine.models import HistoricProcessInstance, JobDefinition, ProcessInstance
from engine.services.runtime import ASYNC_CONTINUATION

pytestmark = pytest.mark.django_db


def normalised(tables) -> list:
    """Rows by model with every id replaced by its order of first appearance (ids are fresh each time)."""
    seen: dict[str, str] = {}

    def value(v):
        if isinstance(v, str) and len(v) == 36 and v.count("-") == 4:
            return seen.setdefault(v, f"id{len(seen)}")
        return v

    return [(model.__name__, list(columns), [[value(v) for v in row] for row in rows]) for model, columns, rows in tables]


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 12, 13, 18, 19, 25, 37, 161])
def test_each_instance_gets_what_the_row_builders_make_for_it(n):
    slots = ensure_definitions()
    job_definitions = {(jd.process_definition_id, jd.activity_id): jd for jd in JobDefinition.objects.filter(job_type=ASYNC_CONTINUATION)}
    now = timezone.now()
    stacktrace = _sample_stacktrace()
    kinds = Kinds(slots, job_definitions, now, stacktrace)
    plan_index = (n + n // 20) % len(PLANS)
    started = now - timedelta(minutes=n * 7, seconds=n % 60)
    copied = kinds.rows(n, plan_index, _state_of(n), started)
    rows = Rows()
    _instance_rows(rows, n, _state_of(n), PLANS[plan_index], slots, job_definitions, started, now, stacktrace)
    built = [(model, *rows_of(model, objects)) for model, objects in rows.by_model() if objects]
    assert normalised(copied) == normalised(built)
    # The COPY text path (PostgreSQL): the same rows, each field as copy_text renders it.
    lines = kinds.lines(n, plan_index, _state_of(n), started)
    as_fields = [(model, columns, [line.split("\t") for line in out]) for model, columns, out in lines]
    rendered = [(model, columns, [[copy_text(v) for v in row] for row in rows]) for model, columns, rows in built]
    assert normalised(as_fields) == normalised(rendered)


def test_two_instances_of_one_kind_share_no_id():
    load_instances(40)
    assert ProcessInstance.objects.count() + HistoricProcessInstance.objects.filter(end_time__isnull=False).count() == 40
    first, second = HistoricProcessInstance.objects.order_by("business_key")[:2]
    assert first.id != second.id and first.business_key != second.business_key


def stored_shape() -> dict:
    """Each loaded table's row count and, per column, how many values of each stored type (SQLite
    keeps each value's own type; PostgreSQL's are the columns')."""
    from django.db import connection

    from engine.demo import INSERT_ORDER

    shape = {}
    with connection.cursor() as cursor:
        for model in INSERT_ORDER:
            table = connection.ops.quote_name(model._meta.db_table)
            if connection.vendor == "sqlite":
                for column in model._meta.concrete_fields:
                    name = connection.ops.quote_name(column.column)
                    cursor.execute(f"SELECT typeof({name}), count(*) FROM {table} GROUP BY 1")
                    shape[(table, column.column)] = dict(cursor.fetchall())
            cursor.execute(f"SELECT count(*) FROM {table}")
            shape[table] = cursor.fetchone()[0]
    return shape


def added(before: dict, after: dict) -> dict:
    """What a load added to each stored_shape figure."""
    def minus(now, then):
        if isinstance(now, dict):
            return {t: n - then.get(t, 0) for t, n in now.items() if n != then.get(t, 0)}
        return now - then

    return {key: minus(value, before[key]) for key, value in after.items()}


@pytest.mark.django_db(transaction=True)
def test_loading_in_several_processes_loads_what_one_process_loads(monkeypatch):
    """Chunks built by two spawned processes (on PostgreSQL loaded over their own connections, on
    SQLite staged in files and copied in by this one) give the same rows, tally and stored types as
    one process loading the same instances."""
    import engine.demo

    monkeypatch.setattr(engine.demo, "CHUNK", 70)
    expected = {state: sum(1 for i in range(400) if _state_of(i) == state) for state in set(map(_state_of, range(400)))}
    ensure_definitions()
    before = stored_shape()
    assert load_instances(400, processes=1) == expected
    once = stored_shape()
    done: list[int] = []
    tally = load_instances(400, processes=2, progress=done.append)
    assert sorted(done) == [50] + [70] * 5 and tally == expected
    assert added(before, once) == added(once, stored_shape())
    keys = list(HistoricProcessInstance.objects.values_list("business_key", flat=True))
    assert len(keys) == 800 and len(set(keys)) == 800
    running = HistoricProcessInstance.objects.filter(end_time__isnull=True).count()
    assert ProcessInstance.objects.count() == running == 2 * sum(n for s, n in tally.items() if s not in ("completed", "terminated"))


@pytest.mark.django_db(transaction=True)
def test_a_staged_chunk_that_cannot_be_copied_leaves_nothing_behind(tmp_path):
    """SQLite: a staged chunk whose copy fails is rolled back whole, and the staging database is detached."""
    from django.db import connection

    from engine.demo import ChunkLoader, merge_staged

    if connection.vendor != "sqlite":
        pytest.skip("staging files are SQLite's")
    ensure_definitions()
    path = str(tmp_path / "chunk.sqlite3")
    staged, tally = ChunkLoader(timezone.now()).stage(0, 40, 40, 0, path)
    assert sum(tally.values()) == 40
    broken = [*staged, (ProcessInstance, ["no_such_column"])]
    with pytest.raises(Exception, match="no_such_column"):
        merge_staged(path, broken)
    assert HistoricProcessInstance.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA database_list")
        assert [row[1] for row in cursor.fetchall()] == ["main"]
    merge_staged(path, staged)
    assert HistoricProcessInstance.objects.count() == 40


@pytest.mark.django_db(transaction=True)
def test_the_load_command_leaves_postgresql_statistics_behind():
    """load_demo_data ANALYZEs what it loaded: without statistics, a batch chunk's ANY(ids) was
    planned as a whole-table scan (bench/RESULTS.md, seventh session)."""
    from io import StringIO

    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps no statistics unless asked")
    out = StringIO()
    call_command("load_demo_data", "--instances", "60", "--no-progress", "--processes", "1", stdout=out)
    assert "then analyzed in" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname IN ('engine_processinstance', 'engine_historicactivityinstance')"
            " AND reltuples >= 0"
        )
        assert {name for (name,) in cursor.fetchall()} == {"engine_processinstance", "engine_historicactivityinstance"}
