"""A bot added from the command line, with a credentials file, receives on the webhook."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from channels_adapters.telegram.tests.conftest import fixture_bytes, post_telegram
from inbox.models import AuditEvent, ChannelAccount, Message

pytestmark = pytest.mark.django_db


def test_add_channel_account_with_a_credentials_file_and_the_webhook_accepts_its_secret(tmp_path, team_a):
    credentials = tmp_path / "bot.json"
    credentials.write_text(json.dumps({"bot_token": "7000000001:AAHcli", "webhook_secret": "cli-secret_42"}))
    out = StringIO()
    call_command("add_channel_account", "--platform", "telegram", "--external-id", "7000000001",
                 "--name", "012", "--team", team_a.slug, "--credentials-file", str(credentials),
                 stdout=out, stderr=StringIO())
    account = ChannelAccount.objects.get(pk=int(out.getvalue()))
    assert account.status == ChannelAccount.Status.ACTIVE
    assert account.credentials == {"bot_token": "7000000001:AAHcli", "webhook_secret": "cli-secret_42"}
    assert AuditEvent.objects.filter(verb="channel_account.connect", target_id=str(account.pk)).exists()
    # Telegram repeats "<bot id>_<webhook_secret>", as setWebhook was told.
    response = post_telegram(Client(), fixture_bytes("message__text.json"), token="7000000001_cli-secret_42")
    assert response.status_code == 200 and Message.objects.get().account == account
