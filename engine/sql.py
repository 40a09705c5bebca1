"""Small database functions the ORM lacks, written for SQLite and PostgreSQL."""
import json
from collections.abc import Iterable

from django.db.models import BigIntegerField, Field, ForeignObject, Func, Lookup


class MillisBetween(Func):
    """Whole milliseconds from start to end, computed in the database (no per-row Python)."""

    output_field = BigIntegerField()

    def __init__(self, start, end) -> None:
        super().__init__(start, end)

    def _parts(self, compiler, connection):
        start_sql, start_params = compiler.compile(self.source_expressions[0])
        end_sql, end_params = compiler.compile(self.source_expressions[1])
        return start_sql, end_sql, [*end_params, *start_params]

    def as_sqlite(self, compiler, connection, **extra):
        start, end, params = self._parts(compiler, connection)
        return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400000.0) AS INTEGER)", params

    def as_postgresql(self, compiler, connection, **extra):
        start, end, params = self._parts(compiler, connection)
        return f"CAST(ROUND(EXTRACT(EPOCH FROM ({end} - {start})) * 1000) AS BIGINT)", params

    def as_sql(self, compiler, connection, **extra):  # other databases: not supported here
        raise NotImplementedError(f"MillisBetween is not implemented for {connection.vendor}")


@Field.register_lookup
class InIds(Lookup):
    """`field__in_ids={...}`: membership in a set of ids sent as ONE parameter.

    A plain `__in` with a chunk of 5,000 ids prepares each value in Python and sends 5,000
    placeholders; on a 100k cancellation that was a third of the worker's time (bench/). Here the
    ids travel sorted, as one JSON text (SQLite: `json_each`) or one array (PostgreSQL: `= ANY`),
    and the database probes the column's index once per id, in index order. Pass a set (or any
    iterable that is not a list or tuple): Django walks lists and tuples value by value.
    """

    lookup_name = "in_ids"
    prepare_rhs = False
    can_use_none_as_rhs = False

    def get_prep_lookup(self):
        if isinstance(self.rhs, (str, bytes)) or not isinstance(self.rhs, Iterable):
            raise TypeError("in_ids expects a collection of ids")
        return sorted({str(value) for value in self.rhs})

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::text[])", [*lhs_params, self.rhs]
        if connection.vendor == "sqlite":
            return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, json.dumps(self.rhs)]
        raise NotImplementedError(f"in_ids is not implemented for {connection.vendor}")


ForeignObject.register_lookup(InIds)  # foreign keys keep their own lookup table


@Field.register_lookup
class Like(Lookup):
    """`field__like=pattern`: SQL LIKE with Camunda's wildcards (% and _, escaped by a backslash), case-sensitive.

    Camunda hands `…Like` parameters to the database's LIKE as given. PostgreSQL's LIKE is
    case-sensitive; SQLite's is not, so there the pattern becomes the equivalent GLOB.
    """

    lookup_name = "like"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "sqlite":
            return f"{lhs} GLOB %s", [*lhs_params, like_to_glob(str(self.rhs))]
        return f"{lhs} LIKE %s ESCAPE '\\'", [*lhs_params, str(self.rhs)]


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern as a GLOB pattern: % → *, _ → ?, GLOB's own specials and escapes as literals."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)
