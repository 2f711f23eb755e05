"""getUpdates polling: the offset cursor, and the switch between polling and the webhook."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from channels_adapters.tasks import poll_channel
from channels_adapters.telegram.tests.conftest import API, TOKEN, fixture_json
from inbox.models import Message

pytestmark = pytest.mark.django_db


def test_polling_stores_the_page_and_moves_the_offset_past_it(bot, telegram):
    telegram.post(f"{API}/bot{TOKEN}/getWebhookInfo", json=fixture_json("get_webhook_info__none.json"))
    telegram.post(f"{API}/bot{TOKEN}/getUpdates", json=fixture_json("get_updates__with_one_unreadable.json"))
    poll_channel(bot.id)
    bot.refresh_from_db()
    assert bot.cursors["updates"] == {"offset": 815000015}
    assert Message.objects.count() == 2
    telegram.replace("POST", f"{API}/bot{TOKEN}/getUpdates", json=fixture_json("get_updates__empty.json"))
    poll_channel(bot.id)
    asked = json.loads(telegram.calls[-1].request.body)
    assert asked["offset"] == 815000015 and asked["timeout"] > 0
    assert set(asked["allowed_updates"]) == {"message", "edited_message", "my_chat_member"}


def test_a_failed_poll_keeps_the_offset_so_the_updates_are_asked_for_again(bot, telegram):
    bot.cursors = {"updates": {"offset": 815000001}}
    bot.save()
    telegram.post(f"{API}/bot{TOKEN}/getUpdates", status=502, body="Bad Gateway")
    poll_channel(bot.id)
    bot.refresh_from_db()
    assert bot.cursors["updates"] == {"offset": 815000001} and "trouble" in bot.last_error


@override_settings(SITE_URL="https://inbox.example.cat")
def test_a_webhook_set_to_this_inbox_stops_polling(bot, telegram):
    telegram.post(f"{API}/bot{TOKEN}/getWebhookInfo",
                  json={"ok": True, "result": {"url": "https://inbox.example.cat/webhooks/telegram/"}})
    poll_channel(bot.id)
    bot.refresh_from_db()
    assert bot.cursors["webhook"]["url"] == "https://inbox.example.cat/webhooks/telegram/"
    assert not any("getUpdates" in c.request.url for c in telegram.calls)
