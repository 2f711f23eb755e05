"""The live channel (ws/inbox/) asks the same of a session as the pages: a session that owes
its second factor, or ended for inactivity, is refused at the handshake."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from inbox.security.services import ACTIVITY_KEY
from tests.conftest import PASSWORD, login
from tests.test_realtime import _socket

pytestmark = pytest.mark.django_db(transaction=True)


def connects(client: Client) -> bool:
    async def scenario():
        socket = _socket(client)
        connected, _ = await socket.connect()
        await socket.disconnect()
        return connected

    return async_to_sync(scenario)()


def test_a_password_alone_does_not_open_the_live_channel_for_an_admin(dave):
    client = Client()
    client.post("/login/", {"username": "dave", "password": PASSWORD})

    assert not connects(client)
    assert connects(login(dave))  # with the second factor


def test_an_idle_session_does_not_open_the_live_channel(alice, settings):
    client = login(alice)
    assert connects(client)
    session = client.session
    session[ACTIVITY_KEY] = int(time.time()) - settings.SESSION_IDLE_MINUTES * 60 - 1
    session.save()

    assert not connects(client)
