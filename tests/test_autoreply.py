"""Automatic replies: first contact and out of hours, once per period, in the citizen's
language, cancelled when a person answers first, never the first response, never on X to
someone who did not address the account."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox.models import AutoReplySetting, Conversation, Message, SavedReply
from routing.autoreply import autoreply_queue
from tests.conftest import post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def ack(db):
    SavedReply.objects.create(title="Ack", body="Thanks, we will answer soon.", language="en",
                              kind=SavedReply.Kind.ACKNOWLEDGEMENT)
    return SavedReply.objects.create(title="Ack", body="Gràcies, us responem aviat.", language="ca",
                                     kind=SavedReply.Kind.ACKNOWLEDGEMENT)


def test_autoreply_queue_sends_an_automatic_reply_once(sim_account, alice, ack):
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    from tests.conftest import committed
    message = committed(autoreply_queue, conversation, ack, reason="rule")
    assert message is not None
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.automatic == "rule" and message.author_user is None
    assert committed(autoreply_queue, conversation, ack, reason="rule") is None
    conversation.refresh_from_db()
    assert conversation.first_response_at is None
    assert AutoReplySetting.objects.count() == 0
