"""Time-ordered ids and the one-parameter `in_ids` lookup the batch chunks use."""
import uuid

import pytest
from django.db import connection

from engine.models import ActivityInstance, HistoricProcessInstance, Job, ProcessInstance, new_id
from tests.support.factories import deploy, start

pytestmark = pytest.mark.django_db


def test_ids_are_uuid7_and_strictly_increase_in_creation_order():
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[-1])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == ids[-1]


def test_rows_created_later_sort_after_earlier_ones():
    definition = deploy()
    first, second = start(definition), start(definition)
    assert first.id < second.id
    assert list(ProcessInstance.objects.order_by("id").values_list("id", flat=True)) == [first.id, second.id]


def test_in_ids_matches_in_for_plain_and_foreign_key_columns():
    definition = deploy()
    instances = [start(definition) for _ in range(30)]
    wanted = {i.id for i in instances[::3]} | {"unknown-id", "it's \"quoted\" \\ and ünïcode"}
    by_in_ids = set(ProcessInstance.objects.filter(id__in_ids=wanted).values_list("id", flat=True))
    assert by_in_ids == {i.id for i in instances[::3]}
    tokens_in = set(ActivityInstance.objects.filter(process_instance_id__in=list(wanted)).values_list("id", flat=True))
    tokens_in_ids = set(ActivityInstance.objects.filter(process_instance_id__in_ids=wanted).values_list("id", flat=True))
    assert tokens_in_ids == tokens_in and len(tokens_in) == 10
    assert not ProcessInstance.objects.filter(id__in_ids=set()).exists()
    assert HistoricProcessInstance.objects.filter(id__in_ids=iter([instances[0].id])).count() == 1


def test_in_ids_sends_one_parameter_however_many_ids():
    definition = deploy()
    instance = start(definition)
    many = {instance.id} | {f"missing-{n}" for n in range(20_000)}
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        found = list(ProcessInstance.objects.filter(id__in_ids=many).values_list("id", flat=True))
        Job.objects.filter(process_instance_id__in_ids=many).update(retries=7)
    assert found == [instance.id]
    assert len(sent) == 2 and all(len(params) <= 2 and len(sql) < 500 for sql, params in sent)


def test_in_ids_refuses_a_single_string():
    with pytest.raises(TypeError, match="collection of ids"):
        list(ProcessInstance.objects.filter(id__in_ids="abc"))


def test_a_forked_process_does_not_continue_its_parents_counter(monkeypatch):
    import os

    from engine.models import base

    monkeypatch.setattr(base.time, "time_ns", lambda: 1_700_000_000_000_000_000)  # one millisecond for both
    new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave without running any cleanup
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert len(child) == 36 and child != new_id()


PATTERN_INDEXES = """
SELECT table_class.relname, a.attname FROM pg_index i
JOIN pg_class table_class ON table_class.oid = i.indrelid
JOIN pg_opclass opclass ON opclass.oid = i.indclass[0]
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE table_class.relnamespace = current_schema()::regnamespace
  AND opclass.opcname IN ('varchar_pattern_ops', 'text_pattern_ops')
"""


def _pattern_indexes() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(PATTERN_INDEXES)
        return set(cursor.fetchall())


def test_on_postgresql_only_like_filtered_columns_get_a_pattern_index():
    """Id columns get one B-tree, not Django's second varchar_pattern_ops one (engine.backends.postgresql);
    a column a `…Like` parameter filters keeps it, and LIKE on it still works."""
    if connection.vendor != "postgresql":
        pytest.skip("pattern-ops indexes exist on PostgreSQL only")
    ours = {(t, c) for t, c in _pattern_indexes() if t.startswith(("engine_", "batches_", "cockpit_"))}
    assert ("engine_processinstance", "business_key") in ours
    assert ("engine_historicprocessinstance", "business_key") in ours
    assert not {(t, c) for t, c in ours if c == "id" or c.endswith("_id")}, ours
    definition = deploy()
    instance = start(definition, business_key="INV-0042")
    assert list(ProcessInstance.objects.filter(business_key__like="INV-00%").values_list("id", flat=True)) == [instance.id]


def test_the_migration_drops_an_id_pattern_index_a_database_still_has():
    """A database migrated before the backend change has Django's …_like index on id columns; engine
    migration 0006 drops those and keeps the ones on LIKE-filtered columns."""
    if connection.vendor != "postgresql":
        pytest.skip("pattern-ops indexes exist on PostgreSQL only")
    from importlib import import_module

    migration = import_module("engine.migrations.0006_drop_id_like_indexes")
    with connection.cursor() as cursor:
        cursor.execute('CREATE INDEX "engine_job_id_old_like" ON "engine_job" ("id" varchar_pattern_ops)')
        cursor.execute(
            'CREATE INDEX "engine_job_process_instance_id_old_like" ON "engine_job" ("process_instance_id" varchar_pattern_ops)'
        )
    assert ("engine_job", "process_instance_id") in _pattern_indexes()
    with connection.schema_editor() as editor:
        migration.drop_like_indexes(None, editor)
    left = _pattern_indexes()
    assert ("engine_job", "id") not in left and ("engine_job", "process_instance_id") not in left
    assert ("engine_processinstance", "business_key") in left
