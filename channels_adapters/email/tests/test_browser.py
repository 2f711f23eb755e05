"""An officer answers an e-mail from the conversation page, in headless Chromium.

The citizen's mail is delivered into Dovecot and read by the real poll; the answer leaves
through the real SMTP client to aiosmtpd, and the headers that make it thread in the
citizen's mail client are checked on the message aiosmtpd received. The whole e-mail page
of a hostile HTML mail runs no script and loads nothing from elsewhere. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from channels_adapters.email.adapter import EmailAdapter, our_message_id
from channels_adapters.email.tests.conftest import deliver, fixture_bytes
from channels_adapters.email.webhook import MAILBOX_HEADER, SIGNATURE_HEADER, sign
from channels_adapters.pipeline import poll_result_store
from inbox.models import Conversation, Message
from tests.test_browser import ARTIFACTS, browser, off_the_event_loop, page, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_officer_answers_an_email_from_the_conversation_page(live_server, mailbox, dovecot, smtp, alice,
                                                                page):  # noqa: F811
    deliver(mailbox, dovecot, fixture_bytes("applemail__attachment.eml"))
    off_the_event_loop(lambda: poll_result_store(mailbox, EmailAdapter().poll(mailbox)))
    conversation = off_the_event_loop(lambda: Conversation.objects.get())
    ARTIFACTS.mkdir(exist_ok=True)

    sign_in(page, live_server.url)
    page.locator("li.qrow").first.get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/inbox/c/{conversation.pk}/")
    incoming = page.locator("li.msg-in")
    expect(incoming).to_contain_text("Fanal apagat plaça del Sol")
    expect(incoming).not_to_contain_text("Enviat des del meu iPhone")  # the signature is folded away
    expect(page.get_by_role("link", name=re.compile(r"^IMG_0412\.png"))).to_have_attribute(
        "href", re.compile(r"^/channels/email/messages/"))
    answer = "Bon dia Marc,\nhem avisat l'equip d'enllumenat. <Gràcies> per la foto."
    page.locator("#reply-text").fill(answer)
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("Reply queued for sending.")
    page.reload()
    sent = page.locator("li.msg-out")
    expect(sent).to_contain_text("hem avisat l'equip d'enllumenat. <Gràcies> per la foto.")
    expect(sent.locator(".delivery")).to_have_text("Sent")
    page.screenshot(path=ARTIFACTS / "email-conversation.png", full_page=True)

    received = smtp.parsed()
    reply = off_the_event_loop(lambda: Message.objects.get(direction=Message.Direction.OUTBOUND))
    assert smtp.messages[-1][1] == ["marc.soler@icloud.example"]
    assert received["In-Reply-To"] == "<8E1F2A3B-4C5D-6E7F-8091-A2B3C4D5E6F7@icloud.example>"
    assert received["References"] == "<8E1F2A3B-4C5D-6E7F-8091-A2B3C4D5E6F7@icloud.example>"
    assert received["Subject"] == "Re: Fanal apagat plaça del Sol"
    assert received["Message-ID"] == our_message_id(mailbox, reply) == f"<{reply.external_id}>"
    assert received.get_content().replace("\r\n", "\n").strip() == answer


def test_a_hostile_html_mail_runs_nothing_in_the_browser(live_server, mailbox, alice, page):  # noqa: F811
    body = fixture_bytes("html__hostile.eml")
    response = off_the_event_loop(lambda: Client().post(
        "/webhooks/email/", data=body, content_type="message/rfc822",
        headers={MAILBOX_HEADER: mailbox.external_id, SIGNATURE_HEADER: sign(body, "mta-secret-for-tests")}))
    assert response.status_code == 200
    off_the_event_loop(lambda: __import__("channels_adapters.pipeline").pipeline.raw_events_drain())
    dialogs, elsewhere = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: elsewhere.append(r.url) if "evil.example" in r.url else None)

    sign_in(page, live_server.url)
    page.locator("li.qrow").first.get_by_role("link").click()
    whole = page.get_by_role("link", name=re.compile("The whole e-mail"))
    page.goto(live_server.url + whole.get_attribute("href"))  # the timeline opens it in a new tab
    page.wait_for_load_state("load")
    expect(page.locator(".email-html")).to_contain_text("Pagui la factura")
    page.screenshot(path=ARTIFACTS / "email-whole-message.png", full_page=True)
    assert dialogs == [] and elsewhere == []
    assert page.locator(".email-html script, .email-html iframe, .email-html form").count() == 0


def test_an_admin_connects_a_mailbox_from_its_page(live_server, dave, dovecot, smtp_servers, page):  # noqa: F811
    from django.conf import settings

    from channels_adapters.email.tests.conftest import PASSWORD, SMTP_PASSWORD, SMTP_USER, new_user
    from inbox.models import ChannelAccount
    from tests.conftest import login

    address = new_user(dovecot)
    client = off_the_event_loop(lambda: login(dave))
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])
    page.goto(f"{live_server.url}/channels/email/connect/")
    expect(page.locator("h1")).to_have_text("E-mail accounts")
    page.get_by_label("Name officers see").fill("Atenció ciutadana")
    page.get_by_label("Address (From of the answers)").fill(address)
    page.get_by_label("IMAP server").fill("127.0.0.1")
    page.get_by_label("IMAP port").fill(str(dovecot["ports"]["ssl"]))
    page.get_by_label("SMTP server").fill("127.0.0.1")
    page.get_by_label("SMTP port").fill(str(smtp_servers["ports"]["starttls"]))
    page.get_by_label(re.compile(r"^User name:?$")).fill(address)
    page.get_by_label(re.compile(r"^Password:?$")).fill("not the password")
    page.get_by_label("SMTP user name (if different)").fill(SMTP_USER)
    page.get_by_label("SMTP password (if different)").fill(SMTP_PASSWORD)
    page.get_by_role("button", name="Test and connect").click()
    expect(page.locator(".form-error")).to_contain_text("refused the login")
    page.screenshot(path=ARTIFACTS / "email-connect-refused.png", full_page=True)

    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("SMTP password (if different)").fill(SMTP_PASSWORD)
    page.get_by_role("button", name="Test and connect").click()
    expect(page.locator(".flash")).to_contain_text("Connected")
    expect(page.locator("table")).to_contain_text(address)
    page.screenshot(path=ARTIFACTS / "email-connect.png", full_page=True)
    assert off_the_event_loop(lambda: ChannelAccount.objects.get(platform="email").credentials["password"]) == PASSWORD
