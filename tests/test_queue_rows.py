"""The queue rows' values computed once per request (inbox/queue_rows.py): escaped, translated."""

from __future__ import annotations

import pytest
from django.test import Client

from inbox import conversation_presence as presence
from inbox.models import Contact, Conversation, OfficerProfile
from tests.conftest import login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_presence():
    client = presence.store().client
    for key in client.scan_iter("presence:*"):
        client.delete(key)
    yield


def _row(html: str, conversation_id: int) -> str:
    return html.split(f'data-id="{conversation_id}"')[1].split("</li>")[0]


def test_citizen_names_and_colleague_names_are_escaped_in_the_sentences(sim_account, alice, bob):
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    Contact.objects.filter(pk=conversation.contact_id).update(name='<b>Ann & "Co"</b>')
    presence.store().touch(conversation.id, "v", presence.viewer_member(bob.id, "<i>Bob</i>", "tab-1"), 30)
    row = _row(login(alice).get("/inbox/").content.decode(), conversation.id)
    assert f"Select conversation #{conversation.id} (&lt;b&gt;Ann &amp; &quot;Co&quot;&lt;/b&gt;)" in row
    assert "Open: &lt;i&gt;Bob&lt;/i&gt;" in row
    assert "<b>" not in row and "<i>" not in row
    assert "Last message from the citizen: " in row


def test_the_row_sentences_follow_the_officers_language(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1)]))
    conversation = Conversation.objects.get()
    OfficerProfile.objects.filter(user=alice).update(interface_language="fr")
    row = _row(login(alice).get("/inbox/").content.decode(), conversation.id)
    assert f"Sélectionner la conversation n° {conversation.id} (" in row
    assert "Dernier message du citoyen : " in row
    assert "Select conversation" not in row
