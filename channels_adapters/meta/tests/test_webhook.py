"""/webhooks/meta/: handshake, signatures on the raw bytes, and what Meta's payloads become."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from django.test import Client

from channels_adapters.meta.tests.conftest import (
    GRAPH,
    IG_ID,
    PAGE_ID,
    deliver,
    fixture_bytes,
    post_meta,
)
from inbox.models import Contact, Conversation, Message, MessageRevision, RawEvent
from tests.conftest import committed

pytestmark = pytest.mark.django_db

MARTA_COMMENT = "1029384756473829_1203948576012345"
POST = "104857301234567_1029384756473829"
MID = "m_Xl3pQ1uTz2o0cE5vKx8yRgAbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


# --- handshake -------------------------------------------------------------------------------


def test_handshake_echoes_the_challenge_for_our_verify_token(db):
    response = Client().get("/webhooks/meta/", {
        "hub.mode": "subscribe", "hub.verify_token": "test-meta-verify-token", "hub.challenge": "1158201444",
    })

    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "guessed", "hub.challenge": "1158201444"}, 403),
        ({"hub.mode": "subscribe", "hub.challenge": "1158201444"}, 403),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "test-meta-verify-token", "hub.challenge": "1"}, 400),
        ({"hub.mode": "subscribe", "hub.verify_token": "test-meta-verify-token", "hub.challenge": "<script>"}, 400),
    ],
)
def test_handshake_with_a_wrong_token_or_mode_is_refused(db, params, status):
    response = Client().get("/webhooks/meta/", params)

    assert response.status_code == status
    assert b"1158201444" not in response.content


# --- signatures ------------------------------------------------------------------------------


def test_signed_comment_is_stored_parsed_and_routed(page, team_a, alice):
    response = post_meta(Client(), fixture_bytes("feed_comment__add.json"))

    assert response.status_code == 200
    raw = RawEvent.objects.get()
    assert raw.platform == "facebook" and raw.account == page and raw.processed_at is not None
    assert bytes(raw.body) == fixture_bytes("feed_comment__add.json")
    message = Message.objects.get()
    assert message.external_id == MARTA_COMMENT
    assert message.kind == "comment" and message.visibility == "public"
    assert message.sent_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert message.author_contact.name == "Marta Puig"
    assert message.author_contact.platform == "facebook"
    conversation = message.conversation
    assert conversation.kind == Conversation.Kind.PUBLIC
    assert conversation.thread_key == f"fb:comment:{POST}:{MARTA_COMMENT}"
    assert conversation.team == team_a


@pytest.mark.parametrize(("signature", "status"), [("", 401), ("sha256=" + "0" * 64, 403), ("sha1=abc", 403)])
def test_forged_or_unsigned_delivery_stores_nothing(page, caplog, signature, status):
    with caplog.at_level(logging.WARNING, logger="channels_adapters.webhooks"):
        response = post_meta(Client(), fixture_bytes("feed_comment__add.json"), signature=signature)

    assert response.status_code == status
    assert not RawEvent.objects.exists() and not Message.objects.exists()
    assert "rejected" in caplog.text


def test_signature_of_another_secret_is_refused(page):
    from channels_adapters.meta.webhook import sign

    body = fixture_bytes("feed_comment__add.json")
    response = post_meta(Client(), body, signature=sign(body, secret="someone-elses-app-secret"))

    assert response.status_code == 403
    assert not RawEvent.objects.exists()


def test_signature_is_checked_on_the_raw_bytes_not_a_reserialised_body(page):
    body = fixture_bytes("feed_comment__add.json")
    reserialised = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    assert reserialised != body

    response = post_meta(Client(), reserialised, signature=post_signature(body))

    assert response.status_code == 403
    assert not RawEvent.objects.exists()


def post_signature(body: bytes) -> str:
    from channels_adapters.meta.webhook import sign

    return sign(body)


def test_delivery_for_a_page_we_do_not_have_is_a_404(db):
    response = post_meta(Client(), fixture_bytes("feed_comment__add.json"))

    assert response.status_code == 404
    assert not RawEvent.objects.exists()


def test_unsupported_object_is_a_400(page):
    response = post_meta(Client(), b'{"object": "permissions", "entry": [{"id": "1", "time": 1}]}')

    assert response.status_code == 400


# --- batches, threads ------------------------------------------------------------------------


def test_one_post_with_several_entries_mixing_comments_and_messages(page, other_page):
    response = post_meta(Client(), fixture_bytes("batch__mixed.json"))

    assert response.status_code == 200
    raw = RawEvent.objects.get()
    assert raw.account is None  # two Pages in one delivery
    # Two comments in one thread and two Messenger threads on the first Page (a reaction and
    # a read receipt dropped), one comment on the second Page.
    assert sorted(Message.objects.values_list("account__external_id", "kind")) == sorted([
        (PAGE_ID, "comment"), (PAGE_ID, "comment"), (PAGE_ID, "dm"), (PAGE_ID, "dm"), (other_page.external_id, "comment"),
    ])
    threads = dict(Conversation.objects.values_list("thread_key", "kind"))
    assert threads == {
        f"fb:comment:{PAGE_ID}_1029384756400000:1029384756400000_1203948570000001": "public",
        "fb:dm:6512345678900001": "private",
        "fb:dm:6512345678900002": "private",
        "fb:comment:108765432109876_2039485761200000:2039485761200000_1300000000000001": "public",
    }
    assert Conversation.objects.get(account=other_page).team == other_page.default_team


def test_a_reply_joins_its_top_level_comments_conversation(page):
    deliver("feed_comment__add.json", "feed_comment__reply.json")

    conversation = Conversation.objects.get()
    reply = conversation.messages.get(external_id="1029384756473829_1203948576099999")
    assert reply.in_reply_to == MARTA_COMMENT
    assert reply.attachments == [{"type": "image", "url": "https://scontent.xx.fbcdn.net/v/t39.30808-6/467123456_n.jpg"}]
    assert conversation.contact.name == "Marta Puig"  # the thread belongs to who started it
    assert Contact.objects.count() == 2


def test_the_pages_own_comments_are_not_citizen_messages(page):
    deliver("feed_comment__add.json", "feed_comment__page_own.json")

    assert Message.objects.count() == 1
    assert not Contact.objects.filter(external_id=PAGE_ID).exists()


def test_redelivered_comment_is_stored_once(page):
    deliver("feed_comment__add.json", "feed_comment__add.json")

    assert RawEvent.objects.count() == 2
    assert Message.objects.count() == 1


# --- edits and deletions are revisions -------------------------------------------------------


def test_edited_comment_keeps_the_previous_text_as_a_revision(page):
    deliver("feed_comment__add.json", "feed_comment__edited.json")

    message = Message.objects.get()
    assert message.text == "Fa quatre dies que no passen a recollir els contenidors del carrer Verdi."
    assert message.edited_at == datetime(2026, 11, 20, 9, 12, tzinfo=UTC)
    revision = message.revisions.get()
    assert revision.action == MessageRevision.Action.EDIT
    assert revision.previous_text.startswith("Fa tres dies")


def test_removed_comment_is_marked_deleted_not_erased(page):
    deliver("feed_comment__add.json", "feed_comment__edited.json", "feed_comment__remove.json")

    message = Message.objects.get()
    assert message.deleted_at == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert message.text.startswith("Fa quatre dies")  # the last text is still on record
    assert list(message.revisions.values_list("action", flat=True)) == ["edit", "delete"]


def test_hidden_comment_is_marked_hidden(page):
    deliver("feed_comment__add.json", "feed_comment__hide.json", "feed_comment__hide.json")

    message = Message.objects.get()
    assert message.hidden_at is not None
    assert list(message.revisions.values_list("action", flat=True)) == ["hide"]


# --- Messenger -------------------------------------------------------------------------------


def test_messenger_text_is_a_private_conversation_with_the_psid(page):
    deliver("messaging__text.json")

    message = Message.objects.get()
    assert message.external_id == MID and message.kind == "dm" and message.visibility == "private"
    assert message.sent_at == datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)
    assert message.conversation.thread_key == "fb:dm:6512345678901234"
    assert message.conversation.kind == Conversation.Kind.PRIVATE


def test_messenger_attachments_are_kept(page):
    deliver("messaging__text.json", "messaging__attachments.json")

    message = Message.objects.get(external_id__startswith="m_Attachment")
    assert [a["type"] for a in message.attachments] == ["image", "file"]
    assert Conversation.objects.count() == 1


def test_echoes_of_our_own_messages_are_dropped(page):
    deliver("messaging__text.json", "messaging__echo.json")

    assert list(Message.objects.values_list("external_id", flat=True)) == [MID]


def test_edited_messenger_message_is_a_revision(page):
    deliver("messaging__text.json", "messaging__edit.json")

    message = Message.objects.get()
    assert message.text.endswith("Tengo tarjeta de residente.")
    assert message.revisions.get().previous_text.endswith("si tengo tarjeta de residente?")


# --- Instagram -------------------------------------------------------------------------------


def test_instagram_comment_and_reply_form_one_public_conversation(instagram):
    deliver("ig_comments__add.json", "ig_comments__reply.json", "ig_comments__own.json")

    conversation = Conversation.objects.get()
    assert conversation.account == instagram
    assert conversation.thread_key == "ig:comment:18012345678901234:17890123456789012"
    messages = list(conversation.messages.order_by("sent_at"))
    assert [m.external_id for m in messages] == ["17890123456789012", "17890123456789099"]
    assert messages[0].author_contact.handle == "claire.martin.bcn"
    assert messages[0].author_contact.platform == "instagram"
    assert messages[1].in_reply_to == "17890123456789012"
    assert RawEvent.objects.filter(platform="facebook", account=instagram).count() == 3


def test_instagram_direct_message_echo_and_deletion(instagram):
    deliver("ig_messaging__text.json", "ig_messaging__echo.json", "ig_messaging__deleted.json")

    message = Message.objects.get()
    assert message.conversation.thread_key == "ig:dm:1234567890123456"
    assert message.kind == "dm"
    assert message.deleted_at is not None
    assert message.text.startswith("Dzień dobry")
    assert message.revisions.get().action == "delete"


def test_instagram_mention_fetches_the_mentioning_comment(instagram, graph):
    graph.get(f"{GRAPH}/{IG_ID}", json={
        "mentioned_comment": {
            "id": "17877665544332211", "text": "@ajuntamentvilanova el carril bici del passeig està tallat",
            "timestamp": "2026-11-20T09:00:00+0000", "username": "mehdi.rahimi",
        },
        "id": IG_ID,
    })

    deliver("ig_mentions__comment.json")

    message = Message.objects.get()
    assert message.kind == "mention"
    assert message.text.startswith("@ajuntamentvilanova el carril bici")
    assert message.author_contact.handle == "mehdi.rahimi"
    assert message.conversation.thread_key == "ig:mention:18099887766554433:17877665544332211"
    assert "mentioned_comment.comment_id(17877665544332211)" in graph.calls[0].request.url.replace("%28", "(").replace("%29", ")")


def test_instagram_caption_mention_is_its_own_thread_and_answered_on_the_post(instagram, graph, alice):
    from channels_adapters.outbound import reply_submit

    graph.get(f"{GRAPH}/{IG_ID}", json={
        "mentioned_media": {
            "id": "18099887766554499", "caption": "Festa major! Gràcies @ajuntamentvilanova pels concerts",
            "timestamp": "2026-11-20T09:00:00+0000", "username": "laura.vidal",
        },
        "id": IG_ID,
    })

    deliver("ig_mentions__caption.json")

    message = Message.objects.get()
    assert message.text.startswith("Festa major!") and message.external_id == "media:18099887766554499"
    assert message.conversation.thread_key == "ig:mention:18099887766554499:18099887766554499"
    assert "mentioned_media.media_id(18099887766554499)" in graph.calls[0].request.url.replace("%28", "(").replace("%29", ")")

    graph.post(f"{GRAPH}/{IG_ID}/mentions", json={"id": "17900000000000001"})
    committed(reply_submit, conversation=message.conversation, user=alice, text="Gràcies, Laura!", option_key="public")

    sent = graph.calls[-1].request
    assert "comment_id" not in (sent.body or "") and "media_id=18099887766554499" in sent.body


def test_signed_but_unparseable_entry_is_kept_with_its_error(page):
    body = fixture_bytes("feed_comment__add.json").replace(b'"created_time": 1795165200', b'"created_time": "yesterday"')

    response = post_meta(Client(), body)

    assert response.status_code == 200
    raw = RawEvent.objects.get()
    assert "created_time" in raw.error
    assert not Message.objects.exists()
