from django.db import migrations, models


class Migration(migrations.Migration):
    """A conversation whose citizen can no longer receive the account's messages (a Telegram
    user who blocked the bot): replies are refused with the reason until they can again."""

    dependencies = [
        ("inbox", "0014_records_exports_holds_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="unreachable_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="conversation",
            name="unreachable_reason",
            field=models.CharField(blank=True, max_length=300),
        ),
    ]
