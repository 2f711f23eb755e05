"""The bot's pages: connecting with a token (admins), and the files citizens sent (whoever
may see the conversation; the bot token never reaches the browser)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from channels_adapters.telegram.tests.conftest import API, BOT_ID, TOKEN, deliver, fixture_json
from channels_adapters.telegram.webhook import SECRET_HEADER
from inbox.models import AuditEvent, ChannelAccount, Message
from tests.conftest import login

pytestmark = pytest.mark.django_db
PHOTO_URL = f"/channels/telegram/files/{BOT_ID}/412345678/102/AQADlarge1280/"
JPEG = b"\xff\xd8\xff\xe0" + b"photo-bytes" * 100


@pytest.fixture
def photo(bot, telegram):
    deliver("message__photo_with_caption.json")
    telegram.post(f"{API}/bot{TOKEN}/getFile", json=fixture_json("get_file__ok.json"))
    telegram.get(f"{API}/file/bot{TOKEN}/photos/file_12.jpg", body=JPEG, content_type="image/jpeg")
    return Message.objects.get()


def test_an_officer_of_the_team_opens_the_photo_through_our_page(photo, alice, telegram):
    response = login(alice).get(PHOTO_URL)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == JPEG
    assert response["Content-Type"] == "image/jpeg" and response["X-Content-Type-Options"] == "nosniff"
    assert json.loads(telegram.calls[0].request.body) == {"file_id": "AgACAgQAAxkBAAIBZmdPhotoLarge1280"}
    assert AuditEvent.objects.filter(verb="message.attachment_open", actor=alice).exists()


def test_the_conversation_page_links_the_photo_without_the_bot_token(photo, alice):
    page = login(alice).get(reverse("inbox:conversation", args=[photo.conversation_id])).content.decode()
    assert PHOTO_URL in page and TOKEN not in page and "api.telegram.org" not in page


def test_another_teams_officer_and_anonymous_cannot_open_it(photo, bob, telegram):
    assert login(bob).get(PHOTO_URL).status_code == 404
    anonymous = Client().get(PHOTO_URL)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    assert not telegram.calls  # nothing was fetched for them


def test_a_file_the_message_does_not_name_is_not_fetched(photo, alice, telegram):
    assert login(alice).get(PHOTO_URL.replace("AQADlarge1280", "AQADsmall90")).status_code == 404
    assert not telegram.calls


@override_settings(SITE_URL="https://inbox.example.cat")
def test_an_admin_connects_a_bot_with_its_token_and_the_webhook_is_set(dave, team_a, telegram):
    token = "7000000002:AAEotherTokenForTheConnectPage"
    telegram.post(f"{API}/bot{token}/getMe", json=fixture_json("get_me__ok.json"))
    telegram.post(f"{API}/bot{token}/setWebhook", json={"ok": True, "result": True,
                                                        "description": "Webhook was set"})
    response = login(dave).post("/channels/telegram/connect/",
                                {"bot_token": token, "mode": "webhook", "default_team": team_a.pk})
    assert response.status_code == 302
    account = ChannelAccount.objects.get(platform="telegram", external_id="7000000002")
    assert account.handle == "atencio012_test_bot" and account.credentials["bot_token"] == token
    webhook = json.loads(telegram.calls[1].request.body)
    assert webhook["url"] == "https://inbox.example.cat/webhooks/telegram/"
    assert webhook["secret_token"] == f"7000000002_{account.credentials['webhook_secret']}"
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [account.id])
        assert token not in str(cursor.fetchone()[0])
    assert AuditEvent.objects.filter(verb="channel_account.connect", target_id=str(account.id)).exists()
    # Telegram's next delivery for that bot is accepted with the secret it was given.
    delivered = Client().post("/webhooks/telegram/", data=b'{"update_id": 1, "edited_channel_post": {}}',
                              content_type="application/json", headers={SECRET_HEADER: webhook["secret_token"]})
    assert delivered.status_code == 200


def test_an_invalid_token_connects_nothing(dave, telegram):
    token = "7000000003:AAEwrong"
    telegram.post(f"{API}/bot{token}/getMe", json=fixture_json("error__401.json"), status=401)
    response = login(dave).post("/channels/telegram/connect/", {"bot_token": token, "mode": "polling"})
    assert response.status_code == 400 and b"reconnect" in response.content
    assert not ChannelAccount.objects.filter(platform="telegram").exists()


def test_only_admins_see_the_connect_page(alice, dave):
    assert login(alice).get("/channels/telegram/connect/").status_code == 403
    assert login(dave).get("/channels/telegram/connect/").status_code == 200


def test_switching_to_polling_deletes_the_webhook_first(bot, dave, telegram):
    bot.cursors = {"webhook": {"url": "https://inbox.example.cat/webhooks/telegram/"}}
    bot.save()
    telegram.post(f"{API}/bot{TOKEN}/deleteWebhook", json={"ok": True, "result": True})
    telegram.post(f"{API}/bot{TOKEN}/getUpdates", json=fixture_json("get_updates__empty.json"))
    response = login(dave).post(f"/channels/telegram/accounts/{bot.pk}/mode/", {"mode": "polling"})
    assert response.status_code == 302
    assert [c.request.url.rsplit("/", 1)[-1] for c in telegram.calls][:1] == ["deleteWebhook"]
    bot.refresh_from_db()
    assert bot.cursors["webhook"] == {} and "offset" in bot.cursors["updates"]
