"""Trigram indexes for the case-insensitive search over message text and subjects.

PostgreSQL only (``pg_trgm``): ``ILIKE '%words%'`` then uses the index instead of scanning
every message. On SQLite (the embedded default) this migration does nothing.
"""

from django.db import migrations

INDEXES = [
    ("inbox_message_text_trgm", "inbox_message", "text"),
    ("inbox_conversation_subject_trgm", "inbox_conversation", "subject"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
