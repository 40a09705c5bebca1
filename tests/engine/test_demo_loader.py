"""The demo loader copies one built kind of rows per (plan, state): each instance's rows must be
exactly what the engine's row builders make for it, ids aside."""
from datetime import timedelta

import pytest
from django.utils import timezone

from engine.demo import PLANS, Kinds, Rows, _instance_rows, _sample_stacktrace, _state_of, ensure_definitions, load_instances
from engine.bulk import rows_of
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


def test_two_instances_of_one_kind_share_no_id():
    load_instances(40)
    assert ProcessInstance.objects.count() + HistoricProcessInstance.objects.filter(end_time__isnull=False).count() == 40
    first, second = HistoricProcessInstance.objects.order_by("business_key")[:2]
    assert first.id != second.id and first.business_key != second.business_key
