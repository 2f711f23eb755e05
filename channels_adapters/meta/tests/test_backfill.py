"""Backfill and the safety-net poll: recent comments and conversations, paged, never twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine

from channels_adapters.meta.tests.conftest import (
    GRAPH,
    IG_ID,
    PAGE_ID,
    committed,
    deliver,
    fixture_json,
)
from channels_adapters.tasks import poll_channel
from inbox.models import ChannelAccount, Conversation, Message, RawEvent

pytestmark = pytest.mark.django_db

POST = "104857301234567_1029384756473829"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


def poll(account: ChannelAccount) -> None:
    with time_machine.travel(NOW, tick=False):
        committed(poll_channel.delay, account.id)


@pytest.fixture
def page_lists(graph):
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fixture_json("graph_posts__recent.json"))
    # Newest first; the second page ends with a comment older than the backfill window.
    graph.get(f"{GRAPH}/{POST}/comments", json=fixture_json("graph_comments__page1.json"))
    graph.get(f"{GRAPH}/{POST}/comments", json=fixture_json("graph_comments__page2.json"))
    graph.get(f"{GRAPH}/{PAGE_ID}/conversations", json=fixture_json("graph_conversations__messenger.json"))
    return graph


def test_backfill_pages_through_comments_and_skips_what_is_stored(page, page_lists):
    deliver("feed_comment__add.json", "messaging__text.json")  # what the webhooks already brought

    poll(page)

    assert RawEvent.objects.filter(source=RawEvent.Source.POLL).count() == 2
    assert sorted(Message.objects.values_list("external_id", flat=True)) == sorted([
        "1029384756473829_1203948576012345",  # Marta's comment, stored once
        "1029384756473829_1203948576099999",  # Jordi's reply, missed by the webhook
        "m_Xl3pQ1uTz2o0cE5vKx8yRgAbCdEfGhIjKlMnOpQrStUvWxYz0123456789",  # stored once
        "m_NewMessageOnlyFoundByPolling00000000000000000000000000000001",
    ])  # the Page's own comment and message are not citizen messages; the old comment is out of range
    assert Conversation.objects.count() == 2
    reply = Message.objects.get(external_id="1029384756473829_1203948576099999")
    assert reply.conversation.thread_key == f"fb:comment:{POST}:1029384756473829_1203948576012345"
    comment_calls = [c for c in page_lists.calls if "/comments" in c.request.url]
    assert "after" not in query(comment_calls[0])
    assert query(comment_calls[1])["after"] == "WTI5dGJXVnVkRjlqZAFhKemI0"
    assert not any("1029384756000001" in c.request.url for c in page_lists.calls)  # old post not read
    page.refresh_from_db()
    assert page.cursors["backfill"] == {"since": (NOW - timedelta(minutes=10)).isoformat()}
    assert page.next_poll_at == NOW + timedelta(minutes=15)


def test_polling_again_adds_nothing(page, page_lists):
    poll(page)
    count = Message.objects.count()
    ChannelAccount.objects.filter(id=page.id).update(cursors={})  # re-read the same week

    poll(page)

    assert Message.objects.count() == count == 4
    assert RawEvent.objects.filter(source=RawEvent.Source.POLL).count() == 4


def test_rate_limited_poll_waits_and_records_the_error(page, graph):
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json=fixture_json("graph_error__rate_limit_custom.json"), status=400)

    poll(page)

    page.refresh_from_db()
    assert "613" in page.last_error
    assert page.status == ChannelAccount.Status.ACTIVE
    assert page.next_poll_at >= NOW + timedelta(minutes=15)
    assert not RawEvent.objects.exists()


def test_poll_slows_down_when_the_budget_runs_low(page, graph):
    usage = {PAGE_ID: [{"type": "pages", "call_count": 82, "total_cputime": 30, "total_time": 41,
                        "estimated_time_to_regain_access": 0}]}
    graph.get(f"{GRAPH}/{PAGE_ID}/posts", json={"data": []}, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    graph.get(f"{GRAPH}/{PAGE_ID}/conversations", json={"data": []})

    poll(page)

    page.refresh_from_db()
    assert page.next_poll_at == NOW + timedelta(hours=1)


def test_instagram_backfill_reads_media_comments_replies_and_threads(instagram, graph):
    graph.get(f"{GRAPH}/{IG_ID}/media", json={"data": [{"id": "18012345678901234", "timestamp": "2026-11-19T08:00:00+0000"}]})
    graph.get(f"{GRAPH}/18012345678901234/comments", json={"data": [{
        "id": "17890123456789012", "text": "Les poubelles de la rue de Còrsega n'ont pas été vidées.",
        "timestamp": "2026-11-20T09:00:00+0000", "username": "claire.martin.bcn",
        "from": {"id": "17850000000000001", "username": "claire.martin.bcn"},
        "replies": {"data": [
            {"id": "17890123456789099", "text": "Same on Carrer de Pujades.", "timestamp": "2026-11-20T09:05:00+0000",
             "username": "oriol_karimi", "from": {"id": "17850000000000002", "username": "oriol_karimi"}},
            {"id": "17890123456789555", "text": "Merci Claire.", "timestamp": "2026-11-20T09:10:00+0000",
             "username": "ajuntamentvilanova", "from": {"id": IG_ID, "username": "ajuntamentvilanova"}},
        ]},
    }]})
    graph.get(f"{GRAPH}/{PAGE_ID}/conversations", json={"data": [{
        "id": "aWdfZAG06MTpJR01lc3NhZA2VUaHJlYWQ6", "updated_time": "2026-11-20T09:20:00+0000",
        "messages": {"data": [{
            "id": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMTIzNDU2Nzg5OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTY1MzAwMDAwMDAwMDAwMQZDZD",
            "created_time": "2026-11-20T09:20:00+0000", "from": {"username": "kasia.nowak", "id": "1234567890123456"},
            "to": {"data": [{"username": "ajuntamentvilanova", "id": IG_ID}]},
            "message": "Dzień dobry, jak mogę zarejestrować się jako mieszkaniec?",
        }]},
    }]})

    poll(instagram)

    assert sorted(Conversation.objects.values_list("thread_key", flat=True)) == [
        "ig:comment:18012345678901234:17890123456789012", "ig:dm:1234567890123456",
    ]
    assert Message.objects.count() == 3  # the account's own reply is not a citizen message
    conversations_call = next(c for c in graph.calls if "/conversations" in c.request.url)
    assert query(conversations_call)["platform"] == "instagram"
