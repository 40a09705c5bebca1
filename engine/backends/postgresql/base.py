"""Django's PostgreSQL backend without its second index on every indexed varchar column.

For each indexed (or unique, or primary key) varchar column Django also creates a
varchar_pattern_ops index ("…_like"), so that LIKE 'prefix%' can use an index outside the C
collation. Here almost all of those columns are ids, which nothing matches with LIKE; their second
index cost every inserted row another B-tree entry (a third of the index space of a loaded demo
database, bench/RESULTS.md, seventh session). Only the columns a Camunda `…Like` query parameter
matches (engine.selectors) keep it.
"""
from django.db.backends.postgresql import base, schema

# Indexed columns that a `…Like` REST parameter filters with LIKE (engine/selectors.py: keyLike,
# nameLike, businessKeyLike, processInstanceBusinessKeyLike, variableNameLike, …).
LIKE_COLUMNS = frozenset({"key", "name", "business_key", "process_definition_name", "incident_message"})


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def _create_like_index_sql(self, model, field):
        if field.column not in LIKE_COLUMNS:
            return None
        return super()._create_like_index_sql(model, field)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
