"""Answers through sendMessage: plain text as a reply in the chat; 429, a blocked bot, 401."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_adapters.base import ReplyRefused
from channels_adapters.outbound import reply_options, reply_submit
from channels_adapters.telegram.tests.conftest import API, TOKEN, deliver, fixture_json
from inbox.models import Conversation, DeliveryAttempt, Message

pytestmark = pytest.mark.django_db
SEND = f"{API}/bot{TOKEN}/sendMessage"


@pytest.fixture
def conversation(bot, alice):
    deliver("message__text.json")
    return Conversation.objects.get()


def _reply(conversation, user, text="Hola Núria, <b>ho</b> passem a *neteja*."):
    from tests.conftest import committed
    return committed(reply_submit, conversation=conversation, user=user, text=text, option_key="private")


def test_a_reply_is_sent_as_plain_text_answering_the_citizens_message(conversation, alice, telegram):
    telegram.post(SEND, json=fixture_json("send_message__ok.json"))
    message = _reply(conversation, alice)
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT and message.external_id == "412345678:109"
    body = json.loads(telegram.calls[0].request.body)
    assert body["chat_id"] == 412345678
    assert body["text"] == "Hola Núria, <b>ho</b> passem a *neteja*."  # sent as written: no markup
    assert "parse_mode" not in body
    assert body["reply_parameters"] == {"message_id": 101, "allow_sending_without_reply": True}


def test_a_429_is_retried_after_telegrams_retry_after(conversation, alice, telegram):
    telegram.post(SEND, json=fixture_json("error__429.json"), status=429)
    before = timezone.now()
    message = _reply(conversation, alice)
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.QUEUED
    assert before + timedelta(seconds=17) <= message.next_attempt_at <= timezone.now() + timedelta(seconds=19)
    assert DeliveryAttempt.objects.get().platform_code == "429"


def test_a_citizen_who_blocked_the_bot_makes_the_conversation_unreachable_not_the_account(
        conversation, alice, telegram):
    telegram.post(SEND, json=fixture_json("error__403_blocked.json"), status=403)
    message = _reply(conversation, alice)
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED and len(telegram.calls) == 1
    conversation.refresh_from_db()
    assert conversation.unreachable_at is not None and "blocked" in conversation.unreachable_reason
    conversation.account.refresh_from_db()
    assert conversation.account.status == conversation.account.Status.ACTIVE
    [option] = reply_options(conversation)
    assert not option.available and "blocked" in option.reason
    with pytest.raises(ReplyRefused):
        _reply(conversation, alice, "Another try")


def test_a_revoked_token_asks_for_the_bot_to_be_reconnected(conversation, alice, telegram):
    telegram.post(SEND, json=fixture_json("error__401.json"), status=401)
    _reply(conversation, alice)
    conversation.account.refresh_from_db()
    assert conversation.account.status == conversation.account.Status.NEEDS_RECONNECT
    assert "AAHdq" not in conversation.account.last_error  # the token never leaves client.py


def test_a_reply_longer_than_4096_telegram_characters_is_refused(conversation, alice):
    with pytest.raises(ReplyRefused, match="4096"):
        _reply(conversation, alice, "🙂" * 2049)  # 2,049 characters, 4,098 as Telegram counts
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
