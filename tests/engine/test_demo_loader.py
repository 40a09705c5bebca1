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


@pytest.mark.django_db(transaction=True)
def test_loading_in_several_processes_loads_each_instance_once(monkeypatch):
    """PostgreSQL: chunks loaded by two spawned processes over their own connections (to the test
    database) give the same instances, states and tally as one process would."""
    from django.db import connection

    import engine.demo

    if connection.vendor != "postgresql":
        pytest.skip("SQLite loads in one process")
    monkeypatch.setattr(engine.demo, "CHUNK", 70)
    done: list[int] = []
    tally = load_instances(400, processes=2, progress=done.append)
    assert sorted(done) == [50] + [70] * 5 and sum(tally.values()) == 400
    assert tally == {state: sum(1 for i in range(400) if _state_of(i) == state) for state in set(map(_state_of, range(400)))}
    keys = list(HistoricProcessInstance.objects.values_list("business_key", flat=True))
    assert len(keys) == 400 and len(set(keys)) == 400
    running = HistoricProcessInstance.objects.filter(end_time__isnull=True).count()
    assert ProcessInstance.objects.count() == running == sum(n for s, n in tally.items() if s not in ("completed", "terminated"))


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
