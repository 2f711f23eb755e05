"""X payloads shaped like real recorded ones, read item by item.

The fixtures in ``fixtures/recorded/`` are our own, but each reproduces a shape seen in a
real recording or in X's documentation (a citation, nothing copied):

- v2 pages with the default fields only (``id``, ``text``, ``edit_history_tweet_ids``; no
  ``author_id``, ``created_at`` or ``conversation_id`` unless requested), DM events with
  only ``event_type``, ``id``, ``text``: tweepy/tweepy ``cassettes/test_client_get_users_mentions.yaml``,
  ``cassettes/test_client_get_users_tweets.yaml``,
  ``cassettes/test_manage_and_lookup_direct_messages.yaml``;
- ``&amp;`` and ``&lt;`` in post text: tweepy/tweepy ``cassettes/test_client_get_home_timeline.yaml``;
- v1.1 JSON with ``\\/`` and ``\\u003c`` escapes, numeric ``id`` beside ``id_str``, legacy
  DM events with a numeric-string ``created_timestamp``: tweepy/tweepy
  ``cassettes/testsendanddeletedirectmessage.json``, ``cassettes/testgetstatus.json``;
- Account Activity ``favorite_events`` (numeric ``timestamp_ms``), ``follow_events``,
  ``direct_message_indicate_typing_events``, ``direct_message_mark_read_events``,
  ``tweet_delete_events``, ``user_has_blocked`` as the string ``"false"``: X's "Account
  Activity data objects" page (developer.x.com, account-activity-api/guides) and the
  twittercommunity.com announcement of ``tweet_delete_events``;
- ``withheld``, ``note_tweet``, edits in ``edit_history_tweet_ids``, a 200 page with
  ``errors`` and no ``includes``: X API v2 data dictionary (docs.x.com, fundamentals/data-dictionary,
  edit-posts, long posts).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels_adapters.base import ParseResult
from channels_adapters.registry import get_adapter
from inbox.inbound import Action
from inbox.models import Contact, Conversation, Message, QuarantinedItem, RawEvent

from .conftest import ACCOUNT_ID, CITIZEN_ID, FIXTURES, post_x

pytestmark = pytest.mark.django_db

RECORDED = FIXTURES / "recorded"


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def parse(name: str) -> ParseResult:
    raw = RawEvent(platform="x", source=RawEvent.Source.WEBHOOK, body=recorded(name), headers={})
    return get_adapter("x").parse(raw)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, second, tzinfo=UTC)


# --- text ------------------------------------------------------------------------------------


def test_entities_in_post_text_are_unescaped_exactly_once():
    result = parse("tweet_create_events__html_entities.json")

    assert result.quarantined == [] and result.ignored == []
    [message] = result.messages
    assert message.external_id == "1861000000000001001"
    # The full text of a long post is in extended_tweet; "&amp;lt;" is what the citizen typed
    # as "&lt;", and stays so.
    assert message.text == (
        "@CiutatExemple Obres a Aragó & Balmes: el tall de trànsit dura < 2h o > 2h? Al cartell hi "
        "posa \"&lt;\u00a0demà&gt;\" (tal qual, amb els símbols). Ningú sap dir-me per on passa el bus "
        "V15 mentrestant."
    )
    assert (message.author.external_id, message.author.handle, message.author.name) == (
        "1620000000000000003", "jordi_roca_bcn", "Jordi Roca")
    assert message.sent_at == at(9)
    assert message.thread_key == "post:1861000000000001001" and message.in_reply_to == ""


def test_entities_in_dm_text_are_unescaped_and_a_media_dm_keeps_its_photo():
    result = parse("direct_message_events__mixed.json")

    texts = {m.external_id: m.text for m in result.messages}
    assert texts["1861000000000007301"] == "Adjunto foto: el contenidor & la vorera plena <3 setmanes"
    photo = next(m for m in result.messages if m.external_id == "1861000000000007304")
    assert [(a.type, a.url) for a in photo.attachments] == [(
        "image",
        "https://ton.twitter.com/1.1/ton/data/dm/1861000000000007304/1861000000000007399/AbCd1234.jpg",
    )]


# --- one unreadable item never sinks its neighbours -----------------------------------------


def test_a_post_with_an_impossible_timestamp_is_quarantined_and_its_neighbours_kept():
    result = parse("tweet_create_events__one_unreadable.json")

    [message] = result.messages
    assert message.external_id == "1861000000000001102"
    assert message.author.external_id == CITIZEN_ID
    assert message.sent_at == at(9, 30)
    assert message.in_reply_to == "1861000000000001100"
    assert message.thread_key == "post:1861000000000001100"  # no stored parent: the replied-to post
    [item] = result.quarantined
    assert item.locator == "tweet_create_events[1]"
    assert "timestamp_ms" in item.reason and "out of range" in item.reason
    assert item.fragment["id_str"] == "1861000000000001103"
    # A repost of our post and our own reply are not citizen messages, on purpose.
    assert sorted(result.ignored) == ["x.own_post", "x.repost"]


def test_legacy_dm_batch_keeps_the_readable_ones_drops_our_own_and_quarantines_a_numeric_sender():
    result = parse("direct_message_events__mixed.json")

    assert [m.external_id for m in result.messages] == ["1861000000000007301", "1861000000000007304"]
    first = result.messages[0]
    assert first.thread_key == f"dm:{ACCOUNT_ID}-{CITIZEN_ID}"  # X's one-to-one id: smaller user id first
    assert first.sent_at == at(11)
    assert (first.author.external_id, first.author.handle, first.author.name) == (CITIZEN_ID, "marta_puig", "Marta Puig")
    assert first.kind == "dm" and first.visibility == "private"
    [item] = result.quarantined
    assert item.locator == "direct_message_events[2]"
    assert "sender_id" in item.reason
    assert item.fragment["id"] == "1861000000000007303"
    assert result.ignored == ["x.own_dm"]


# --- kinds the inbox does not keep ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("favorite_events__like.json", "x.favorite_events"),
        ("follow_events__follow.json", "x.follow_events"),
        ("direct_message_indicate_typing_events__typing.json", "x.direct_message_indicate_typing_events"),
        ("direct_message_mark_read_events__read.json", "x.direct_message_mark_read_events"),
    ],
)
def test_likes_follows_typing_and_reads_are_ignored_on_purpose_not_quarantined(name, kind):
    result = parse(name)

    assert result.messages == [] and result.quarantined == []
    assert result.ignored == [kind]
    assert result.reconnect_account_ids == []


# --- the API v2 as it answers when fields or expansions are missing --------------------------


def test_posts_with_the_default_fields_only_are_quarantined_one_by_one():
    """Without tweet.fields=author_id,created_at a post cannot be attributed or dated."""
    result = parse("mentions__default_fields_only.json")

    assert result.messages == []
    assert [q.locator for q in result.quarantined] == ["page.data[0]", "page.data[1]"]
    assert all("author_id" in q.reason for q in result.quarantined)
    assert result.quarantined[1].fragment["id"] == "1861000000000001401"


def test_dm_events_with_the_default_fields_only_are_quarantined_and_a_join_is_ignored():
    result = parse("dm_events__default_fields_only.json")

    assert result.messages == []
    assert [q.locator for q in result.quarantined] == ["page.data[0]", "page.data[2]"]
    assert all("sender_id" in q.reason for q in result.quarantined)
    assert result.ignored == ["x.dm.ParticipantsJoin"]


def test_a_post_whose_author_is_missing_from_includes_keeps_the_author_id():
    result = parse("mentions__includes_missing.json")

    [message] = result.messages
    assert message.external_id == "1861000000000001501"
    assert (message.author.external_id, message.author.handle, message.author.name) == (
        "1620000000000000008", "", "")
    assert message.text == "@CiutatExemple ¿A qué hora abre la OAC de Sants mañana?"
    assert message.sent_at == at(12)
    assert result.quarantined == []


def test_withheld_long_edited_and_reply_posts_are_read_as_x_sends_them():
    result = parse("mentions__withheld_note_edit.json")

    assert result.quarantined == [] and result.ignored == []
    by_id = {m.external_id: m for m in result.messages}
    assert set(by_id) == {"1861000000000001601", "1861000000000001602", "1861000000000001603", "1861000000000001605"}

    withheld = by_id["1861000000000001601"]
    assert withheld.text == "@CiutatExemple Denuncio un abocament il·legal al torrent de can Martí"
    assert withheld.author.handle == ""  # not in includes.users

    long = by_id["1861000000000001602"]  # the note_tweet's full text, not the truncated one
    assert long.text.endswith("una resposta per escrit abans de la propera reunió.")
    assert "contenidors & neteja" in long.text and "terrasses > 23h" in long.text
    assert long.author.handle == "marta_puig"

    edited = by_id["1861000000000001603"]  # the edit of 1603 arrives with the new id 1604
    assert edited.action == Action.EDIT
    assert edited.text.startswith("@CiutatExemple (corregit)")
    assert edited.thread_key == "post:1861000000000001603"

    reply = by_id["1861000000000001605"]
    assert reply.in_reply_to == "1861000000000001100"
    assert reply.thread_key == "post:1861000000000001100"
    assert reply.sent_at == at(12, 45)


def test_an_activity_mention_without_author_is_quarantined_with_its_locator():
    result = parse("post.mention.create__no_author.json")

    assert result.messages == []
    [item] = result.quarantined
    assert item.locator == "data.payload" and "author_id" in item.reason
    assert item.fragment["id"] == "1861000000000001701"


# --- end to end through the signed webhook --------------------------------------------------


def test_a_mixed_batch_through_the_webhook_stores_the_good_and_quarantines_the_bad(x_account):
    body = recorded("tweet_create_events__one_unreadable.json")

    response = post_x(body)

    assert response.status_code == 200
    raw = RawEvent.objects.get()
    assert bytes(raw.body) == body and raw.processed_at is not None
    message = Message.objects.get()
    assert message.external_id == "1861000000000001102" and message.raw_event == raw
    assert message.author_contact.external_id == CITIZEN_ID
    item = QuarantinedItem.objects.get()
    assert (item.raw_event_id, item.locator, item.platform) == (raw.id, "tweet_create_events[1]", "x")
    assert item.account == x_account and item.resolved_at is None
    assert "out of range" in item.reason
    assert item.fragment["id_str"] == "1861000000000001103"
    assert "quarantined" in raw.error


def test_ignored_kinds_through_the_webhook_store_nothing_and_quarantine_nothing(x_account):
    for name in ("favorite_events__like.json", "follow_events__follow.json",
                 "direct_message_indicate_typing_events__typing.json", "direct_message_mark_read_events__read.json"):
        assert post_x(recorded(name)).status_code == 200, name

    assert RawEvent.objects.filter(processed_at__isnull=False).count() == 4
    assert not Message.objects.exists() and not QuarantinedItem.objects.exists()
    assert set(RawEvent.objects.values_list("error", flat=True)) == {""}


def test_a_deletion_that_arrives_before_its_post_is_applied_when_the_post_comes(x_account):
    assert post_x(recorded("tweet_delete_events__before_create.json")).status_code == 200
    assert not Message.objects.exists()

    assert post_x(recorded("tweet_create_events__deleted_later.json")).status_code == 200

    message = Message.objects.get()
    assert message.external_id == "1861000000000001201"
    assert message.text == "@CiutatExemple Quina vergonya el parc de la Ciutadella, ple de brossa"
    assert message.deleted_at == at(10, 15)
    assert Conversation.objects.get().thread_key == "post:1861000000000001201"
    assert Contact.objects.get().external_id == "1620000000000000004"
    assert not QuarantinedItem.objects.exists()


def test_entities_reach_the_stored_message_unescaped(x_account):
    assert post_x(recorded("tweet_create_events__html_entities.json")).status_code == 200

    text = Message.objects.get().text
    assert "Aragó & Balmes" in text and "&lt;\u00a0demà&gt;" in text and "&amp;" not in text
