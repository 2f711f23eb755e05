"""Who else is on a conversation: viewers and writers over the real consumer and Redis, and
the queue's eye/pencil in one Redis round trip and no database query."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inbox import conversation_presence as presence
from inbox.models import Conversation
from inbox.permissions import OFFICER, team_member_add
from tests.conftest import login, post_sim, sim_body, sim_event
from tests.test_realtime import TIMEOUT, _socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1)]))
    return Conversation.objects.get()


@pytest.fixture
def erin(team_a, django_user_model):
    user = django_user_model.objects.create_user(username="erin", first_name="Erin", last_name="Vidal")
    team_member_add(team_a, user, OFFICER)
    return user


@pytest.fixture(autouse=True)
def clean_presence():
    client = presence.store().client
    for key in client.scan_iter("presence:*"):
        client.delete(key)
    yield


async def next_presence(socket, conversation_id: int) -> dict:
    while True:
        message = await socket.receive_json_from(timeout=TIMEOUT)
        if message.get("type") == "presence.changed" and message.get("conversation") == conversation_id:
            return message


def test_two_officers_see_each_other_and_who_is_writing_and_a_closed_tab_goes(conversation, alice, erin, bob):
    clients = login(alice), login(erin), login(bob)

    async def scenario():
        a, e, b = (_socket(c) for c in clients)
        for socket in (a, e, b):
            assert (await socket.connect())[0]
        await a.send_json_to({"watch": conversation.id})
        assert [v["name"] for v in (await next_presence(a, conversation.id))["viewers"]] == ["alice"]
        await e.send_json_to({"watch": conversation.id})
        seen_by_alice = await next_presence(a, conversation.id)
        assert sorted(v["name"] for v in seen_by_alice["viewers"]) == ["Erin Vidal", "alice"]

        await e.send_json_to({"typing": True})
        typing = await next_presence(a, conversation.id)
        assert typing["typing"] == [{"id": erin.id, "name": "Erin Vidal"}]
        await e.send_json_to({"typing": False})
        assert (await next_presence(a, conversation.id))["typing"] == []

        # The heartbeat answers the sender with who is there.
        await a.send_json_to({"here": True})
        assert len((await next_presence(a, conversation.id))["viewers"]) == 2

        await e.disconnect()  # the tab closes
        assert [v["name"] for v in (await next_presence(a, conversation.id))["viewers"]] == ["alice"]
        # Bob (another team) heard none of it.
        assert await b.receive_nothing(timeout=0.3)
        await a.disconnect()
        await b.disconnect()

    async_to_sync(scenario)()
    assert presence.presence_many([conversation.id])[conversation.id].viewers == []


def test_viewers_expire_without_a_heartbeat(conversation, erin):
    store = presence.store()
    store.touch(conversation.id, "v", presence.viewer_member(erin.id, "Erin", "tab-1"), 1)
    assert presence.presence_many([conversation.id])[conversation.id].viewers == [(erin.id, "Erin")]
    time.sleep(1.1)
    assert presence.presence_many([conversation.id])[conversation.id].viewers == []


def test_queue_shows_eye_and_pencil_in_one_redis_round_trip_and_no_query(sim_account, alice, erin, monkeypatch):
    post_sim(Client(), sim_body([sim_event(n, author=f"c{n}") for n in range(1, 31)]))
    ids = list(Conversation.objects.order_by("id").values_list("id", flat=True))
    client = login(alice)
    client.get("/inbox/")

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/inbox/").status_code == 200
        return len(queries)

    without = count_queries()
    store = presence.store()
    store.touch(ids[0], "v", presence.viewer_member(erin.id, "Erin Vidal", "tab-1"), 30)
    store.touch(ids[1], "v", presence.viewer_member(erin.id, "Erin Vidal", "tab-2"), 30)
    store.touch(ids[1], "t", presence.typing_member(erin.id, "Erin Vidal"), 30)
    store.touch(ids[2], "v", presence.viewer_member(alice.id, "alice", "tab-3"), 30)  # herself: not shown

    executes = []
    real_pipeline = store.client.pipeline

    def counting_pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        original = pipe.execute
        pipe.execute = lambda *a, **k: executes.append(1) or original(*a, **k)
        return pipe

    monkeypatch.setattr(store.client, "pipeline", counting_pipeline)
    assert count_queries() == without
    assert len(executes) == 1
    html = client.get("/inbox/").content.decode()
    row = {cid: html.split(f'data-id="{cid}"')[1].split("</li>")[0] for cid in ids[:3]}
    assert "Open: Erin Vidal" in row[ids[0]] and "Writing" not in row[ids[0]]
    assert "Writing: Erin Vidal" in row[ids[1]] and "Open:" not in row[ids[1]]
    assert "Open:" not in row[ids[2]]
    assert 'aria-hidden="true">◉</span>' in row[ids[0]]


def test_without_redis_the_queue_still_loads_without_presence(sim_account, alice, monkeypatch):
    post_sim(Client(), sim_body([sim_event(1)]))

    def down(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(presence.store(), "many", down)
    response = login(alice).get("/inbox/")
    assert response.status_code == 200 and "q-presence-item" not in response.content.decode()
