from django.db import migrations, models

# Search (inbox/selectors.py, conversation_search_q): case-insensitive substring matches on
# UPPER(column), which is what Django's ``icontains`` asks PostgreSQL for, served by trigram
# GIN indexes. PostgreSQL only: the SQLite development default scans.
TRIGRAM_INDEXES = [
    ("msg_text_trgm_idx", "inbox_message", 'UPPER("text"::text) gin_trgm_ops'),
    ("conv_subject_trgm_idx", "inbox_conversation", 'UPPER("subject"::text) gin_trgm_ops'),
    ("contact_name_trgm_idx", "inbox_contact", 'UPPER("name"::text) gin_trgm_ops'),
    ("contact_handle_trgm_idx", "inbox_contact", 'UPPER("handle"::text) gin_trgm_ops'),
]


def trigram_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in TRIGRAM_INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})")


def trigram_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _expression in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    """Snooze until a time (and the woken-first block of the queue), and the search indexes."""

    dependencies = [
        ("inbox", "0015_conversation_unreachable"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="snoozed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="conversation",
            name="woken_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("status", "snoozed")), fields=["snoozed_until", "id"], name="conv_snooze_due_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("woken_at__isnull", False)), fields=["team", "-woken_at", "-id"],
                name="conv_woken_idx",
            ),
        ),
        migrations.RunPython(trigram_indexes_create, trigram_indexes_drop, elidable=False),
    ]
