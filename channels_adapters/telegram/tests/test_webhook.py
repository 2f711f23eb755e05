"""Telegram's webhook: the secret token, and every kind of Update read into the inbox.

Fixtures are written from the Bot API's documentation (https://core.telegram.org/bots/api#update);
``fixtures/recorded/`` reproduces the field sets of real private-chat updates quoted in public
repositories (a recorded text update in zhmurko/tg-coffeebot-heroku ``bot/respond.go`` and a
recorded ``/start`` with its ``bot_command`` entity), ids and names replaced.
"""

from __future__ import annotations

import pytest
from django.test import Client

from channels_adapters.base import PollResult
from channels_adapters.pipeline import poll_result_store
from channels_adapters.telegram.payloads import poll_page
from channels_adapters.telegram.tests.conftest import (
    BOT_ID,
    SECRET,
    deliver,
    fixture_bytes,
    fixture_json,
    post_telegram,
)
from channels_adapters.telegram.webhook import secret_token
from inbox.models import Conversation, Message, MessageRevision, QuarantinedItem, RawEvent

pytestmark = pytest.mark.django_db


def test_a_private_message_opens_a_conversation_in_the_chat(bot):
    deliver("message__text.json")
    message = Message.objects.get()
    assert message.external_id == "412345678:101"
    assert message.conversation.thread_key == "dm:412345678"
    assert message.kind == "dm" and message.visibility == "private"
    assert message.text.startswith("Bon dia, el contenidor del carrer Verdi 12")
    assert message.author_contact.name == "Núria Puig" and message.author_contact.handle == "nuriapuig"
    assert message.conversation.team == bot.default_team


def test_the_secret_token_is_not_kept_with_the_raw_event(bot):
    deliver("message__text.json")
    assert not any("Secret" in name for name in RawEvent.objects.get().headers)


@pytest.mark.parametrize(("token", "status"), [("", 401), ("wrong", 403), (f"{BOT_ID}_wrong-secret", 403),
                                               ("9999999_" + SECRET, 403)])
def test_a_forged_request_is_refused_and_stores_nothing(bot, token, status, caplog):
    response = post_telegram(Client(), fixture_bytes("message__text.json"), token=token)
    assert response.status_code == status
    assert not RawEvent.objects.exists() and not Message.objects.exists()
    assert "rejected" in caplog.text


def test_the_token_tells_two_bots_apart(bot, team_b):
    other = type(bot).objects.create(platform="telegram", external_id="7000000099", name="Other bot",
                                     default_team=team_b, credentials={"bot_token": "7000000099:x",
                                                                       "webhook_secret": "other"})
    body = fixture_bytes("message__text.json")
    assert post_telegram(Client(), body, token=secret_token("7000000099", SECRET)).status_code == 403
    assert post_telegram(Client(), body, token=secret_token("7000000099", "other")).status_code == 200
    assert Message.objects.get().account == other


def test_malformed_json_is_a_400_and_stores_nothing(bot):
    assert post_telegram(Client(), b'{"update_id": 1, "message": ').status_code == 400
    assert not RawEvent.objects.exists()


def test_an_edited_message_is_kept_as_a_revision(bot):
    deliver("message__text.json", "edited_message__text.json")
    message = Message.objects.get()
    assert "Verdi 14" in message.text and message.edited_at is not None
    revision = MessageRevision.objects.get(message=message)
    assert "Verdi 12" in revision.previous_text


def test_a_photo_keeps_its_caption_and_the_largest_size_as_an_attachment(bot):
    deliver("message__photo_with_caption.json")
    message = Message.objects.get()
    assert message.text == "Així està el contenidor ara mateix."
    [photo] = message.attachments
    assert photo["type"] == "image" and photo["ref"] == "AgACAgQAAxkBAAIBZmdPhotoLarge1280"
    assert photo["url"] == f"/channels/telegram/files/{BOT_ID}/412345678/102/AQADlarge1280/"
    assert "bot" not in photo["url"].split("/files/")[0] and "AAH" not in photo["url"]


def test_a_document_a_voice_message_and_a_location_are_attachments(bot):
    deliver("message__document.json", "message__voice.json", "message__location.json")
    by_id = {m.external_id: m for m in Message.objects.all()}
    [document] = by_id["412345678:103"].attachments
    assert (document["type"], document["name"], document["mime_type"]) == (
        "file", "sollicitud_llicencia.pdf", "application/pdf")
    assert by_id["412345678:103"].text == "Adjunto la sol·licitud."
    [voice] = by_id["412345678:104"].attachments
    assert (voice["type"], voice["name"]) == ("audio", "Voice message (0:07)")
    [place] = by_id["412345678:105"].attachments
    assert place["type"] == "location" and place["url"].startswith("https://www.openstreetmap.org/?mlat=41.387917")
    assert Conversation.objects.count() == 1  # one chat, one conversation


def test_a_bare_start_opens_no_conversation_but_a_start_with_a_payload_is_kept(bot):
    deliver("message__command_start.json", "recorded/message__command_start_recorded_shape.json")
    assert not Conversation.objects.exists()
    assert RawEvent.objects.filter(processed_at__isnull=False).count() == 2
    deliver("message__command_start_with_payload.json")
    assert Message.objects.get().text == "/start tramit-2026-4471"


def test_a_recorded_text_update_is_read(bot):
    deliver("recorded/message__text_recorded_shape.json")
    message = Message.objects.get()
    assert message.text == "test" and message.author_contact.external_id == "234140659"


def test_group_messages_are_ignored(bot):
    deliver("message__group.json")
    assert not Message.objects.exists()


def test_blocking_the_bot_marks_the_conversation_not_the_account_and_starting_it_again_clears_it(bot):
    deliver("message__text.json", "my_chat_member__blocked.json")
    conversation = Conversation.objects.get()
    assert conversation.unreachable_at is not None and "blocked" in conversation.unreachable_reason
    bot.refresh_from_db()
    assert bot.status == bot.Status.ACTIVE
    deliver("my_chat_member__unblocked.json")
    conversation.refresh_from_db()
    assert conversation.unreachable_at is None


def test_an_unreadable_update_in_a_poll_page_is_quarantined_and_its_neighbours_kept(bot):
    updates = fixture_json("get_updates__with_one_unreadable.json")["result"]
    poll_result_store(bot, PollResult(pages={"updates": [poll_page(BOT_ID, updates)]},
                                      cursors={"updates": {"offset": 815000015}}))
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["412345678:107", "412345678:108"]
    item = QuarantinedItem.objects.get()
    assert item.locator == "result[1]" and "message_id" in item.reason
    bot.refresh_from_db()
    assert bot.cursors["updates"] == {"offset": 815000015}
