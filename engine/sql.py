"""Small database functions the ORM lacks, written for SQLite and PostgreSQL."""
from django.db.models import BigIntegerField, Func


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
