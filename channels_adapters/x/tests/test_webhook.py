"""The X webhook at /webhooks/x/: CRC, signatures, both payload families, threading, own events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

import pytest
from django.test import Client

from channels_adapters.x.simulate import x_payloads
from channels_adapters.x.webhook import sign
from inbox.models import ChannelAccount, Contact, Conversation, Message, RawEvent

from .conftest import ACCOUNT_ID, CITIZEN_ID, fixture_bytes, post_x

pytestmark = pytest.mark.django_db


def test_crc_challenge_is_answered_with_the_hmac_of_the_token(x_account):
    response = Client().get("/webhooks/x/", {"crc_token": "challenge-123"})

    expected = base64.b64encode(
        hmac.new(b"test-x-consumer-secret", b"challenge-123", hashlib.sha256).digest()
    ).decode()
    assert response.status_code == 200
    assert response.json() == {"response_token": f"sha256={expected}"}


def test_crc_without_token_is_a_400(x_account):
    assert Client().get("/webhooks/x/").status_code == 400


def test_signed_mention_becomes_a_public_conversation_with_its_author(x_account, team_a):
    response = post_x(fixture_bytes("tweet_create_events__mention.json"))

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.external_id == "1861000000000000101"
    assert message.kind == Message.Kind.MENTION and message.visibility == Message.Visibility.PUBLIC
    assert message.sent_at == datetime(2026, 11, 20, 8, 15, 3, tzinfo=UTC)
    assert message.attachments == [{"type": "image", "url": "https://pbs.twimg.com/media/GcXyZabcDEF.jpg"}]
    conversation = message.conversation
    assert conversation.thread_key == "post:1861000000000000101"
    assert conversation.kind == Conversation.Kind.PUBLIC and conversation.team == team_a
    contact = Contact.objects.get()
    assert (contact.platform, contact.external_id, contact.handle, contact.name) == (
        "x", CITIZEN_ID, "marta_puig", "Marta Puig")
    assert contact.profile["location"] == "Gràcia, Barcelona" and contact.profile["followers"] == 312


@pytest.mark.parametrize(
    ("signature", "status"),
    [("", 401), ("sha256=" + base64.b64encode(b"0" * 32).decode(), 403), ("sha256=nonsense", 403)],
)
def test_forged_or_unsigned_delivery_stores_nothing(x_account, caplog, signature, status):
    with caplog.at_level(logging.WARNING, logger="channels_adapters.webhooks"):
        response = post_x(fixture_bytes("tweet_create_events__mention.json"), signature=signature)

    assert response.status_code == status
    assert not RawEvent.objects.exists() and not Message.objects.exists()


def test_signature_is_checked_on_the_raw_bytes(x_account):
    body = fixture_bytes("tweet_create_events__mention.json")
    reformatted = json.dumps(json.loads(body)).encode()  # same data, other bytes

    assert post_x(reformatted, signature=sign(body)).status_code == 403
    assert not RawEvent.objects.exists()


def test_only_the_consumer_secret_signs_webhooks(x_account, settings):
    """X signs with the consumer secret; a signature with the OAuth 2.0 client secret is forged."""
    settings.X_CLIENT_SECRET = "test-oauth2-client-secret"
    body = fixture_bytes("tweet_create_events__mention.json")

    assert post_x(body, signature=sign(body, "test-oauth2-client-secret")).status_code == 403
    settings.X_CONSUMER_SECRET = ""
    assert post_x(body, signature=sign(body, "")).status_code == 403  # not configured: refuse all
    assert not RawEvent.objects.exists()


def test_x_activity_revoke_with_an_empty_filter_marks_the_account(x_account):
    body = json.dumps({"data": {"event_type": "oauth.revoke", "filter": {}, "payload": {
        "date_time": "2026-11-20T10:00:00.000Z", "user_id": x_account.external_id, "app_id": "123456"}}}).encode()

    assert post_x(body).status_code == 200

    x_account.refresh_from_db()
    assert x_account.status == "needs_reconnect"


def test_delivery_for_an_account_we_do_not_have_is_a_404(db):
    assert post_x(fixture_bytes("tweet_create_events__mention.json")).status_code == 404
    assert not RawEvent.objects.exists()


def test_garbage_is_a_400(x_account):
    for body in (b"[1]", b'{"for_user_id": 148}', b'{"data": {"event_type": "dm.received"}}', b"{}"):
        assert post_x(body).status_code == 400, body
    assert not RawEvent.objects.exists()


def test_redelivered_payload_is_stored_once(x_account):
    body = fixture_bytes("tweet_create_events__mention.json")
    for _ in range(3):
        assert post_x(body).status_code == 200

    assert RawEvent.objects.count() == 3
    assert Message.objects.count() == 1


def test_citizen_reply_to_our_reply_joins_the_same_conversation(x_account, alice):
    post_x(fixture_bytes("tweet_create_events__mention.json"))
    conversation = Conversation.objects.get()
    # Our public answer, as the outbound path stores it once X accepted it.
    Message.objects.create(
        conversation=conversation, account=x_account, direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.REPLY, visibility=Message.Visibility.PUBLIC, external_id="1861000000000000150",
        in_reply_to="1861000000000000101", author_user=alice, text="Bon dia Marta...",
        sent_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC), delivery_status=Message.Delivery.SENT,
    )

    post_x(fixture_bytes("tweet_create_events__reply_to_our_reply.json"))

    assert Conversation.objects.count() == 1
    follow_up = Message.objects.get(external_id="1861000000000000202")
    assert follow_up.conversation == conversation and follow_up.in_reply_to == "1861000000000000150"
    assert follow_up.text.endswith("continua ple 😞")


def test_the_accounts_own_post_and_dm_are_dropped(x_account):
    post_x(fixture_bytes("tweet_create_events__own_post.json"))
    post_x(fixture_bytes("direct_message_events__own.json"))

    assert RawEvent.objects.filter(processed_at__isnull=False, error="").count() == 2
    assert not Message.objects.exists() and not Contact.objects.exists()


def test_direct_message_becomes_a_private_conversation(x_account):
    post_x(fixture_bytes("direct_message_events__received.json"))

    message = Message.objects.get()
    assert message.kind == Message.Kind.DM and message.visibility == Message.Visibility.PRIVATE
    assert message.sent_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert message.conversation.thread_key == f"dm:{ACCOUNT_ID}-{CITIZEN_ID}"
    assert message.conversation.kind == Conversation.Kind.PRIVATE
    assert message.author_contact.handle == "marta_puig"


def test_x_activity_mention_is_routed_by_the_filter_user_id(x_account):
    response = post_x(fixture_bytes("post.mention.create__mention.json"))

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.external_id == "1861000000000000606"
    assert message.conversation.thread_key == "post:1861000000000000606"
    assert message.author_contact.handle == "nuria_vidal" and message.author_contact.name == "Núria Vidal"


def test_x_activity_dm_received_is_a_dm(x_account):
    post_x(fixture_bytes("dm.received__legacy_dm.json"))

    message = Message.objects.get()
    assert message.kind == Message.Kind.DM
    assert message.conversation.thread_key == f"dm:{ACCOUNT_ID}-1620000000000000007"
    assert message.author_contact.handle == "nuria_vidal"


def test_oauth_revoke_marks_the_account_as_needing_reconnection(x_account):
    body = json.dumps({"data": {"event_uuid": "1", "filter": {"user_id": ACCOUNT_ID}, "event_type": "oauth.revoke",
                                "payload": {}}}).encode()
    assert post_x(body).status_code == 200

    x_account.refresh_from_db()
    assert x_account.status == ChannelAccount.Status.NEEDS_RECONNECT


def test_simulator_x_payload_is_ingested_through_the_x_adapter(x_account):
    first = {"id": "sim-ab-1", "thread_id": "sim-ab-1", "channel": "mention", "text": "El bus 24 no ha passat",
             "from": {"id": "sim-user-7", "handle": "martapuig7", "name": "Marta Puig"},
             "created_at": "2026-11-20T09:00:00+00:00"}
    follow_up = {**first, "id": "sim-ab-2", "text": "Algú em pot respondre?", "created_at": "2026-11-20T09:30:00+00:00"}
    dm = {**first, "id": "sim-ab-3", "thread_id": "sim-ab-3", "channel": "dm", "text": "Hola"}

    for event in (first, follow_up, dm):
        body, headers = x_payloads(event, ACCOUNT_ID)
        response = post_x(body, signature="", headers=headers)
        assert response.status_code == 200

    assert Conversation.objects.filter(kind=Conversation.Kind.PUBLIC).get().messages.count() == 2
    assert Conversation.objects.filter(kind=Conversation.Kind.PRIVATE).get().messages.get().text == "Hola"
    assert set(Contact.objects.values_list("handle", flat=True)) == {"martapuig7"}


def test_reply_delivered_before_the_post_it_answers_lands_in_the_same_conversation(x_account):
    root = json.loads(fixture_bytes("post.mention.create__mention.json"))
    reply = json.loads(fixture_bytes("post.mention.create__mention.json"))
    reply["data"]["payload"].update(id="1861000000000000707", text="@CiutatExemple Algú em pot respondre?",
                                    created_at="2026-11-20T14:00:00.000Z",
                                    edit_history_tweet_ids=["1861000000000000707"],
                                    referenced_tweets=[{"type": "replied_to", "id": "1861000000000000606"}])

    post_x(json.dumps(reply).encode())
    post_x(json.dumps(root).encode())
    post_x(json.dumps(reply).encode())  # and once more, late

    conversation = Conversation.objects.get()
    assert list(conversation.messages.order_by("sent_at").values_list("external_id", flat=True)) == [
        "1861000000000000606", "1861000000000000707"]
    assert conversation.subject.startswith("@CiutatExemple Quan es pot pagar")


def test_edited_post_is_kept_as_a_revision_of_the_original(x_account):
    original = json.loads(fixture_bytes("post.mention.create__mention.json"))
    edited = json.loads(fixture_bytes("post.mention.create__mention.json"))
    edited["data"]["payload"].update(id="1861000000000000608", text="@CiutatExemple Quan es pot pagar l'IBI?",
                                     created_at="2026-11-20T13:05:00.000Z",
                                     edit_history_tweet_ids=["1861000000000000606", "1861000000000000608"])

    post_x(json.dumps(original).encode())
    post_x(json.dumps(edited).encode())

    message = Message.objects.get()
    assert message.external_id == "1861000000000000606" and message.text.endswith("pagar l'IBI?")
    assert message.revisions.get().previous_text.endswith("l'IBI fraccionat?")
