"""The e-mail channel's pages and edges: mail posted by an MTA (signed), the whole e-mail
page (sanitised), the connect page against the real servers, add_channel_account, IDLE."""

from __future__ import annotations

import json
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from channels_adapters.email.adapter import MAILBOX, EmailAdapter
from channels_adapters.email.tests.conftest import (
    PASSWORD,
    SMTP_PASSWORD,
    SMTP_USER,
    credentials_for,
    deliver,
    fixture_bytes,
    new_user,
)
from channels_adapters.email.webhook import MAILBOX_HEADER, SIGNATURE_HEADER, sign
from channels_adapters.pipeline import poll_result_store
from inbox.models import AuditEvent, ChannelAccount, Message, RawEvent
from tests.conftest import committed, login

pytestmark = pytest.mark.django_db


def post_mail(body: bytes, address: str, signature: str | None):
    headers = {MAILBOX_HEADER: address}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return committed(Client().post, "/webhooks/email/", data=body, content_type="message/rfc822", headers=headers)


def test_mail_posted_by_the_mta_with_the_accounts_signature_is_stored(mailbox):
    body = fixture_bytes("outlook__windows_1252_html.eml")
    response = post_mail(body, mailbox.external_id, sign(body, "mta-secret-for-tests"))
    assert response.status_code == 200
    stored = Message.objects.get()
    assert stored.text.startswith("Reclamación multa zona verde\n\nBuenos días:")
    assert stored.author_contact.name == "García, José"
    assert SIGNATURE_HEADER not in RawEvent.objects.get().headers


@pytest.mark.parametrize(("signature", "status"), [(None, 401), ("sha256=00", 403), ("other", 403)])
def test_forged_or_unsigned_mail_is_refused_and_nothing_is_stored(mailbox, signature, status):
    body = fixture_bytes("gmail__html_alternative.eml")
    assert post_mail(body, mailbox.external_id, signature).status_code == status
    assert post_mail(body, "nobody@else.test", sign(body, "mta-secret-for-tests")).status_code == 403
    assert RawEvent.objects.count() == 0


def test_the_whole_email_page_shows_sanitised_html_to_the_team_only(mailbox, alice, bob):
    body = fixture_bytes("html__hostile.eml")
    post_mail(body, mailbox.external_id, sign(body, "mta-secret-for-tests"))
    stored = Message.objects.get()
    link = next(a for a in stored.attachments if a["type"] == "email")
    assert "<script" not in stored.text and "alert" not in stored.text

    response = login(alice).get(link["url"])

    page = response.content.decode()
    assert response.status_code == 200
    start = page.index('class="email-html"')
    shown = page[start:page.index("</div>", start)]
    assert "Pagui la factura" in shown
    assert "evil.example/pixel.gif" not in shown  # no remote image: no tracking pixel
    for bad in ("<script", "onload", "onerror", "javascript:", "<iframe", "<form", "<base", "style="):
        assert bad not in shown.lower(), bad
    assert "img-src 'self' data:" in response["Content-Security-Policy"]  # no tracking pixel
    assert AuditEvent.objects.filter(verb="message.email_open").count() == 1
    assert login(bob).get(link["url"]).status_code == 404


def test_an_admin_connects_a_mailbox_after_both_logins_are_tried(db, dave, alice, dovecot, smtp_servers, smtp):
    address = new_user(dovecot)
    form = {k: v for k, v in credentials_for(address, dovecot, smtp_servers).items() if k != "webhook_secret"}
    form["name"] = "Atenció ciutadana"
    assert login(alice).post("/channels/email/connect/", form).status_code == 403

    wrong = committed(login(dave).post, "/channels/email/connect/", {**form, "password": "wrong"})
    assert wrong.status_code == 400 and "refused the login" in wrong.content.decode()
    assert not ChannelAccount.objects.filter(platform="email").exists()

    response = committed(login(dave).post, "/channels/email/connect/", form)
    assert response.status_code == 302
    account = ChannelAccount.objects.get(platform="email")
    assert account.external_id == address and account.credentials["password"] == PASSWORD
    assert account.credentials["smtp_username"] == SMTP_USER and account.credentials["smtp_password"] == SMTP_PASSWORD
    assert AuditEvent.objects.filter(verb="channel_account.connect").exists()
    page = login(dave).get("/channels/email/connect/").content.decode()
    assert address in page and PASSWORD not in page


def test_add_channel_account_takes_the_mailbox_from_a_credentials_file(db, tmp_path, dovecot, smtp_servers):
    address = new_user(dovecot)
    path = tmp_path / "mailbox.json"
    path.write_text(json.dumps(credentials_for(address, dovecot, smtp_servers)))
    out = StringIO()
    call_command("add_channel_account", "--platform", "email", "--external-id", address, "--name", "Atenció",
                 "--credentials-file", str(path), stdout=out, stderr=StringIO())
    account = ChannelAccount.objects.get(pk=int(out.getvalue()))
    assert account.status == "active"
    deliver(account, dovecot, fixture_bytes("gmail__html_alternative.eml"))
    assert poll_result_store(account, EmailAdapter().poll(account)) == 1


def test_a_quiet_mailbox_waits_in_idle_and_wakes_when_mail_arrives(mailbox, dovecot, settings):
    settings.EMAIL_IDLE_SECONDS = 20
    later = threading.Timer(1.5, deliver, args=(mailbox, dovecot, fixture_bytes("gmail__html_alternative.eml")))
    started = time.monotonic()
    later.start()
    result = EmailAdapter().poll(mailbox)
    waited = time.monotonic() - started
    later.join()
    assert len(result.pages[MAILBOX]) == 1
    assert 1.0 < waited < 15, waited  # woken by the server, not by the 20 s timeout
