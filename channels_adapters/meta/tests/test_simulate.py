"""The demo's Meta-shaped deliveries go through the real webhook, signature and parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client

from channels_adapters.meta.simulate import meta_payloads
from channels_adapters.meta.tests.conftest import IG_ID, PAGE_ID, committed
from channels_adapters.simulator.feed import Feed
from inbox.models import Conversation, Message

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def post(body: bytes, headers: dict[str, str]):
    return committed(Client().post, "/webhooks/meta/", data=body, content_type=headers["Content-Type"],
                     headers={k: v for k, v in headers.items() if k != "Content-Type"})


def event(n: int, channel: str, *, thread: str | None = None) -> dict:
    return {
        "type": "message", "id": f"sim-run-{n}", "thread_id": thread or f"sim-run-{n}", "channel": channel,
        "from": {"id": f"sim-user-{n}", "handle": f"citizen{n}", "name": f"Citizen {n}"},
        "text": f"Missatge {n}", "created_at": AT.replace(minute=n).isoformat(),
    }


@pytest.mark.parametrize(("platform", "account_id"), [("facebook", PAGE_ID), ("instagram", IG_ID)])
def test_simulated_comments_threads_and_messages_are_ingested(page, instagram, platform, account_id):
    events = [event(1, "comment"), event(2, "comment", thread="sim-run-1"), event(3, "dm"), event(4, "mention")]

    for item in events:
        body, headers = meta_payloads(item, account_id, platform)
        assert json.loads(body)["object"] == ("page" if platform == "facebook" else "instagram")
        assert post(body, headers).status_code == 200

    messages = Message.objects.filter(account__external_id=account_id)
    assert messages.count() == 4
    assert sorted(messages.values_list("kind", flat=True)) == ["comment", "comment", "comment", "dm"]
    assert Conversation.objects.filter(account__external_id=account_id).count() == 3  # a reply joins its thread
    assert Message.objects.get(kind="dm").author_contact.external_id == "sim-user-3"


def test_the_simulators_own_feed_can_drive_a_page(page):
    feed = Feed(seed=7)
    for _ in range(20):
        assert post(*meta_payloads(feed.event(), PAGE_ID, "facebook")).status_code == 200

    assert Message.objects.count() == 20
