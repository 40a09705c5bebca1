"""engine.bulk.rows_insert writes the rows bulk_create would (COPY on PostgreSQL, executemany on SQLite)."""
from datetime import UTC, datetime

import pytest

from batches.models import BatchProgressSample, HistoricBatch
from engine.bulk import rows_insert
from engine.models import Job, JobDefinition


@pytest.mark.django_db
def test_rows_insert_round_trips_json_dates_booleans_and_nulls():
    definition = JobDefinition.objects.create(job_type="t")
    due = datetime(2026, 11, 25, 21, 30, 15, 123000, tzinfo=UTC)
    jobs = [
        Job(job_type="t", job_definition=definition, create_time=due, handler_configuration={"a": [1, "x", None], "b": {"c": True}},
            due_date=due, suspended=True, retries=3, priority=7, exception_message=None),
        Job(job_type="t", job_definition=definition, create_time=due, handler_configuration={}, due_date=None, retries=0),
    ]
    rows_insert(Job, jobs)
    first, second = (Job.objects.get(id=j.id) for j in jobs)
    assert first.handler_configuration == {"a": [1, "x", None], "b": {"c": True}}
    assert first.due_date == due and first.suspended is True and first.priority == 7 and first.exception_message is None
    assert first.job_definition_id == definition.id
    assert second.due_date is None and second.suspended is False and second.handler_configuration == {}
    assert Job.objects.filter(due_date__lte=due).count() == 1  # the stored date compares as a date


@pytest.mark.django_db
def test_rows_insert_lets_the_database_number_auto_keys():
    historic = HistoricBatch.objects.create(
        id="b1", type="t", total_jobs=0, batch_jobs_per_seed=1, invocations_per_batch_job=1,
        seed_job_definition_id="", monitor_job_definition_id="", batch_job_definition_id="",
        start_time=datetime(2026, 11, 25, tzinfo=UTC),
    )
    at = datetime(2026, 11, 25, 1, tzinfo=UTC)
    rows_insert(BatchProgressSample, [BatchProgressSample(batch=historic, at=at, done=i, remaining=10 - i) for i in range(3)])
    samples = list(BatchProgressSample.objects.filter(batch=historic).order_by("id"))
    assert [s.done for s in samples] == [0, 1, 2] and len({s.id for s in samples}) == 3 and samples[0].at == at


@pytest.mark.django_db
def test_copy_text_rows_read_back_as_the_values_rows_of_converted():
    """The demo loader's COPY text (PostgreSQL): escaped strings, JSON, NULL, booleans, dates and
    numbers read back as the same values."""
    from django.db import connection

    from engine.bulk import copy_insert, copy_text, rows_of

    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    definition = JobDefinition.objects.create(job_type="t")
    due = datetime(2026, 11, 25, 21, 30, 15, 123000, tzinfo=UTC)
    tricky = "back\\slash\ttab\nnewline\rreturn \\N ünïcode"
    jobs = [
        Job(job_type="t", job_definition=definition, create_time=due, due_date=due, suspended=True, retries=3,
            handler_configuration={"path": "C:\\temp", "lines": "a\nb", "tab": "\t", "none": None}, priority=-7,
            exception_message=tricky),
        Job(job_type="t", job_definition=definition, create_time=due, handler_configuration={}, due_date=None, retries=0,
            exception_message=None),
    ]
    columns, rows = rows_of(Job, jobs)
    copy_insert(Job, columns, "".join("\t".join(copy_text(v) for v in row) + "\n" for row in rows))
    first, second = (Job.objects.get(id=j.id) for j in jobs)
    assert first.exception_message == tricky and first.priority == -7 and first.suspended is True
    assert first.handler_configuration == {"path": "C:\\temp", "lines": "a\nb", "tab": "\t", "none": None}
    assert first.due_date == due and first.create_time == due and first.job_definition_id == definition.id
    assert second.due_date is None and second.exception_message is None and second.suspended is False
    with pytest.raises(TypeError, match="no COPY text"):
        copy_text(object())
