"""Freezing a selection into target rows with set-based inserts: ids never pass through Python.

The same code fills a batch's items and any other table of frozen targets (the wizard's confirmed
selection), so what the operator confirmed and what the batch runs on are resolved identically.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, Model, QuerySet

from batches.models import BatchItem
from batches.operations.base import Selection
from engine.errors import BadUserRequest

EXPLICIT_CHUNK = 5000


@dataclass(frozen=True)
class TargetTable:
    """A table of frozen targets: its model (with a `target_id` column), the column naming the owner
    (a batch, a selection), whether rows carry their position (`seq`), and columns with one value."""

    model: type[Model]
    owner: str
    numbered: bool = False
    constants: tuple[tuple[str, object], ...] = ()

    def rows(self, owner_id: str) -> QuerySet:
        return self.model.objects.filter(**{self.owner: owner_id})

    def row(self, owner_id: str, target_id: str, seq: int) -> Model:
        numbered = {"seq": seq} if self.numbered else {}
        return self.model(**{self.owner: owner_id, "target_id": target_id, **dict(self.constants), **numbered})


BATCH_ITEMS = TargetTable(BatchItem, "batch_id", numbered=True, constants=(("state", BatchItem.PENDING),))


def items_insert(batch_id: str, selection: Selection) -> int:
    """Freeze a batch's selection as its BatchItem rows; return the count."""
    return targets_insert(BATCH_ITEMS, batch_id, selection)


def targets_insert(table: TargetTable, owner_id: str, selection: Selection) -> int:
    """Insert explicit ids (deduplicated, in order), then copied items' targets, then each query's ids
    not yet present; return the count."""
    count = 0
    seen: set[str] = set()
    explicit = [i for i in selection.ids if not (i in seen or seen.add(i))]
    for start in range(0, len(explicit), EXPLICIT_CHUNK):
        chunk = explicit[start : start + EXPLICIT_CHUNK]
        table.model.objects.bulk_create(table.row(owner_id, target, count + k) for k, target in enumerate(chunk))
        count += len(chunk)
    if selection.copied is not None:
        count += _insert_copied(table, owner_id, selection.copied, count)
    for source in selection.sources:
        count += _insert_from_query(table, owner_id, source, count, bool(count))
    return count


def _insert_from_query(table: TargetTable, owner_id: str, source: QuerySet, offset: int, dedupe: bool) -> int:
    if dedupe:
        source = source.exclude(pk__in=table.rows(owner_id).values("target_id"))
    ids = source.order_by().annotate(batch_target=F("pk")).values_list("batch_target", flat=True)
    try:
        sql, params = ids.query.sql_with_params()
    except EmptyResultSet:  # a query that can match nothing (e.g. id__in=[])
        return 0
    distinct = f"(SELECT DISTINCT q.batch_target AS target FROM ({sql}) q) sel"
    return _insert_rows(table, owner_id, offset, "sel.target", "sel.target", distinct, params)


def _insert_copied(table: TargetTable, owner_id: str, items: QuerySet, offset: int) -> int:
    """Copy the targets of earlier items (BatchItem rows) in their order, with one INSERT … SELECT."""
    if offset:
        items = items.exclude(target_id__in=table.rows(owner_id).values("target_id"))
    source = items.order_by().annotate(copied_seq=F("seq"), copied_target=F("target_id"))
    try:
        sql, params = source.values_list("copied_seq", "copied_target").query.sql_with_params()
    except EmptyResultSet:
        return 0
    return _insert_rows(table, owner_id, offset, "src.copied_seq", "src.copied_target", f"({sql}) src", params)


def _insert_rows(
    table: TargetTable, owner_id: str, offset: int, order: str, target: str, source: str, params: list
) -> int:
    """INSERT … SELECT rows of table for owner_id from source (SQL), numbered by order from offset."""
    quote, fields = connection.ops.quote_name, table.model._meta
    columns = [table.owner, *(["seq"] if table.numbered else []), "target_id", *(name for name, _ in table.constants)]
    values = ["%s", *([f"ROW_NUMBER() OVER (ORDER BY {order}) + %s - 1"] if table.numbered else []), target]
    values += ["%s"] * len(table.constants)
    statement = (
        f"INSERT INTO {quote(fields.db_table)} ({', '.join(quote(fields.get_field(c).column) for c in columns)}) "
        f"SELECT {', '.join(values)} FROM {source}"
    )
    head = [owner_id, *([offset] if table.numbered else [])]
    with connection.cursor() as cursor:
        cursor.execute(statement, [*head, *(value for _, value in table.constants), *params])
        return cursor.rowcount


def selection_count(selection: Selection) -> int:
    """How many targets a selection would freeze into (the same deduplication), counted in the database."""
    explicit = set(selection.ids)
    queries = [
        (source.exclude(pk__in_ids=explicit) if explicit else source).order_by().values_list("pk", flat=True)
        for source in selection.sources
    ]
    if not queries:
        return len(explicit)
    if len(queries) == 1:
        return len(explicit) + queries[0].distinct().count()
    return len(explicit) + queries[0].union(*queries[1:]).count()


def selection_ids(selection: Selection, limit: int, too_many: str) -> list[str]:
    """The targets of a selection as a list, for synchronous execution: at most limit, else a 400 (too_many)."""
    found = list(dict.fromkeys(selection.ids))
    seen = set(found)
    for source in selection.sources:
        for target in source.order_by("pk").values_list("pk", flat=True)[: limit + 1]:
            if target not in seen:
                seen.add(target)
                found.append(target)
        if len(found) > limit:
            break
    if len(found) > limit:
        raise BadUserRequest(too_many)
    return found
