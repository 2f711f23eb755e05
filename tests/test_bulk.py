"""Bulk actions on a queue selection (inbox/services/bulk.py, channels_adapters/bulk.py):
assign, tag, resolve, spam, and one saved reply sent to each through reply_submit and its
guards, with a summary; the UI form and POST /api/v1/conversations/bulk/.

The cast (tests/conftest.py): alice officer of team A, bob officer of team B, carol
supervisor of both. Messages arrive through the signed simulator webhook; replies go out
through the real outbound path and send task (eager).
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox.models import (
    AuditEvent,
    Conversation,
    Message,
    ReplyApproval,
    ReplyDraft,
    SavedReply,
    Tag,
)
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)

# A personal mobile number: fine in a private message, held back in a public reply.
SAVED = "Gràcies, {citizen_name}. Truqueu-nos al 612 345 678 i ho resolem."


@pytest.fixture
def five(sim_account, alice, team_a):
    """Four private messages and one public mention of team A."""
    events = [sim_event(n, author=f"c{n}", channel="dm", text=f"Consulta sobre el padró {n}") for n in range(1, 5)]
    events.append(sim_event(5, author="c5", channel="mention", text="Consulta pública sobre el padró"))
    assert post_sim(Client(), sim_body(events)).status_code == 200
    return list(Conversation.objects.order_by("id"))


@pytest.fixture
def saved(team_a):
    return SavedReply.objects.create(title="Padró: truqueu-nos", body=SAVED, team=team_a)


def bulk(client, conversations, action, **fields):
    data = {"action": action, "conversations": [c.pk for c in conversations], "next": "/inbox/",
            "seen_at": timezone.now().isoformat(), "bulk_token": uuid.uuid4().hex, **fields}
    response = committed(client.post, reverse("inbox:bulk"), data)
    assert response.status_code == 302
    return response, client.session.get("inbox.bulk_summary")


def test_a_bulk_reply_to_five_sends_four_and_holds_back_the_public_one_with_personal_data(five, saved, alice):
    client = login(alice)
    _response, summary = bulk(client, five, "reply", saved_reply=saved.pk)
    assert summary["counts"] == {"sent": 4, "held_back": 1}
    held = [r for r in summary["results"] if r["outcome"] == "held_back"]
    assert held[0]["conversation"] == five[4].pk and "personal data" in held[0]["reason"]
    sent = Message.objects.filter(direction=Message.Direction.OUTBOUND).order_by("conversation_id")
    assert [m.conversation_id for m in sent] == [c.pk for c in five[:4]]
    for message in sent:  # each through its own channel, the variables filled in, delivered
        assert message.visibility == "private" and message.delivery_status == "sent"
        assert message.text.startswith(f"Gràcies, Citizen c{message.conversation.contact.external_id[1:]}.")
        assert message.saved_reply_id == saved.pk
    assert not five[4].messages.filter(direction=Message.Direction.OUTBOUND).exists()
    # The queue shows the summary once.
    page = client.get(reverse("inbox:queue")).content.decode()
    assert "4 replies sent" in page and "1 held back" in page and "personal data" in page
    assert "4 replies sent" not in client.get(reverse("inbox:queue")).content.decode()
    audit = AuditEvent.objects.get(verb="bulk.reply")
    assert audit.actor == alice and audit.data["counts"] == {"sent": 4, "held_back": 1}


def test_the_same_bulk_reply_submitted_twice_sends_each_reply_once(five, saved, alice):
    client = login(alice)
    token = uuid.uuid4().hex
    for _ in range(2):
        bulk(client, five[:2], "reply", saved_reply=saved.pk, bulk_token=token)
    assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 2


def test_bulk_reply_holds_for_approval_and_holds_back_what_moved_on(five, saved, alice, sim_account):
    sim_account.reply_approval = ReplyApproval.UNPERMITTED
    sim_account.save(update_fields=["reply_approval"])
    seen_at = timezone.now()
    # The citizen of the second conversation writes after the officer loaded the queue.
    post_sim(Client(), sim_body([sim_event(9, author="c2", thread="t2", channel="dm", text="Encara hi sou?",
                                           at=timezone.now())]))
    response = committed(login(alice).post, "/api/v1/conversations/bulk/", {
        "action": "reply", "conversations": [five[0].pk, five[1].pk, 999999], "saved_reply": saved.pk,
        "seen_at": seen_at.isoformat(),
    }, content_type="application/json")
    assert response.status_code == 200
    outcomes = {r["conversation"]: r["outcome"] for r in response.json()["results"]}
    assert outcomes == {five[0].pk: "held_for_approval", five[1].pk: "held_back", 999999: "not_found"}
    assert ReplyDraft.objects.get().conversation_id == five[0].pk
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def test_bulk_assign_tag_resolve_and_spam_with_the_teams_permissions(five, alice, bob, carol):
    tag = Tag.objects.create(name="Padró", slug="padro")
    client = login(alice)
    _, summary = bulk(client, five[:2], "tag", tag=tag.pk)
    assert summary["counts"] == {"done": 2}
    assert set(Tag.objects.get().conversations.values_list("pk", flat=True)) == {five[0].pk, five[1].pk}
    _, summary = bulk(client, five[:3], "resolve")
    assert summary["counts"] == {"done": 3}
    assert set(Conversation.objects.filter(status="resolved").values_list("pk", flat=True)) == {c.pk for c in five[:3]}
    _, summary = bulk(client, five[3:], "spam")
    assert Conversation.objects.filter(status="spam").count() == 2
    # Assigning to someone else is for supervisors; alice is refused, carol may.
    _, summary = bulk(client, five[:1], "assign", assignee=str(carol.pk))
    assert summary["counts"] == {"refused": 1}
    _, summary = bulk(login(carol), five[:2], "assign", assignee=str(carol.pk))
    assert summary["counts"].get("done", 0) + summary["counts"].get("unchanged", 0) == 2
    assert Conversation.objects.filter(assignee=carol).count() == 2
    # Bob (team B) finds none of them.
    _, summary = bulk(login(bob), five, "resolve")
    assert summary["counts"] == {"not_found": 5}
    assert AuditEvent.objects.filter(verb__startswith="bulk.").count() == 6


def test_the_bulk_endpoint_is_in_the_openapi_schema(alice):
    schema = login(alice).get("/api/schema/").content.decode()
    assert "/api/v1/conversations/bulk/" in schema and "held_for_approval" in schema
