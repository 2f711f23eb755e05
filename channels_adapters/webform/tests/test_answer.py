"""Answering a form's conversation: by e-mail through the form's e-mail account (captured by a
local aiosmtpd server over STARTTLS), or recorded as not delivered when the citizen chose so.
Also the signed webhook for submissions posted by the administration's own server."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from channels_adapters.outbound import reply_options, reply_submit
from channels_adapters.webform.tests.conftest import committed, filled, fixture_bytes, submit
from channels_adapters.webform.webhook import SIGNATURE_HEADER, sign
from inbox.models import Conversation, Message, RawEvent

pytestmark = pytest.mark.django_db
SECRET = "form-secret-for-tests"


def post_webhook(body: bytes, *, secret: str | None = SECRET):
    headers = {SIGNATURE_HEADER: sign(body, secret)} if secret else {}
    return committed(Client().post, "/webhooks/webform/", data=body, content_type="application/json", headers=headers)


def test_an_officer_answers_by_e_mail_through_the_forms_e_mail_account(form_account, mailbox, smtp, alice):
    submit()
    conversation = Conversation.objects.get(account=form_account)
    assert [o.key for o in reply_options(conversation) if o.available] == ["email"]

    message = committed(reply_submit, conversation=conversation, user=alice, text="Bon dia, hi passaran avui.",
                        option_key="email")

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT, message.delivery_error
    mail_from, recipients, _raw = smtp.messages[-1]
    assert recipients == ["marta@example.org"] and mail_from == mailbox.external_id
    mail = smtp.parsed()
    reference = conversation.thread_key.partition(":")[2]
    assert reference in mail["Subject"]
    assert mail["Message-ID"] == f"<ci.{message.uuid}@ajuntament.test>"
    assert message.external_id == f"ci.{message.uuid}@ajuntament.test"
    assert "hi passaran avui" in mail.get_content()
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None


def test_without_an_e_mail_account_the_composer_says_why(form_account, alice):
    submit()
    conversation = Conversation.objects.get(account=form_account)
    (option,) = reply_options(conversation)
    assert not option.available and "No e-mail account answers this form" in option.reason


def test_an_inbox_only_answer_is_recorded_and_marked_not_delivered(form_account, mailbox, smtp, alice):
    submit(data=filled(email="", reply_by="inbox", phone="+34 600 123 456"))
    conversation = Conversation.objects.get(account=form_account)
    (option,) = reply_options(conversation)
    assert option.key == "record" and option.available and "will not be delivered" in option.label

    message = committed(reply_submit, conversation=conversation, user=alice, text="Les recollides es fan dimarts.",
                        option_key="record")

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert "Not delivered: the citizen chose not to be answered by e-mail" in message.delivery_error
    assert message.delivery_attempts.get().platform_code == "not-delivered"
    assert smtp.messages == []  # nothing left the building


def test_a_signed_submission_from_the_administrations_server_is_kept(form_account):
    response = post_webhook(fixture_bytes("submission__email.json"))
    assert response.status_code == 200, response.content
    conversation = Conversation.objects.get(account=form_account)
    assert conversation.thread_key == "email:F-2026-7KQ3M9XD"
    assert conversation.contact.external_id == "marta.puig@example.org"
    # Redelivered: stored once.
    post_webhook(fixture_bytes("submission__email.json"))
    assert Message.objects.filter(conversation__account=form_account).count() == 1


def test_an_inbox_only_submission_in_persian_keeps_its_language_and_phone(form_account):
    assert post_webhook(fixture_bytes("submission__inbox_only.json")).status_code == 200
    conversation = Conversation.objects.get(account=form_account)
    assert conversation.thread_key == "inbox:F-2026-0A1B2C3D"
    assert conversation.contact.profile["language"] == "fa"
    assert conversation.contact.external_id == "tel:+34600123456"


def test_a_submission_without_consent_is_quarantined_not_kept(form_account):
    assert post_webhook(fixture_bytes("submission__no_consent.json")).status_code == 200
    assert not Message.objects.exists()
    raw = RawEvent.objects.get()
    assert raw.processed_at is not None


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("wrong", 403)])
def test_unsigned_and_forged_submissions_are_refused(form_account, secret, status):
    assert post_webhook(fixture_bytes("submission__email.json"), secret=secret).status_code == status
    assert not RawEvent.objects.exists()


def test_a_submission_for_an_unknown_form_is_refused(form_account):
    body = json.dumps({**json.loads(fixture_bytes("submission__email.json")), "form": "nope"}).encode()
    assert post_webhook(body).status_code == 403
