"""The live channel: ws/inbox/ through the real ASGI stack (origin check, session auth).

The tests are synchronous and drive the communicator with ``async_to_sync``. They are
transactional: channels' ``database_sync_to_async`` closes "old" connections around each
call, which would end a test wrapped in a transaction. Events are published with
inbox.realtime, as the ingest pipeline and the views do.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from config.asgi import application
from inbox import realtime
from tests.conftest import login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 2


def _headers(client: Client | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver")]
    if client is not None:
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return headers


def _socket(client: Client | None) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/inbox/", headers=_headers(client))


publish = sync_to_async(realtime.conversations_changed)


async def receive_not_presence(socket: WebsocketCommunicator) -> dict:
    """The next message that is not a presence event (watching a conversation announces the
    watcher to the team: tests/test_presence_collab.py covers those)."""
    while True:
        message = await socket.receive_json_from(timeout=TIMEOUT)
        if message.get("type") != "presence.changed":
            return message


async def drain(socket: WebsocketCommunicator) -> list[dict]:
    messages = []
    while not await socket.receive_nothing(timeout=0.3):
        messages.append(await socket.receive_json_from(timeout=TIMEOUT))
    return messages


@pytest.fixture
def conversations(sim_account, team_b):
    """One conversation in team A (alice's), one in team B (bob's)."""
    from inbox.models import ChannelAccount, Conversation

    ChannelAccount.objects.create(platform="simulator", external_id="city-sim-b", name="Waste", default_team=team_b)
    post_sim(Client(), sim_body([sim_event(1)]))
    post_sim(Client(), sim_body([sim_event(2)], account_id="city-sim-b"))
    return Conversation.objects.get(team__slug="mobility"), Conversation.objects.get(team=team_b)


def test_officer_hears_about_their_team_and_not_about_another(conversations, alice, bob):
    ours, theirs = conversations

    alice_client = login(alice)

    async def scenario():
        socket = _socket(alice_client)
        connected, _ = await socket.connect()
        assert connected
        await publish([theirs.id])
        assert await socket.receive_nothing(timeout=0.3)
        await publish([ours.id])
        assert await socket.receive_json_from(timeout=TIMEOUT) == {"type": "queue.changed", "conversations": [ours.id]}
        assert await socket.receive_nothing(timeout=0.3)  # not watching the conversation itself
        await socket.disconnect()

    async_to_sync(scenario)()


def test_supervisor_of_both_teams_hears_both(conversations, carol):
    ours, theirs = conversations

    carol_client = login(carol)

    async def scenario():
        socket = _socket(carol_client)
        assert (await socket.connect())[0]
        await publish([ours.id, theirs.id])
        received = [await socket.receive_json_from(timeout=TIMEOUT) for _ in range(2)]
        assert sorted(m["conversations"][0] for m in received) == sorted([ours.id, theirs.id])
        await socket.disconnect()

    async_to_sync(scenario)()


def test_anonymous_is_refused(db):
    async def scenario():
        socket = _socket(None)
        connected, _ = await socket.connect()
        assert not connected

    async_to_sync(scenario)()


def test_foreign_origin_is_refused(alice):
    cookie = login(alice).cookies[settings.SESSION_COOKIE_NAME].value

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/inbox/", headers=[
            (b"origin", b"https://evil.example"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        ])
        connected, _ = await socket.connect()
        assert not connected

    async_to_sync(scenario)()


def test_watching_a_conversation_needs_permission_to_see_it(conversations, alice, bob):
    ours, _ = conversations

    alice_client, bob_client = login(alice), login(bob)

    async def scenario():
        alice_socket, bob_socket = _socket(alice_client), _socket(bob_client)
        assert (await alice_socket.connect())[0] and (await bob_socket.connect())[0]

        await alice_socket.send_json_to({"watch": ours.id})
        assert await receive_not_presence(alice_socket) == {"type": "watching", "conversation": ours.id}
        await bob_socket.send_json_to({"watch": ours.id})
        assert await bob_socket.receive_json_from(timeout=TIMEOUT) == {"type": "error", "error": "no such conversation"}

        await publish([ours.id])
        messages = [await receive_not_presence(alice_socket) for _ in range(2)]
        assert {"type": "conversation.changed", "conversation": ours.id} in messages
        assert await bob_socket.receive_nothing(timeout=0.3)

        await alice_socket.send_json_to({"watch": None})  # stop following it
        assert await receive_not_presence(alice_socket) == {"type": "watching", "conversation": None}
        await publish([ours.id])
        assert (await receive_not_presence(alice_socket))["type"] == "queue.changed"
        assert not [m for m in await drain(alice_socket) if m["type"] != "presence.changed"]
        await alice_socket.disconnect()
        await bob_socket.disconnect()

    async_to_sync(scenario)()


def test_malformed_requests_get_an_error(alice):
    alice_client = login(alice)

    async def scenario():
        socket = _socket(alice_client)
        assert (await socket.connect())[0]
        for request in ({"hello": 1}, {"watch": "1"}, {"watch": True}):
            await socket.send_json_to(request)
            assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "error"
        await socket.disconnect()

    async_to_sync(scenario)()


def test_an_officer_removed_from_a_team_stops_hearing_about_it(conversations, alice, team_a, monkeypatch):
    from inbox import consumers
    from inbox.permissions import team_member_remove

    ours, _ = conversations
    monkeypatch.setattr(consumers, "GROUPS_REFRESH_SECONDS", 0)  # re-check at every event
    alice_client = login(alice)

    async def scenario():
        socket = _socket(alice_client)
        assert (await socket.connect())[0]
        await publish([ours.id])
        assert (await socket.receive_json_from(timeout=TIMEOUT))["conversations"] == [ours.id]
        await sync_to_async(team_member_remove)(team_a, alice)
        await publish([ours.id])
        assert await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()

    async_to_sync(scenario)()
