"""The dashboard's rollup of replies per officer and hour, and the indexes of its reads.

The indexes are on the core's and routing's tables but only the dashboard reads through
them, so they live here (PostgreSQL only: covering indexes, ``INCLUDE``, answer from the
index without visiting the table; figures in docs/benchmarks.md).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The dashboard's reads on the core's and routing's tables, each answered from an index alone:
INDEXES = {
    # "assigned": conversations of a period (by first message) per assignee.
    "dash_conv_first_assignee_idx": "ON inbox_conversation (first_inbound_at) INCLUDE (assignee_id, team_id, "
                                    "account_id) WHERE assignee_id IS NOT NULL",
    # The tiles: open conversations by team with their assignee and SLA state.
    "dash_conv_active_tiles_idx": "ON inbox_conversation (status, team_id) INCLUDE (assignee_id, sla_state, "
                                  "account_id) WHERE status IN ('new', 'open', 'pending', 'snoozed')",
    # The about-to-breach and breached lists: open conversations in due order, with the state.
    "dash_conv_due_idx": "ON inbox_conversation (sla_due_at, id) INCLUDE (sla_state, team_id, account_id) "
                         "WHERE status IN ('new', 'open', 'pending', 'snoozed') AND sla_due_at IS NOT NULL",
    # The oldest wait: per calendar, the running response clock that started first.
    "dash_clock_open_started_idx": "ON routing_slaclock (calendar_id, started_at) INCLUDE (conversation_id, "
                                   "paused_seconds) WHERE state IN ('running', 'breached') "
                                   "AND kind IN ('first_response', 'next_response', 'substantive')",
}


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, definition in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0007_sla_columns_calendar_saved_reply_kind'),
        ('routing', '0002_sla_event_append_only'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='OfficerHour',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField()),
                ('team_key', models.PositiveIntegerField(default=0)),
                ('replies', models.PositiveIntegerField(default=0)),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='inbox.channelaccount')),
                ('officer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('team', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='inbox.team')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('hour', 'officer', 'team_key', 'account'), name='officer_hour_uniq')],
            },
        ),
        migrations.RunPython(index_create, index_drop),
    ]
