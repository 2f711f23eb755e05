"""Messenger, Page and Instagram webhook bodies shaped like real recorded ones.

The fixtures in ``fixtures/recorded/`` are our own, but each reproduces a shape seen in a
real recording, another project's test suite or Meta's documentation (a citation, nothing
copied):

- feed comments with ``sender_id`` (a number) and ``sender_name`` instead of ``from``,
  ``parent_id`` equal to ``post_id`` for a top-level comment, removals without message or
  time, comment likes, changes with no ``value`` at all (``{"field": "parking"}``), the
  Page ``mention`` field: restfb/restfb ``src/test/resources/json/webhooks/feed-comment-add-25.json``,
  ``feed-comment-remove-25.json``, ``feed-like-add-comment-25.json``, ``feed-two-entries-25.json``,
  ``mention-post-add-real.json``;
- numeric entry, sender and recipient ids, stickers, ``is_unsupported``, deliveries without
  a timestamp, reactions (react / unreact), referrals, ``app_roles``, ``policy-enforcement``
  without a sender, ``message_edit`` with a string ``num_edit``, ``standby``: restfb/restfb
  ``messaging-message-sticker.json``, ``messaging-message-isunsupported.json``,
  ``messaging-delivery-basic.json``, ``messaging-reaction-1.json``, ``messaging-reaction-2.json``,
  ``messaging-referral-basic.json``, ``messaging-approles.json``,
  ``messaging-policy-callback-block.json``, ``messaging-message-edits.json``,
  ``standby-message-basic-echo.json``; Yoctol/bottender
  ``packages/bottender/src/messenger/__tests__/MessengerEvent.spec.ts``;
- the checkbox plugin's opt-in with ``user_ref`` and no ``sender``: Meta's
  ``messaging_optins`` webhook reference; restfb/restfb ``messaging-optin-userref.json``;
- reads and deliveries with numeric-string watermarks, postbacks, the app dashboard's
  "Test" delivery (entry id ``"0"``, times as numeric strings), Instagram story mentions,
  story replies (``reply_to.story``), shares and standby: chatwoot/chatwoot
  ``spec/factories/instagram/instagram_message_create_event.rb`` and its Facebook
  messaging factories (``message_deliveries``, ``message_reads``, ``messaging_postbacks``);
- Instagram comments with no ``from``: Meta's Instagram ``comments`` webhook reference
  (``from`` is only sent when the app may see the commenter).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from channels_adapters.base import ParseResult
from channels_adapters.meta.tests.conftest import FIXTURES, IG_ID, PAGE_ID, post_meta
from channels_adapters.registry import get_adapter
from inbox.inbound import Action
from inbox.models import Contact, Message, QuarantinedItem, RawEvent

pytestmark = pytest.mark.django_db

RECORDED = FIXTURES / "recorded"


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def parse(name: str) -> ParseResult:
    raw = RawEvent(platform="facebook", source=RawEvent.Source.WEBHOOK, body=recorded(name), headers={})
    return get_adapter("facebook").parse(raw)


def at(hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, second, microsecond, tzinfo=UTC)


# --- who wrote it ---------------------------------------------------------------------------


def test_an_older_feed_comment_names_its_author_in_sender_id_and_sender_name():
    result = parse("feed_comment__sender_fields.json")

    [message] = result.messages
    assert message.external_id == "1029384756400100_1203948570000101"
    assert (message.author.external_id, message.author.name) == ("5550001112223340", "Carme Bosch")
    assert message.thread_key == (
        "fb:comment:104857301234567_1029384756400100:1029384756400100_1203948570000101")
    assert message.in_reply_to == ""  # parent_id is the post: a top-level comment
    assert message.sent_at == at(9, 0, 55)
    assert result.ignored == ["feed.like"] and result.quarantined == []


def test_comments_without_any_author_get_an_author_each_never_a_shared_unknown():
    result = parse("feed_comment__no_from.json")

    assert result.quarantined == []
    first, second, removal = result.messages
    assert first.author.external_id != second.author.external_id
    assert {first.author.external_id, second.author.external_id}.isdisjoint({"", "unknown"})
    assert second.in_reply_to == first.external_id
    assert second.thread_key == first.thread_key  # a reply joins its top-level comment's thread
    assert (removal.action, removal.external_id, removal.text) == (
        Action.DELETE, "1029384756400200_1203948570000199", "")
    assert removal.sent_at == at(10, 0, 1)  # no created_time on a removal: when Meta reported it


def test_instagram_comments_without_from_are_kept_with_distinct_authors_and_our_reply_dropped():
    result = parse("ig_comments__no_from.json")

    assert result.quarantined == []
    assert [m.external_id for m in result.messages] == ["17890123456700071", "17890123456700072"]
    first, second = result.messages
    assert first.author.external_id != second.author.external_id
    assert first.platform == "instagram" and first.account_external_id == IG_ID
    assert first.thread_key == "ig:comment:18012345678900070:17890123456700071"
    assert first.sent_at == at(13, 10)  # entry.time: IG comment webhooks carry no time of their own
    assert result.ignored == ["instagram.own_comment"]


def test_anonymous_commenters_become_two_contacts_when_stored(page):
    assert post_meta(Client(), recorded("feed_comment__no_from.json")).status_code == 200

    # The removal names a comment we never had: it waits as a tombstone, no message.
    authors = list(Message.objects.order_by("sent_at").values_list("author_contact_id", flat=True))
    assert len(authors) == 2 and authors[0] != authors[1]
    assert Contact.objects.count() == 2
    assert not QuarantinedItem.objects.exists()


# --- numbers and strings where Meta sends either ---------------------------------------------


def test_numeric_ids_and_stickers_are_read_as_strings():
    result = parse("messaging__numeric_ids.json")

    assert result.quarantined == []
    text, sticker = result.messages
    assert (text.account_external_id, text.author.external_id, text.external_id) == (
        PAGE_ID, "6512345678900031", "mid.$cAABa8wNumeric0000000000000000031")
    assert text.thread_key == "fb:dm:6512345678900031"
    assert text.sent_at == at(12, 10, 0, 918000)
    assert [(a.type, a.url) for a in sticker.attachments] == [
        ("image", "https://scontent.xx.fbcdn.net/v/t39.1997-6/851557_369239266556155_759568595_n.png")]


def test_numeric_string_timestamps_are_accepted_and_impossible_ones_quarantined():
    result = parse("messaging__unreadable_neighbours.json")

    assert [m.external_id for m in result.messages] == [
        "m_NeighbourBefore000000000000000000000000000000000000000000041",
        "m_NeighbourAfter0000000000000000000000000000000000000000000044",
    ]
    assert result.messages[1].sent_at == at(12, 20, 0, 400000)  # "1795177200400", a string
    far, user_ref = result.quarantined
    assert far.locator == "entry[0].messaging[1]" and "timestamp" in far.reason and "range" in far.reason
    assert user_ref.locator == "entry[0].messaging[2]" and "sender.id must be an id" in user_ref.reason
    assert user_ref.fragment["sender"] == {"user_ref": "cb-7f3a9e21-4c55-4d3b-9c1e-2a0b6d8f1e44"}


# --- kinds the inbox does not keep ----------------------------------------------------------


def test_a_checkbox_opt_in_without_sender_is_ignored_and_its_neighbour_kept():
    result = parse("messaging__optin_checkbox.json")

    [message] = result.messages
    assert message.author.external_id == "6512345678900011"
    assert message.text == "He marcat la casella per rebre l'avís del padró"
    assert result.ignored == ["messaging.optin"] and result.quarantined == []


def test_postbacks_reads_deliveries_reactions_referrals_and_roles_are_ignored_on_purpose():
    result = parse("messaging__mixed_kinds.json")

    assert result.quarantined == []
    text, edit = result.messages
    assert (text.action, text.text) == (Action.CREATE, "Vull demanar hora per al DNI")
    assert (edit.action, edit.external_id, edit.text) == (
        Action.EDIT, text.external_id, "Vull demanar hora per renovar el DNI")
    assert edit.sent_at == at(12, 0, 0, 900000)
    kinds = sorted(result.ignored)
    assert len(kinds) == 8 and all(k.startswith("messaging.") for k in kinds)
    for kind in ("messaging.postback", "messaging.read", "messaging.delivery", "messaging.referral",
                 "messaging.app_roles"):
        assert kind in kinds
    assert kinds.count("messaging.reaction") == 2


def test_unknown_and_page_own_feed_items_are_ignored_and_the_comment_kept():
    result = parse("feed__unknown_and_valueless_changes.json")

    mention, message = sorted(result.messages, key=lambda m: m.kind != "mention")
    assert message.external_id == "1029384756400300_1203948570000301"
    assert (message.author.external_id, message.author.name) == ("5550001112223344", "Xavi Camps")
    for kind in ("feed.status", "feed.reaction"):
        assert kind in result.ignored
    # A citizen naming the Page in a post of their own is a mention, answered on that post.
    assert (mention.kind, mention.external_id) == ("mention", "5550001112223343_8800000000000001")
    assert mention.thread_key == "fb:comment:5550001112223343_8800000000000001:5550001112223343_8800000000000001"
    assert mention.text.startswith("@Ajuntament de Vilanova") and mention.author.external_id.startswith("anonymous:")


def test_changes_without_a_value_are_ignored_not_quarantined():
    """Meta sends ``{"field": "parking"}`` with no value for Page fields we never asked for."""
    result = parse("feed__unknown_and_valueless_changes.json")

    assert result.quarantined == []
    assert "facebook.parking" in result.ignored and "facebook.payment_options" in result.ignored


def test_a_message_held_on_standby_by_another_app_is_kept_as_the_citizens_message():
    result = parse("standby__message.json")

    assert result.quarantined == [] and result.ignored == []
    [message] = result.messages
    assert message.external_id.startswith("m_StandbyWhileInboxOwnsThread")
    assert message.author.external_id == "6512345678900051" and message.thread_key == "fb:dm:6512345678900051"


# --- Instagram messaging as it arrives ------------------------------------------------------


def test_a_story_mention_is_a_message_with_the_story_as_attachment():
    [message] = parse("ig_messaging__story_mention.json").messages

    assert message.platform == "instagram" and message.thread_key == "ig:dm:1234567890123461"
    assert message.text == ""
    [attachment] = message.attachments
    assert attachment.url.startswith("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18300000000000061")


def test_a_story_reply_is_a_message_with_its_text():
    [message] = parse("ig_messaging__story_reply.json").messages

    assert message.text == "I el concert de dissabte es fa igualment si plou?"
    assert message.in_reply_to == ""  # reply_to names a story, not a message of the thread
    assert message.sent_at == at(13, 1, 0, 400000)


def test_a_shared_post_is_a_message_with_a_link():
    [message] = parse("ig_messaging__share.json").messages

    assert [(a.type, a.url) for a in message.attachments] == [
        ("link", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18300000000000063&signature=AbX0Share63")]


def test_an_unsupported_message_is_kept_not_quarantined_and_the_read_ignored():
    result = parse("ig_messaging__unsupported.json")

    assert result.quarantined == []
    [message] = result.messages
    assert message.external_id.endswith("MDA2NAZDZD") and message.attachments == ()
    assert result.ignored == ["messaging.read"]


# --- Meta's dashboard test deliveries --------------------------------------------------------


@pytest.mark.parametrize("name", ["messaging__test_delivery.json", "ig_comments__test_delivery.json"])
def test_the_dashboard_test_delivery_is_answered_200_and_not_stored(page, instagram, name):
    response = post_meta(Client(), recorded(name))

    assert response.status_code == 200
    assert not RawEvent.objects.exists() and not QuarantinedItem.objects.exists()
    assert not Message.objects.exists()


# --- end to end through the signed webhook --------------------------------------------------


def test_a_mixed_batch_through_the_webhook_stores_the_good_and_quarantines_the_bad(page):
    body = recorded("batch__mixed_with_unreadable.json")

    response = post_meta(Client(), body)

    assert response.status_code == 200
    raw = RawEvent.objects.get()
    assert bytes(raw.body) == body and raw.processed_at is not None
    stored = dict(Message.objects.values_list("external_id", "text"))
    assert stored == {
        # Meta's text is not HTML-escaped: "&amp;" is what the citizen wrote.
        "1029384756400500_1203948570000501": "El pont de la riera fa dies que té la barana trencada &amp; ningú ho tanca",
        "m_BatchUnreadableGood000000000000000000000000000000000000000061": "Us envio la foto de la barana",
    }
    photo = Message.objects.get(external_id__startswith="m_Batch")
    assert photo.attachments == [{"type": "image", "url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/barana_riera_61.jpg"}]
    items = {q.locator: q for q in QuarantinedItem.objects.all()}
    assert set(items) == {"entry[0].changes[1]", "entry[1].messaging[2]"}
    assert "created_time" in items["entry[0].changes[1]"].reason
    assert items["entry[0].changes[1]"].fragment["value"]["comment_id"] == "1029384756400500_1203948570000502"
    assert "mid" in items["entry[1].messaging[2]"].reason
    assert all(q.raw_event_id == raw.id and q.platform == "facebook" and q.resolved_at is None
               for q in items.values())
    assert "2 item(s) quarantined" in raw.error


def test_neighbours_of_unreadable_messages_are_stored_in_their_own_threads(page):
    assert post_meta(Client(), recorded("messaging__unreadable_neighbours.json")).status_code == 200

    assert sorted(Message.objects.values_list("conversation__thread_key", flat=True)) == [
        "fb:dm:6512345678900041", "fb:dm:6512345678900044"]
    assert sorted(QuarantinedItem.objects.values_list("locator", flat=True)) == [
        "entry[0].messaging[1]", "entry[0].messaging[2]"]


def test_instagram_story_mentions_replies_shares_and_unsupported_messages_are_stored(instagram):
    for name in ("ig_messaging__story_mention.json", "ig_messaging__story_reply.json",
                 "ig_messaging__share.json", "ig_messaging__unsupported.json"):
        assert post_meta(Client(), recorded(name)).status_code == 200, name

    stored = {m.conversation.thread_key: m for m in Message.objects.select_related("conversation")}
    assert set(stored) == {f"ig:dm:123456789012346{n}" for n in (1, 2, 3, 4)}
    assert all(m.account == instagram and m.kind == Message.Kind.DM for m in stored.values())
    assert stored["ig:dm:1234567890123461"].attachments[0]["url"].startswith("https://lookaside.fbsbx.com/")
    assert stored["ig:dm:1234567890123462"].text == "I el concert de dissabte es fa igualment si plou?"
    assert stored["ig:dm:1234567890123463"].attachments[0]["type"] == "link"
    assert not QuarantinedItem.objects.exists()
