"""Freezing a selection into BatchItem rows with set-based inserts: ids never pass through Python."""
from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, QuerySet

from batches.models import BatchItem
from batches.operations.base import Selection

EXPLICIT_CHUNK = 5000


def items_insert(batch_id: str, selection: Selection) -> int:
    """Insert explicit ids (deduplicated, in order) then each query's ids not yet present; return the count."""
    count = 0
    seen: set[str] = set()
    explicit = [i for i in selection.ids if not (i in seen or seen.add(i))]
    for start in range(0, len(explicit), EXPLICIT_CHUNK):
        chunk = explicit[start : start + EXPLICIT_CHUNK]
        BatchItem.objects.bulk_create(
            BatchItem(batch_id=batch_id, seq=count + offset, target_id=target) for offset, target in enumerate(chunk)
        )
        count += len(chunk)
    for source in selection.sources:
        count += _insert_from_query(batch_id, source, count, bool(count))
    return count


def _insert_from_query(batch_id: str, source: QuerySet, offset: int, dedupe: bool) -> int:
    if dedupe:
        source = source.exclude(pk__in=BatchItem.objects.filter(batch_id=batch_id).values("target_id"))
    ids = source.order_by().annotate(batch_target=F("pk")).values_list("batch_target", flat=True)
    try:
        sql, params = ids.query.sql_with_params()
    except EmptyResultSet:  # a query that can match nothing (e.g. id__in=[])
        return 0
    table = connection.ops.quote_name(BatchItem._meta.db_table)
    statement = (
        f"INSERT INTO {table} (batch_id, seq, target_id, state) "
        f"SELECT %s, ROW_NUMBER() OVER (ORDER BY sel.target) + %s - 1, sel.target, %s "
        f"FROM (SELECT DISTINCT q.batch_target AS target FROM ({sql}) q) sel"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [batch_id, offset, BatchItem.PENDING, *params])
        return cursor.rowcount
