"""Messenger and Instagram messages carry only the sender's id: the citizen's name is asked
from the Graph API (user profile fields of the PSID / IGSID) in the background on a first
message, through the real facebook-sdk client with HTTP intercepted (channels_adapters/profiles.py)."""

from __future__ import annotations

import json

import pytest

from channels_adapters.meta.tests.conftest import GRAPH, deliver, fixture_json
from inbox.models import Contact, Conversation

pytestmark = pytest.mark.django_db

PSID = "6512345678901234"


def ig_sender() -> str:
    body = fixture_json("ig_messaging__text.json")
    return body["entry"][0]["messaging"][0]["sender"]["id"]


def test_a_messenger_citizen_is_named_from_the_graph_api_on_the_first_message(page, graph):
    call = graph.get(f"{GRAPH}/{PSID}", json={"first_name": "Laura", "last_name": "Ferrer", "id": PSID})
    deliver("messaging__text.json")
    contact = Contact.objects.get(external_id=PSID)
    assert contact.name == "Laura Ferrer"
    assert call.call_count == 1
    request = graph.calls[0].request
    assert "fields=first_name%2Clast_name" in request.url and "appsecret_proof=" in request.url
    # The next message carries no name again: it does not erase the one we asked for, nor ask again.
    deliver("messaging__edit.json")
    contact.refresh_from_db()
    assert contact.name == "Laura Ferrer" and call.call_count == 1
    assert Conversation.objects.get().contact.name == "Laura Ferrer"


def test_an_instagram_citizen_gets_name_and_username(instagram, graph):
    sender = ig_sender()
    graph.get(f"{GRAPH}/{sender}", json={"name": "Pere Vila", "username": "perevila", "id": sender})
    deliver("ig_messaging__text.json")
    contact = Contact.objects.get(external_id=sender)
    assert (contact.name, contact.handle) == ("Pere Vila", "perevila")
    assert "fields=name%2Cusername" in graph.calls[0].request.url


def test_a_refusal_leaves_the_contact_as_it_was_and_ingest_goes_on(page, graph):
    error = {"error": {"message": "(#100) No profile available for this user.", "type": "OAuthException",
                       "code": 100, "fbtrace_id": "A1"}}
    graph.get(f"{GRAPH}/{PSID}", body=json.dumps(error), status=400, content_type="application/json")
    deliver("messaging__text.json")
    contact = Contact.objects.get(external_id=PSID)
    assert contact.name == "" and Conversation.objects.count() == 1
