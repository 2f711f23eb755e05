"""Two officers pressing Send at the same moment: the check and the reply are one locked step.

Real transactions on PostgreSQL, in real threads: the first officer's reply is stored and its
transaction held open while the second officer's request arrives through the API. The second
must wait for the conversation's row lock, then see the first reply and be stopped (409).
Without the lock it would read the conversation before the first reply commits and send too.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from channels_adapters.outbound import reply_submit
from inbox.models import Conversation, Message
from inbox.permissions import OFFICER, team_member_add
from inbox.services import message_reply_collisions_check
from tests.conftest import login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def conversation(sim_account, alice):
    assert post_sim(Client(), sim_body([sim_event(1)])).status_code == 200
    return Conversation.objects.get()


@pytest.fixture
def erin(conversation, django_user_model, team_a):
    user = django_user_model.objects.create_user(username="erin", first_name="Erin")
    team_member_add(team_a, user, OFFICER)
    return user


def test_two_officers_sending_at_the_same_moment_cannot_both_send(conversation, alice, erin):
    seen = conversation.messages.get().id
    holding, release = threading.Event(), threading.Event()

    def alice_sends() -> int:
        try:
            with transaction.atomic():  # as the views do: check, then reply, one transaction
                mine = Conversation.objects.get(pk=conversation.pk)
                message_reply_collisions_check(conversation=mine, user=alice, last_seen_message_id=seen)
                message = reply_submit(conversation=mine, user=alice, text="Ho revisem avui.", option_key="public")
                holding.set()
                assert release.wait(10)
            return message.id
        finally:
            connections.close_all()

    def erin_sends():
        try:
            assert holding.wait(10)
            return login(erin).post(
                f"/api/v1/conversations/{conversation.pk}/reply/", content_type="application/json",
                data={"text": "Ja ho mirem.", "option": "public", "last_seen_message_id": seen},
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.submit(alice_sends), pool.submit(erin_sends)
        assert holding.wait(10)
        # Erin's request is now blocked on the conversation's row lock, not past the check.
        assert wait_for(lambda: waiting_on_a_lock() >= 1), "the second send never waited for the first"
        release.set()
        alices_reply, response = first.result(timeout=20), second.result(timeout=20)

    assert response.status_code == 409, response.content
    assert [m["id"] for m in response.json()["newer_messages"]] == [alices_reply]
    outbound = Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND)
    assert list(outbound.values_list("author_user__username", flat=True)) == ["alice"]


def test_the_check_refuses_to_run_outside_the_replys_transaction(conversation, alice):
    with pytest.raises(RuntimeError, match="inside the reply's transaction"):
        message_reply_collisions_check(conversation=conversation, user=alice, last_seen_message_id=0)
