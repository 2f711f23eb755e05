"""The timeline's per-message HTML store (inbox/templatetags/timeline_ui.py) never shows a
stale message: a change of delivery state, an edit, a new name, the "new" mark, the language
or the actions offered renders the message again."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox.models import Contact, Conversation, Message, MessageRevision
from tests.conftest import login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1, text="Primer missatge")]))
    return Conversation.objects.get()


def page(client, conversation, **params) -> str:
    return client.get(reverse("inbox:conversation", args=[conversation.id]), params).content.decode()


def test_each_change_shows_at_once(conversation, alice):
    client = login(alice)
    message = conversation.messages.get()
    assert "Primer missatge" in page(client, conversation)
    Message.objects.filter(pk=message.pk).update(text="Text retirat", edited_at=timezone.now())
    MessageRevision.objects.create(message=message, action="edit", previous_text="Primer missatge",
                                   occurred_at=timezone.now())
    html = page(client, conversation)
    assert "Text retirat" in html and "1 recorded change" in html
    Contact.objects.filter(pk=message.author_contact_id).update(name="Jana Roig")
    assert "Jana Roig" in page(client, conversation)
    Message.objects.filter(pk=message.pk).update(hidden_at=timezone.now())
    assert "Hidden on the platform since" in page(client, conversation)
    fragment = client.get(reverse("inbox:conversation", args=[conversation.id]), {"fragment": "timeline"})
    assert "Jana Roig" in fragment.content.decode() and "is-new" not in fragment.content.decode()


def test_the_language_and_the_new_mark_are_part_of_the_key(conversation, alice):
    client = login(alice)
    english = page(client, conversation)
    assert "Mention · Public" in english
    client.post(reverse("language"), {"language": "ca"})
    catalan = page(client, conversation)
    assert "Mention · Public" not in catalan
    outbound = Message.objects.create(conversation=conversation, account_id=conversation.account_id, direction="out",
                                      kind="reply", visibility="public", text="Resposta", sent_at=timezone.now(),
                                      delivery_status="queued", author_user=alice)
    assert "Resposta" in page(client, conversation)
    Message.objects.filter(pk=outbound.pk).update(delivery_status="failed", delivery_error="Rate limited")
    assert "Rate limited" in page(client, conversation)
