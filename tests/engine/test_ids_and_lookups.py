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
