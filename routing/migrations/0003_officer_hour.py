"""The dashboard's rollup of replies per officer and hour, and an index for its per-officer
"assigned" column (conversations of a period now assigned to each officer).

The index is on the core's table but only the dashboard reads through it, so it lives here
(PostgreSQL only: a covering index, ``INCLUDE``, answers the count without the table).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEX = (
    "CREATE INDEX IF NOT EXISTS dash_conv_assignee_first_idx ON inbox_conversation "
    "(assignee_id, first_inbound_at) INCLUDE (team_id, account_id) WHERE assignee_id IS NOT NULL"
)


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX)


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS dash_conv_assignee_first_idx")


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
