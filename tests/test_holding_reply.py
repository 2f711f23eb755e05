"""A holding reply chosen in the composer (or named in the API) is counted as holding: the
first response is met as "holding" and the full answer stays due."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox.models import Conversation, Message, SavedReply
from routing.models import SlaClock

from .conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(sim_account, alice):
    post_sim(login(alice), sim_body([sim_event(1)]))
    return Conversation.objects.get()


@pytest.fixture
def holding(team_a):
    return SavedReply.objects.create(title="Ho estem mirant", body="Ho estem mirant, us diem alguna cosa aviat.",
                                     team=team_a, kind=SavedReply.Kind.HOLDING)


def _clocks(conversation):
    return {c.kind: (c.state, c.met_kind) for c in SlaClock.objects.filter(conversation=conversation)}


def test_a_holding_reply_inserted_in_the_composer_counts_as_holding(conversation, alice, holding):
    client = login(alice)
    page = client.get(reverse("inbox:conversation", args=[conversation.id]) + f"?saved={holding.id}")  # "Insert" without JavaScript
    assert f'name="saved_reply" value="{holding.id}"' in page.content.decode()
    last_seen = conversation.messages.latest("id").id

    response = committed(client.post, reverse("inbox:reply", args=[conversation.id]), {
        "text": holding.body, "option": "public", "client_token": "t1", "last_seen_message_id": last_seen,
        "saved_reply": holding.id,
    })

    assert response.status_code == 302
    reply = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert reply.saved_reply == holding and reply.delivery_status == Message.Delivery.SENT
    assert _clocks(conversation)["first_response"] == ("met", "holding")
    assert _clocks(conversation)["substantive"][0] == "running"  # the full answer stays due
    conversation.refresh_from_db()
    assert conversation.first_response_kind == "holding"


def test_the_api_names_the_saved_reply_and_refuses_another_teams(conversation, alice, holding, team_b):
    client = login(alice)
    other = SavedReply.objects.create(title="Other", body="x", team=team_b, kind=SavedReply.Kind.HOLDING)
    url = f"/api/v1/conversations/{conversation.id}/reply/"

    refused = committed(client.post, url, {"text": "x", "option": "public", "saved_reply": other.id},
                        content_type="application/json")
    assert refused.status_code == 400 and "saved_reply" in refused.json()

    sent = committed(client.post, url, {"text": holding.body, "option": "public", "saved_reply": holding.id},
                     content_type="application/json")
    assert sent.status_code == 201
    assert _clocks(conversation)["first_response"] == ("met", "holding")
