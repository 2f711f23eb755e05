"""On PostgreSQL the ledger refuses UPDATE and DELETE in the database itself, not only in
``SlaEvent.save``/``delete``: a bulk ``.update()`` or a raw statement cannot rewrite it."""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION routing_slaevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'SLA events are append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER routing_slaevent_append_only
    BEFORE UPDATE OR DELETE ON routing_slaevent
    FOR EACH ROW EXECUTE FUNCTION routing_slaevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS routing_slaevent_append_only ON routing_slaevent;
DROP FUNCTION IF EXISTS routing_slaevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
