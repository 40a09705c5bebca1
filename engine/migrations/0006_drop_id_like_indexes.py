"""Drop the varchar_pattern_ops ("…_like") indexes Django made on PostgreSQL for id columns.

The backend (engine.backends.postgresql) no longer creates them; this removes those an existing
database has. Columns a `…Like` query parameter filters keep theirs (LIKE_COLUMNS).
"""
from django.db import migrations

from engine.backends.postgresql.base import LIKE_COLUMNS

PATTERN_INDEXES = """
SELECT index_class.relname
FROM pg_index i
JOIN pg_class index_class ON index_class.oid = i.indexrelid
JOIN pg_class table_class ON table_class.oid = i.indrelid
JOIN pg_opclass opclass ON opclass.oid = i.indclass[0]
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE table_class.relnamespace = current_schema()::regnamespace
  AND i.indnatts = 1
  AND opclass.opcname IN ('varchar_pattern_ops', 'text_pattern_ops')
  AND index_class.relname LIKE '%%\\_like'
  AND (table_class.relname LIKE 'engine\\_%%' OR table_class.relname LIKE 'batches\\_%%'
       OR table_class.relname LIKE 'cockpit\\_%%')
  AND NOT (a.attname = ANY(%s))
"""


def drop_like_indexes(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(PATTERN_INDEXES, [sorted(LIKE_COLUMNS)])
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0005_events_external_tasks_removal_time"),
        ("batches", "0007_item_batch_index_covered_by_position"),
        ("cockpit", "0004_api_tokens"),
    ]

    operations = [migrations.RunPython(drop_like_indexes, migrations.RunPython.noop)]
