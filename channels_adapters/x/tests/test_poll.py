"""Polling mentions and DM events through the real tweepy client, HTTP intercepted at its session."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.utils import timezone
from responses import matchers

from channels_adapters.tasks import poll_channel, poll_due_channels
from inbox.models import ChannelAccount, Contact, Conversation, Message, QuarantinedItem, RawEvent

from .conftest import ACCOUNT_ID, CITIZEN_ID, committed, fixture_bytes

pytestmark = pytest.mark.django_db

MENTIONS = f"/2/users/{ACCOUNT_ID}/mentions"
DM_EVENTS = "/2/dm_events"
EMPTY = b'{"meta":{"result_count":0}}'


def rate(remaining: int, reset_in: int, limit: int = 15) -> dict:
    return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + reset_in)}


def mock(api, path: str, body: bytes, status: int = 200, headers: dict | None = None, match=()):
    api.add(responses.GET, api.base + path, body=body, status=status, headers=headers or {},
            content_type="application/json", match=list(match))


def poll(account: ChannelAccount) -> int:
    count = committed(poll_channel, account.id)
    account.refresh_from_db()
    return count


def test_mentions_page_with_includes_is_stored_threaded_and_moves_the_cursor(api, x_account):
    mock(api, MENTIONS, fixture_bytes("mentions__page_with_includes.json"), headers=rate(170, 900, 180))
    mock(api, DM_EVENTS, EMPTY, headers=rate(14, 900))

    assert poll(x_account) == 1  # one page stored; the empty DM page is not

    request = api.calls[0].request
    assert request.headers["Authorization"] == "Bearer user-access-token"
    assert "expansions=author_id%2Cattachments.media_keys" in request.url and "since_id" not in request.url
    conversation = Conversation.objects.get()
    assert conversation.thread_key == "post:1861000000000000101"
    assert list(conversation.messages.order_by("sent_at").values_list("external_id", flat=True)) == [
        "1861000000000000101", "1861000000000000202"]
    first = conversation.messages.get(external_id="1861000000000000101")
    assert first.attachments == [{"type": "image", "url": "https://pbs.twimg.com/media/GcXyZabcDEF.jpg",
                                  "name": "Contenidor desbordat"}]
    contact = Contact.objects.get()
    assert contact.handle == "marta_puig" and contact.profile["followers"] == 312
    assert x_account.cursors["mentions"]["since_id"] == "1861000000000000202"
    assert RawEvent.objects.filter(source=RawEvent.Source.POLL, account=x_account).count() == 1


def test_empty_poll_keeps_the_cursor(api, x_account):
    x_account.cursors = {"mentions": {"since_id": "1861000000000000202"}}
    x_account.save(update_fields=["cursors"])
    mock(api, MENTIONS, EMPTY, match=[matchers.query_param_matcher({"since_id": "1861000000000000202"}, strict_match=False)])
    mock(api, DM_EVENTS, EMPTY)

    assert poll(x_account) == 0

    assert not Message.objects.exists()
    assert x_account.cursors["mentions"] == {"since_id": "1861000000000000202", "next_at": x_account.cursors["mentions"]["next_at"]}


def test_pagination_reads_the_backlog_and_then_moves_since_id_to_the_newest(api, x_account):
    x_account.cursors = {"mentions": {"since_id": "1861000000000000200"}}
    x_account.save(update_fields=["cursors"])
    mock(api, MENTIONS, fixture_bytes("mentions__page2_of_2.json"), match=[matchers.query_param_matcher(
        {"pagination_token": "7140dibdnow9c7btw481t9cb3e2xg3t9m7k7w8r7ddf5z"}, strict_match=False)])
    mock(api, MENTIONS, fixture_bytes("mentions__page1_of_2.json"))
    mock(api, DM_EVENTS, EMPTY)

    poll(x_account)

    assert Message.objects.count() == 3
    assert Conversation.objects.count() == 3
    assert x_account.cursors["mentions"]["since_id"] == "1861000000000000404"
    assert "next_token" not in x_account.cursors["mentions"]


def test_partial_errors_keep_the_posts_that_came(api, x_account):
    mock(api, MENTIONS, fixture_bytes("mentions__partial_errors.json"))
    mock(api, DM_EVENTS, EMPTY)

    assert poll(x_account) == 1  # pages stored

    message = Message.objects.get()
    assert message.external_id == "1861000000000000505"
    assert message.author_contact.external_id == "1620000000000000006" and message.author_contact.handle == ""


def test_dm_events_keep_the_citizens_and_drop_the_accounts_own(api, x_account):
    mock(api, MENTIONS, EMPTY)
    mock(api, DM_EVENTS, fixture_bytes("dm_events__page.json"), headers=rate(14, 900))

    poll(x_account)

    message = Message.objects.get()
    assert message.external_id == "1861000000000007001" and message.author_contact.external_id == CITIZEN_ID
    assert message.conversation.thread_key == f"dm:{ACCOUNT_ID}-{CITIZEN_ID}"
    assert message.attachments[0]["type"] == "image"
    assert x_account.cursors["dm_events"]["newest_id"] == "1861000000000007002"
    dm_request = next(c.request for c in api.calls if DM_EVENTS in c.request.url)
    assert "dm_event.fields=" in dm_request.url and "event_types=MessageCreate" in dm_request.url


def test_dm_polling_respects_15_requests_per_15_minutes(api, x_account):
    mock(api, MENTIONS, EMPTY, headers=rate(179, 900, 180))
    mock(api, DM_EVENTS, EMPTY, headers=rate(14, 900))
    before = timezone.now()

    poll(x_account)

    dm_next = datetime.fromisoformat(x_account.cursors["dm_events"]["next_at"])
    assert dm_next - before >= timedelta(seconds=60)  # 900 s left / 14 requests
    mentions_next = datetime.fromisoformat(x_account.cursors["mentions"]["next_at"])
    assert mentions_next - before < timedelta(seconds=70)
    assert x_account.next_poll_at == min(dm_next, mentions_next)


def test_endpoint_not_due_is_not_called(api, x_account):
    later = (timezone.now() + timedelta(minutes=10)).isoformat()
    x_account.cursors = {"dm_events": {"newest_id": "1", "next_at": later}}
    x_account.save(update_fields=["cursors"])
    mock(api, MENTIONS, EMPTY)

    poll(x_account)

    assert [c.request.url for c in api.calls if DM_EVENTS in c.request.url] == []
    assert x_account.cursors["dm_events"]["next_at"] == later


def test_429_with_reset_waits_until_x_says(api, x_account):
    reset = int(time.time()) + 600
    mock(api, MENTIONS, fixture_bytes("errors__429.json"), status=429,
         headers={"x-rate-limit-limit": "180", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    mock(api, DM_EVENTS, EMPTY, headers=rate(14, 900))

    poll(x_account)

    next_at = datetime.fromisoformat(x_account.cursors["mentions"]["next_at"])
    assert next_at == datetime.fromtimestamp(reset + 1, UTC)
    assert "rate limit" in x_account.cursors["mentions"]["error"]
    assert x_account.status == ChannelAccount.Status.ACTIVE


def test_429_without_reset_on_every_endpoint_backs_off_and_says_so(api, x_account):
    mock(api, MENTIONS, fixture_bytes("errors__429.json"), status=429)
    mock(api, DM_EVENTS, fixture_bytes("errors__429.json"), status=429)
    before = timezone.now()

    assert poll(x_account) == 0

    assert "rate limit" in x_account.last_error
    assert x_account.next_poll_at >= before + timedelta(minutes=4)
    assert x_account.status == ChannelAccount.Status.ACTIVE


def test_401_marks_the_account_needs_reconnecting_and_beat_stops_polling_it(api, x_account):
    mock(api, MENTIONS, fixture_bytes("errors__401.json"), status=401)

    poll(x_account)

    assert x_account.status == ChannelAccount.Status.NEEDS_RECONNECT
    assert "reconnect" in x_account.last_error
    x_account.next_poll_at = None
    x_account.save(update_fields=["next_poll_at"])
    assert committed(poll_due_channels) == 0


def test_503_backs_off_without_losing_the_cursor(api, x_account):
    x_account.cursors = {"mentions": {"since_id": "1861000000000000202"}}
    x_account.save(update_fields=["cursors"])
    mock(api, MENTIONS, fixture_bytes("errors__503.json"), status=503)
    mock(api, DM_EVENTS, EMPTY)

    poll(x_account)

    assert x_account.cursors["mentions"]["since_id"] == "1861000000000000202"
    assert "503" in x_account.cursors["mentions"]["error"]
    assert x_account.status == ChannelAccount.Status.ACTIVE


def test_a_page_fetched_twice_stores_each_post_once(api, x_account):
    mock(api, MENTIONS, fixture_bytes("mentions__page_with_includes.json"))
    mock(api, DM_EVENTS, EMPTY)

    poll(x_account)
    ChannelAccount.objects.filter(id=x_account.id).update(cursors={})  # as if the cursor had not moved
    poll(x_account)

    assert RawEvent.objects.filter(source=RawEvent.Source.POLL).count() == 2
    assert Message.objects.count() == 2 and Conversation.objects.count() == 1


def dm_page(ids: list[int], next_token: str | None) -> bytes:
    import json

    events = [{"id": str(i), "event_type": "MessageCreate", "text": f"DM {i}", "sender_id": CITIZEN_ID,
               "dm_conversation_id": f"{ACCOUNT_ID}-{CITIZEN_ID}", "created_at": "2026-11-20T09:00:00.000Z"}
              for i in ids]
    meta = {"result_count": len(ids), **({"next_token": next_token} if next_token else {})}
    return json.dumps({"data": events, "meta": meta}).encode()


def test_dm_backlog_longer_than_one_poll_is_resumed_not_skipped(api, x_account):
    x_account.cursors = {"dm_events": {"newest_id": "100"}}
    x_account.save(update_fields=["cursors"])
    mock(api, MENTIONS, EMPTY)
    mock(api, DM_EVENTS, dm_page([600, 500], "p3"), headers=rate(14, 900),
         match=[matchers.query_param_matcher({"pagination_token": "p2"}, strict_match=False)])
    api.add(responses.GET, api.base + DM_EVENTS, body=dm_page([800, 700], "p2"), headers=rate(14, 900),
            content_type="application/json")

    poll(x_account)

    # Two pages read, the DM at 100 not reached: the cursor keeps its place and the token.
    cursor = x_account.cursors["dm_events"]
    assert cursor["newest_id"] == "100" and cursor["next_token"] == "p3"
    assert cursor["pending_newest_id"] == "800"
    assert set(Message.objects.values_list("external_id", flat=True)) >= {"800", "700", "600", "500"}


def test_a_post_without_author_is_quarantined_and_the_page_still_moves_the_cursor(api, x_account):
    x_account.cursors = {"mentions": {"since_id": "1861000000000000200"}}
    x_account.save(update_fields=["cursors"])
    page = json.loads(fixture_bytes("mentions__page1_of_2.json"))
    del page["data"][0]["author_id"]  # the expansion was not in the answer
    page["meta"].pop("next_token")
    mock(api, MENTIONS, json.dumps(page).encode())
    mock(api, DM_EVENTS, EMPTY)

    poll(x_account)

    assert list(Message.objects.values_list("external_id", flat=True)) == ["1861000000000000303"]
    item = QuarantinedItem.objects.get()
    assert item.locator == "page.data[0]" and "author_id" in item.reason
    assert item.fragment["id"] == "1861000000000000404"
    assert x_account.cursors["mentions"]["since_id"] == "1861000000000000404"


def test_a_page_that_cannot_be_read_keeps_the_cursor_and_is_fetched_again(api, x_account):
    x_account.cursors = {"mentions": {"since_id": "1861000000000000200"}, "dm_events": {"newest_id": "100"}}
    x_account.save(update_fields=["cursors"])
    since = [matchers.query_param_matcher({"since_id": "1861000000000000200"}, strict_match=False)]
    mock(api, MENTIONS, b'{"data": {"not": "a list"}, "meta": {"newest_id": "1861000000000000999"}}', match=since)
    mock(api, DM_EVENTS, EMPTY)

    poll(x_account)

    assert x_account.cursors["mentions"] == {"since_id": "1861000000000000200"}  # not moved
    assert x_account.cursors["dm_events"]["newest_id"] == "100" and "next_at" in x_account.cursors["dm_events"]
    assert QuarantinedItem.objects.get().locator == ""  # the whole page, kept for a replay

    # The next poll asks again from the old cursor and stores what the page holds now.
    api.replace(responses.GET, api.base + MENTIONS, body=fixture_bytes("mentions__page1_of_2.json").replace(
        b'"next_token": "7140dibdnow9c7btw481t9cb3e2xg3t9m7k7w8r7ddf5z"', b'"result_count": 2'),
        content_type="application/json", match=since)
    ChannelAccount.objects.filter(id=x_account.id).update(next_poll_at=None)
    poll(x_account)
    assert Message.objects.count() == 2
    assert x_account.cursors["mentions"]["since_id"] == "1861000000000000404"


def test_a_crash_before_the_page_is_stored_leaves_the_cursor_where_it_was(api, x_account, monkeypatch):
    x_account.cursors = {"mentions": {"since_id": "1861000000000000200"}}
    x_account.save(update_fields=["cursors"])
    mock(api, MENTIONS, fixture_bytes("mentions__page_with_includes.json"))
    mock(api, DM_EVENTS, EMPTY)

    def crash(*args, **kwargs):
        raise RuntimeError("worker lost its database connection")

    monkeypatch.setattr("channels_adapters.pipeline.messages_ingest", crash)
    with pytest.raises(RuntimeError):
        poll(x_account)

    x_account.refresh_from_db()
    assert x_account.cursors == {"mentions": {"since_id": "1861000000000000200"}}
    assert not RawEvent.objects.exists() and not Message.objects.exists()
