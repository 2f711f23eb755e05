"""Notifications an officer cannot miss (docs/working-faster.md, "Notifications"): each kind
written once with the event that causes it, shown on the next page, read and unread, only
one's own, one query per page; and an approved reply to a resolved conversation reopens it
with its SLA clocks, as a direct reply does.

The cast (tests/conftest.py): alice officer of team A, bob officer of team B, carol
supervisor of both.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from channels_adapters.approvals import reply_draft_approve
from channels_adapters.outbound import reply_submit
from inbox.models import Conversation, Notification, OfficerProfile, ReplyApproval, ReplyDraft
from inbox.services.approvals import reply_draft_return
from inbox.services.conversations import conversation_note_add, conversation_status_set
from inbox.services.notifications import notifications_expire
from routing import sla
from routing.models import SlaClock, SlaEvent, SlaPolicy
from routing.sla_scan import sla_scan
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/notifications/"
MADRID = ZoneInfo("Europe/Madrid")


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=MADRID)


def arrive(*events) -> None:
    assert post_sim(Client(), sim_body(list(events))).status_code == 200


@pytest.fixture
def marta(sim_account, alice, carol) -> Conversation:
    arrive(sim_event(1, author="marta", text="<script>alert(1)</script> La farola del carrer Verdi"))
    return Conversation.objects.select_related("account", "team").get()


def kinds(user) -> list[tuple[str, int, int | None]]:
    return list(Notification.objects.filter(recipient=user).order_by("id")
                .values_list("kind", "conversation_id", "percent"))


# --- Each kind, written once ------------------------------------------------------------------


def test_a_mention_to_an_offline_officer_is_kept_e_mailed_in_her_language_and_shown_on_her_next_page(
        marta, alice, carol, settings):
    settings.EMAIL_HOST = "smtp.example.org"
    carol.email, carol.first_name = "carol@example.org", "Carol"
    carol.save()
    # Carol has no page open (no heartbeat) and reads the interface in Spanish.
    OfficerProfile.objects.update_or_create(user=carol, defaults={"interface_language": "es", "last_seen_at": None})
    committed(conversation_note_add, conversation=marta, user=alice, text="@carol can you check the lamp post?")
    assert kinds(carol) == [("mention", marta.pk, None)]
    assert Notification.objects.get(recipient=carol).actor == "alice"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["carol@example.org"]
    assert mail.outbox[0].subject == f"alice le ha mencionado en la conversación n.º {marta.pk}"
    assert f"/inbox/c/{marta.pk}/" in mail.outbox[0].body and "farola" not in mail.outbox[0].body

    # Her next page lists it, with the count as text; no citizen words in the top bar.
    page = login(carol).get(reverse("inbox:queue")).content.decode()
    notification = Notification.objects.get(recipient=carol)
    assert f'data-notification-id="{notification.pk}"' in page
    assert f"alice le ha mencionado en la conversación n.º {marta.pk}" in page  # her language
    assert 'data-notices-count aria-hidden="true">1</span>' in page


def test_a_mention_to_an_officer_with_a_page_open_is_not_e_mailed(marta, alice, carol, settings):
    settings.EMAIL_HOST = "smtp.example.org"
    alice.email = "alice@example.org"
    alice.save()  # alice is available with a page open (the fixture's heartbeat)
    committed(conversation_note_add, conversation=marta, user=carol, text="@alice please answer")
    assert kinds(alice) == [("mention", marta.pk, None)]
    assert mail.outbox == []
    # Mentioning oneself tells nobody.
    committed(conversation_note_add, conversation=marta, user=alice, text="note to self @alice")
    assert Notification.objects.count() == 1


def test_the_sla_scan_writes_warnings_breaches_and_escalations_once_in_one_insert_per_batch(
        sim_account, alice, carol):
    SlaPolicy.objects.create(name="Default", first_response_minutes=120, warn_at=[75],
                             escalations=[{"at": 100, "action": "notify_supervisors"}])
    arrive(sim_event(1, at=at(2026, 10, 19, 10, 0)))  # due 12:00 (24/7: no calendar)
    conversation = Conversation.objects.get()
    assert conversation.assignee == alice
    committed(sla_scan, now=at(2026, 10, 19, 11, 31))
    assert kinds(alice) == [("sla_warning", conversation.pk, 75)]
    with CaptureQueriesContext(connection) as queries:
        committed(sla_scan, now=at(2026, 10, 19, 12, 1))
    inserts = [q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "inbox_notification"')]
    assert len(inserts) == 1  # the breach for alice and the escalation for carol: one statement
    for _ in range(2):
        committed(sla_scan, now=at(2026, 10, 19, 12, 30))  # again: nothing new
    assert kinds(alice) == [("sla_warning", conversation.pk, 75), ("sla_breach", conversation.pk, None)]
    assert kinds(carol) == [("escalation", conversation.pk, 100)]
    texts = {n.kind: n.text for n in Notification.objects.all()}
    assert texts == {
        "sla_warning": f"Conversation #{conversation.pk}: 75% of the response time used",
        "sla_breach": f"Conversation #{conversation.pk}: response time exceeded",
        "escalation": f"Conversation #{conversation.pk} escalated at 100% of the response time",
    }


def test_a_returned_and_an_approved_draft_each_tell_the_author_once(marta, alice, carol):
    marta.account.reply_approval = ReplyApproval.ALL_PUBLIC
    marta.account.save(update_fields=["reply_approval"])
    carol.first_name, carol.last_name = "Carol", "Puig"
    carol.save()
    draft = committed(reply_submit, conversation=marta, user=alice, text="Ho mirem", option_key="public")
    assert isinstance(draft, ReplyDraft) and Notification.objects.count() == 0  # waiting tells nobody
    committed(reply_draft_return, draft=draft, user=carol, comment="Say when")
    assert kinds(alice) == [("draft_returned", marta.pk, None)]
    draft = committed(reply_submit, conversation=marta, user=alice, text="Ho mirem dimarts", option_key="public")
    committed(reply_draft_approve, draft=draft, user=carol)
    assert kinds(alice) == [("draft_returned", marta.pk, None), ("draft_approved", marta.pk, None)]
    assert [n.text for n in Notification.objects.order_by("id")] == [
        f"Carol Puig returned your reply in conversation #{marta.pk}",
        f"Carol Puig approved your reply in conversation #{marta.pk}",
    ]
    assert Notification.objects.filter(recipient=carol).count() == 0


# --- Read, unread, only one's own -----------------------------------------------------------


def test_the_api_lists_only_ones_own_and_marks_read_some_or_all(marta, alice, bob, carol):
    for _ in range(3):
        committed(conversation_note_add, conversation=marta, user=carol, text="@alice look")
    committed(conversation_note_add, conversation=marta, user=alice, text="@carol look")
    mine = list(Notification.objects.filter(recipient=alice).order_by("-id").values_list("id", flat=True))
    theirs = Notification.objects.get(recipient=carol).pk

    client = login(alice)
    body = client.get(API).json()
    assert [n["id"] for n in body["results"]] == mine  # newest first, carol's not there
    assert body["results"][0]["text"] == f"carol mentioned you in conversation #{marta.pk}"
    assert body["results"][0]["unread"] is True and body["results"][0]["kind"] == "mention"
    assert login(bob).get(API).json()["results"] == []

    # Someone else's id is ignored: carol's stays unread.
    response = client.post(f"{API}read/", {"ids": [mine[0], theirs]}, content_type="application/json")
    assert response.status_code == 200 and response.json() == {"marked": 1, "unread": 2}
    assert Notification.objects.get(pk=theirs).read_at is None
    assert [n["id"] for n in client.get(API, {"unread": "true"}).json()["results"]] == mine[1:]
    assert client.post(f"{API}read/", {}, content_type="application/json").status_code == 400
    response = client.post(f"{API}read/", {"all": True}, content_type="application/json")
    assert response.json() == {"marked": 2, "unread": 0}
    page = client.get(reverse("inbox:queue")).content.decode()
    assert "data-notification-id" not in page and "No unread notification." in page
    assert len(client.get(API).json()["results"]) == 3  # read ones are still listed by the API
    assert Client().get(API).status_code in (401, 403)


def test_read_notifications_go_after_thirty_days_unread_ones_stay(marta, alice):
    now = timezone.now()
    _old_read, old_unread, recent_read = (
        Notification.objects.create(recipient=alice, kind="mention", conversation=marta, created_at=now - timedelta(days=60),
                                    read_at=read_at)
        for read_at in (now - timedelta(days=31), None, now - timedelta(days=2))
    )
    assert notifications_expire() == 1
    assert set(Notification.objects.values_list("id", flat=True)) == {old_unread.pk, recent_read.pk}


# --- What the top bar costs ------------------------------------------------------------------


def test_the_panel_costs_one_query_whatever_the_number_of_notifications(marta, alice):
    client = login(alice)

    def measure() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("inbox:queue")).status_code == 200
        return [q["sql"] for q in queries.captured_queries]

    measure()
    Notification.objects.create(recipient=alice, kind="mention", conversation=marta, actor="carol")
    one = measure()
    Notification.objects.bulk_create([
        Notification(recipient=alice, kind="sla_warning", conversation=marta, percent=75) for _ in range(40)
    ])
    many = measure()
    assert len(one) == len(many)
    assert len([sql for sql in many if "inbox_notification" in sql]) == 1
    page = client.get(reverse("inbox:queue")).content.decode()
    assert page.count("data-notification-id=") == 20 and 'aria-hidden="true">41</span>' in page
    assert "unread: 41" in page


def test_the_api_list_costs_the_same_queries_for_three_or_thirty(marta, alice):
    client = login(alice)

    def measure() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(API, {"unread": "true"}).status_code == 200
        return len(queries)

    Notification.objects.bulk_create([Notification(recipient=alice, kind="mention", conversation=marta, actor="carol")
                                      for _ in range(3)])
    three = measure()
    Notification.objects.bulk_create([Notification(recipient=alice, kind="mention", conversation=marta, actor="carol")
                                      for _ in range(27)])
    # Session, user, the page (3 measured): none per notification.
    assert measure() == three <= 3


# --- An approved reply to a resolved conversation reopens it, clocks included -----------------


def test_an_approved_reply_to_a_resolved_conversation_reopens_it_and_its_sla_clocks(sim_account, alice, carol):
    SlaPolicy.objects.create(name="With resolution", first_response_minutes=120, resolution_minutes=8 * 60,
                             warn_at=[], escalations=[])
    arrive(sim_event(1, at=timezone.now() - timedelta(hours=1)))
    conversation = Conversation.objects.select_related("account", "team").get()
    committed(conversation_status_set, conversation=conversation, user=alice, status=Conversation.Status.RESOLVED)
    sla.conversations_sync([conversation.id])
    assert list(SlaClock.objects.filter(conversation=conversation, kind="resolution").values_list("state", flat=True)) \
        == ["met"]
    sim_account.reply_approval = ReplyApproval.ALL_PUBLIC
    sim_account.save(update_fields=["reply_approval"])
    conversation.refresh_from_db()
    draft = committed(reply_submit, conversation=conversation, user=alice, text="Ja està, gràcies", option_key="public")
    assert isinstance(draft, ReplyDraft)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED  # held: nothing happened yet
    message = committed(reply_draft_approve, draft=draft, user=carol)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and message.reopened_conversation
    clocks = list(SlaClock.objects.filter(conversation=conversation, kind="resolution").order_by("id"))
    assert [c.state for c in clocks] == ["met", "running"]
    assert SlaEvent.objects.get(clock=clocks[1], kind="start").data["after"] == "reopen"
