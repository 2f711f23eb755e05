"""An officer answers a Telegram message from the conversation page, in headless Chromium.

The citizen's photo arrives through the real webhook with the bot's secret token; the answer
goes out through the real client, with Telegram's HTTP intercepted (``responses``), and the
request body is what Telegram would receive. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from channels_adapters.telegram.tests.conftest import (
    API,
    TOKEN,
    fixture_bytes,
    fixture_json,
    post_telegram,
)
from inbox.models import Conversation, Message
from tests.conftest import login
from tests.test_browser import ARTIFACTS, browser, off_the_event_loop, page, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_officer_answers_a_telegram_message_from_the_conversation_page(live_server, bot, alice, page,  # noqa: F811
                                                                          telegram):
    for name in ("message__text.json", "message__photo_with_caption.json"):
        response = off_the_event_loop(lambda n=name: post_telegram(Client(), fixture_bytes(n)))
        assert response.status_code == 200
    telegram.post(f"{API}/bot{TOKEN}/sendMessage", json=fixture_json("send_message__ok.json"))
    conversation = off_the_event_loop(lambda: Conversation.objects.get())
    ARTIFACTS.mkdir(exist_ok=True)

    sign_in(page, live_server.url)
    page.locator("li.qrow").first.get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/inbox/c/{conversation.pk}/")
    expect(page.locator("li.msg-in")).to_have_count(2)
    photo = page.get_by_role("link", name="Photo")
    expect(photo).to_have_attribute("href", re.compile(r"^/channels/telegram/files/7000000001/412345678/102/"))
    expect(page.locator("#reply-counter")).to_contain_text("4096")
    answer = "Hola Núria, gràcies per la foto: ho passem al servei de neteja <avui mateix>."
    page.locator("#reply-text").fill(answer)
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("Reply queued for sending.")
    page.reload()
    sent = page.locator("li.msg-out")
    expect(sent).to_contain_text(answer)
    expect(sent.locator(".delivery")).to_have_text("Sent")
    page.screenshot(path=ARTIFACTS / "telegram-conversation.png", full_page=True)

    body = json.loads(next(c for c in telegram.calls if c.request.url.endswith("/sendMessage")).request.body)
    assert body["text"] == answer and "parse_mode" not in body
    assert body["chat_id"] == 412345678 and body["reply_parameters"]["message_id"] == 102
    reply = off_the_event_loop(lambda: Message.objects.get(direction=Message.Direction.OUTBOUND))
    assert reply.external_id == "412345678:109"


def test_an_admin_sees_the_bots_and_the_connect_form(live_server, bot, dave, page):  # noqa: F811
    # Signed in as the test cast's helper does (second factor included), carried to the browser.
    client = off_the_event_loop(lambda: login(dave))
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
    page.goto(f"{live_server.url}/channels/telegram/connect/")
    expect(page.locator("h1")).to_have_text("Telegram bots")
    expect(page.locator("table")).to_contain_text("012 Telegram")
    expect(page.locator("table")).to_contain_text("polling")
    expect(page.get_by_label("Bot token")).to_have_attribute("type", "password")
    # The live server is http://: Telegram would refuse the webhook, so polling is proposed.
    expect(page.get_by_role("button", name="Switch to webhook")).to_be_disabled()
    expect(page.locator("input[name=mode][value=polling]")).to_be_checked()
    page.screenshot(path=ARTIFACTS / "telegram-connect.png", full_page=True)
