"""Migration 0016 created trigram indexes on message text and conversation subject that 0002
already had (``inbox_message_text_trgm``, ``inbox_conversation_subject_trgm``: the same
``UPPER(column) gin_trgm_ops`` expression): every inserted message paid for two GIN updates.
The planner uses 0002's for the same searches. PostgreSQL only, like both."""

from django.db import migrations

DUPLICATES = [
    ("msg_text_trgm_idx", "inbox_message", 'UPPER("text"::text) gin_trgm_ops'),
    ("conv_subject_trgm_idx", "inbox_conversation", 'UPPER("subject"::text) gin_trgm_ops'),
]


def duplicates_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _expression in DUPLICATES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def duplicates_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, expression in DUPLICATES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})")


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0020_notifications"),
    ]

    operations = [
        migrations.RunPython(duplicates_drop, duplicates_create),
    ]
