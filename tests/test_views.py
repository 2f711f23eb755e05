"""The officer UI: queues, the conversation page and every write, for the standard cast."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from channels_adapters.outbound import reply_submit
from inbox.models import AuditEvent, ChannelAccount, Conversation, Message, SavedReply, Tag
from inbox.permissions import OFFICER, team_member_add
from inbox.services import (
    conversation_assign,
    conversation_note_add,
    conversation_status_set,
    message_claim_for_send,
    message_mark_failed,
)
from tests.conftest import PASSWORD, committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


def converse(n: int, *, start: int = 0, account: str = "city-sim", **event) -> list[Conversation]:
    """``n`` new conversations through the real webhook path, oldest first."""
    events = [sim_event(start + i, author=f"citizen-{start + i}", **event) for i in range(n)]
    assert post_sim(Client(), sim_body(events, account_id=account)).status_code == 200
    keys = [f"{event.get('channel', 'mention')}:t{start + i}" for i in range(n)]
    return list(Conversation.objects.filter(thread_key__in=keys, account__external_id=account).order_by("id"))


def url(name: str, conversation: Conversation) -> str:
    return reverse(f"inbox:{name}", args=[conversation.pk])


def snapshot(conversation: Conversation) -> tuple:
    conversation.refresh_from_db()
    return (
        conversation.status, conversation.assignee_id, conversation.team_id,
        # Opening a conversation is itself audited (conversation.view); what changes it is not.
        conversation.messages.count(), AuditEvent.objects.exclude(verb="conversation.view").count(),
    )


@pytest.fixture
def account_b(team_b):
    return ChannelAccount.objects.create(
        platform="simulator", external_id="city-sim-b", name="Waste line", handle="waste", default_team=team_b
    )


# --- Access ------------------------------------------------------------------------------------


def test_pages_require_login(sim_account):
    (conversation,) = converse(1)
    anonymous = Client()
    for path in (reverse("inbox:queue"), url("conversation", conversation)):
        response = anonymous.get(path)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login") + "?next=")
    response = anonymous.post(url("reply", conversation), {"text": "hola", "option": "public"})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()


def test_login_form_leads_to_the_queue(alice):
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'autocomplete="current-password"' in page.content

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302 and response.url == reverse("inbox:queue")
    assert client.get(response.url).status_code == 200


def test_logout_is_a_post(alice):
    client = login(alice)
    page = client.get(reverse("inbox:queue"))
    assert b'action="/logout/"' in page.content
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("inbox:queue")).status_code == 302


# --- Queues ------------------------------------------------------------------------------------


def test_queue_tabs(sim_account, alice, team_a):
    mine, other = converse(2)  # both routed to team A and assigned to alice (its only officer)
    conversation_assign(conversation=other, user=None, assignee=None)
    client = login(alice)

    team_page = client.get(reverse("inbox:queue"), {"view": "team"})
    mine_page = client.get(reverse("inbox:queue"), {"view": "mine"})
    unassigned_page = client.get(reverse("inbox:queue"), {"view": "unassigned"})

    assert [c.id for c in team_page.context["conversations"]] == [other.id, mine.id]
    assert [c.id for c in mine_page.context["conversations"]] == [mine.id]
    assert [c.id for c in unassigned_page.context["conversations"]] == [other.id]
    assert team_page.context["counts"] == {"mine": 1, "team": 2, "unassigned": 1}
    row = mine_page.content.decode()
    assert "Citizen citizen-0" in row and "@h-citizen-0" in row
    assert "Mobility" in row and "City (simulated)" in row and ">ES<" in row
    assert 'aria-current="page"' in row


def test_queue_of_another_team_is_not_shown(sim_account, account_b, alice, bob):
    ours = converse(1)
    theirs = converse(1, start=5, account="city-sim-b")

    alice_ids = [c.id for c in login(alice).get(reverse("inbox:queue")).context["conversations"]]
    bob_ids = [c.id for c in login(bob).get(reverse("inbox:queue")).context["conversations"]]

    assert alice_ids == [ours[0].id]
    assert bob_ids == [theirs[0].id]


def test_queue_filters_status_and_platform(sim_account, alice):
    active, done = converse(2)
    conversation_status_set(conversation=done, user=alice, status=Conversation.Status.RESOLVED)
    client = login(alice)

    default = client.get(reverse("inbox:queue"))
    resolved = client.get(reverse("inbox:queue"), {"status": "resolved"})
    other_platform = client.get(reverse("inbox:queue"), {"platform": "x"})
    nonsense = client.get(reverse("inbox:queue"), {"status": "bogus", "team": "abc", "view": "?"})

    assert [c.id for c in default.context["conversations"]] == [active.id]
    assert [c.id for c in resolved.context["conversations"]] == [done.id]
    assert list(other_platform.context["conversations"]) == []
    assert [c.id for c in nonsense.context["conversations"]] == [active.id]  # defaults, not a 500


def test_queue_marks_overdue_first_responses(sim_account, alice, settings):
    settings.FIRST_RESPONSE_TARGET_MINUTES = 120
    now = timezone.now()
    late, fresh = converse(1, at=now - timedelta(hours=3)) + converse(1, start=1, at=now - timedelta(minutes=12))

    page = login(alice).get(reverse("inbox:queue")).content.decode()

    rows = {c: page.split(f'data-id="{c.id}"')[1].split("</li>")[0] for c in (late, fresh)}
    assert "Overdue" in rows[late] and "3 h ago" in rows[late]
    assert "Overdue" not in rows[fresh] and "12 min ago" in rows[fresh]
    assert page.count("qrow is-overdue") == 1


def test_queue_keyset_pages(sim_account, alice):
    converse(53)
    client = login(alice)

    first = client.get(reverse("inbox:queue"))
    assert len(first.context["conversations"]) == 50
    cursor = first.context["next_cursor"]
    assert cursor and b'rel="next"' in first.content

    older = client.get(reverse("inbox:queue"), {"before": cursor})
    assert len(older.context["conversations"]) == 3
    assert not older.context["next_cursor"]
    seen = {c.id for c in first.context["conversations"]} | {c.id for c in older.context["conversations"]}
    assert len(seen) == 53


def test_queue_fragment_is_only_the_list(sim_account, alice):
    converse(2)
    response = login(alice).get(reverse("inbox:queue"), {"fragment": "1"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'class="queue"' in html
    assert html.count('<li class="qrow') == 2
    assert json.loads(response["X-Queue-Counts"]) == {"mine": 2, "team": 2, "unassigned": 0}


def test_queue_query_count_does_not_grow_with_conversations(sim_account, alice):
    tag = Tag.objects.create(name="Buses", slug="buses")
    client = login(alice)

    def measure() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("inbox:queue")).status_code == 200
        return len(queries)

    measure()  # the process's first request fills its content-type and permission caches
    for conversation in converse(3):
        conversation.tags.add(tag)
    with_three = measure()
    for conversation in converse(27, start=3):
        conversation.tags.add(tag)
    with_thirty = measure()

    assert with_three == with_thirty
    # 12 before issue 11's working-faster part; +4 for it (constant): the woken-from-snooze
    # block, the supervised teams (bulk assign, Approvals link), the bulk bar's tags and saved replies.
    # The top bar's unread notifications add one query to every page (a partial index, whatever
    # their number: tests/test_notifications.py); it fits in this budget: 15 measured with it.
    assert with_thirty <= 16, f"queue page budget exceeded: {with_thirty} queries"


# --- The conversation page ---------------------------------------------------------------------


def test_conversation_page_shows_the_citizen_and_the_timeline(sim_account, alice):
    body = sim_body([
        sim_event(1, text="Primer mensaje"),
        sim_event(2, thread="t1", text="Segundo mensaje"),
        sim_event(3, text="Otra consulta anterior", author="citizen-1"),
    ])
    post_sim(Client(), body)
    conversation = Conversation.objects.get(thread_key="mention:t1")

    response = login(alice).get(url("conversation", conversation))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Primer mensaje") < html.index("Segundo mensaje")
    assert "Citizen citizen-1" in html and "@h-citizen-1" in html
    assert "Otra consulta anterior" in html  # earlier conversations of the same citizen
    assert 'value="public"' in html and 'value="private"' in html
    assert 'data-max-length="2000"' in html


def test_timeline_fragment_is_only_the_messages(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1, text="Uno"), sim_event(2, thread="t1", text="Dos")]))
    conversation = Conversation.objects.get()
    html = login(alice).get(url("conversation", conversation), {"fragment": "timeline"}).content.decode()
    assert "<html" not in html and 'id="reply-form"' not in html
    assert html.count('<li class="msg msg-in') == 2 and html.index("Uno") < html.index("Dos")


def test_other_teams_conversation_is_404_and_posts_change_nothing(sim_account, alice, bob):
    (conversation,) = converse(1)
    before = snapshot(conversation)
    client = login(bob)

    assert client.get(url("conversation", conversation)).status_code == 404
    assert client.get(url("conversation", conversation), {"fragment": "timeline"}).status_code == 404
    posts = {
        "reply": {"text": "Hola", "option": "public"},
        "note": {"text": "Nota"},
        "status": {"status": "resolved"},
        "assign": {"assignee": "me"},
    }
    for name, data in posts.items():
        assert committed(client.post, url(name, conversation), data).status_code == 404, name

    assert snapshot(conversation) == before


def test_reply_end_to_end(sim_account, alice):
    (conversation,) = converse(1)
    client = login(alice)

    response = committed(client.post, url("reply", conversation), {"text": "  Gracias, lo revisamos.  ", "option": "public"})

    assert response.status_code == 302 and response.url == url("conversation", conversation)
    reply = conversation.messages.get(direction=Message.Direction.OUTBOUND)
    assert reply.text == "Gracias, lo revisamos."
    assert reply.delivery_status == Message.Delivery.SENT
    assert reply.external_id == f"sim-out-{reply.uuid}"
    assert reply.kind == Message.Kind.REPLY and reply.visibility == Message.Visibility.PUBLIC
    assert reply.author_user == alice and reply.in_reply_to == "m0"
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None
    assert conversation.status == Conversation.Status.OPEN
    assert AuditEvent.objects.filter(verb="message.reply", target_id=str(conversation.pk), actor=alice).exists()
    page = client.get(response.url).content.decode()
    assert "Gracias, lo revisamos." in page and "delivery-sent" in page and "Reply queued for sending." in page


@pytest.mark.parametrize(
    ("text", "reason"),
    [("   ", "The reply is empty."), ("x" * 2001, "The reply is 2001 characters long; the limit is 2000.")],
)
def test_refused_reply_keeps_the_text_and_stores_nothing(sim_account, alice, text, reason):
    (conversation,) = converse(1)
    before = snapshot(conversation)

    response = committed(login(alice).post, url("reply", conversation), {"text": text, "option": "private"})

    assert response.status_code == 422
    html = response.content.decode()
    assert reason in html
    assert f">{text}</textarea>" in html  # the officer's text is still in the composer
    assert 'id="opt-private" value="private" data-max-length="2000" data-counting="characters" checked' in html
    assert snapshot(conversation) == before


def test_reply_with_an_option_the_channel_does_not_offer(sim_account, alice):
    dm = converse(1, channel="dm")[0]  # private: there is no public reply
    response = login(alice).post(url("reply", dm), {"text": "Hola", "option": "public"})
    assert response.status_code == 422
    assert "This channel has no &#x27;public&#x27; reply." in response.content.decode()
    assert not dm.messages.filter(direction=Message.Direction.OUTBOUND).exists()


def test_reply_to_a_disconnected_account_is_refused(sim_account, alice):
    (conversation,) = converse(1)
    ChannelAccount.objects.filter(pk=sim_account.pk).update(status=ChannelAccount.Status.NEEDS_RECONNECT)
    client = login(alice)
    assert "replies cannot be sent until an admin reconnects it" in client.get(url("conversation", conversation)).content.decode()
    response = client.post(url("reply", conversation), {"text": "Hola", "option": "public"})
    assert response.status_code == 422
    assert "an admin must reconnect it" in response.content.decode()
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()


def test_failed_delivery_is_shown_with_its_error(sim_account, alice):
    (conversation,) = converse(1)
    reply = reply_submit(conversation=conversation, user=alice, text="Hola", option_key="public")  # not committed: not sent
    claimed, attempt = message_claim_for_send(reply.id)
    message_mark_failed(claimed, attempt, error="The platform said: duplicate status")

    html = login(alice).get(url("conversation", conversation)).content.decode()

    assert "delivery-failed" in html and "Not sent:" in html
    assert "The platform said: duplicate status" in html


def test_officer_without_reply_permission_reads_but_cannot_write(sim_account, alice, team_a, django_user_model):
    (conversation,) = converse(1)
    viewer = django_user_model.objects.create_user(username="vera", password=PASSWORD)
    assign_perm("inbox.view_team_queue", viewer, team_a)
    before = snapshot(conversation)
    client = login(viewer)

    page = client.get(url("conversation", conversation))
    assert page.status_code == 200
    assert b'id="reply-form"' not in page.content and b"no reply permission" in page.content
    for name, data in {
        "reply": {"text": "Hola", "option": "public"}, "note": {"text": "Nota"},
        "status": {"status": "resolved"}, "assign": {"assignee": "me"},
    }.items():
        assert committed(client.post, url(name, conversation), data).status_code == 403, name

    assert snapshot(conversation) == before


def test_note_is_internal_and_audited(sim_account, alice):
    (conversation,) = converse(1)
    client = login(alice)

    response = client.post(url("note", conversation), {"text": "Llamar a la EMT antes de responder"})

    assert response.status_code == 302
    note = conversation.messages.get(direction=Message.Direction.NOTE)
    assert note.visibility == Message.Visibility.INTERNAL and note.author_user == alice
    assert AuditEvent.objects.filter(verb="conversation.note", target_id=str(conversation.pk)).exists()
    html = client.get(url("conversation", conversation)).content.decode()
    assert 'class="msg msg-note' in html and "Internal note · not visible to the citizen" in html


def test_empty_note_is_refused(sim_account, alice):
    (conversation,) = converse(1)
    before = snapshot(conversation)
    response = login(alice).post(url("note", conversation), {"text": "   "})
    assert response.status_code == 422 and b'id="note-error"' in response.content
    assert snapshot(conversation) == before


def test_resolve_and_reopen_are_audited(sim_account, alice):
    (conversation,) = converse(1)
    client = login(alice)

    assert client.post(url("status", conversation), {"status": "resolved"}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED and conversation.resolved_at is not None
    assert b"Reopen" in client.get(url("conversation", conversation)).content

    assert client.post(url("status", conversation), {"status": "open"}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and conversation.resolved_at is None

    changes = list(
        AuditEvent.objects.filter(verb="conversation.status", target_id=str(conversation.pk))
        .order_by("id").values_list("actor__username", "data")
    )
    assert changes == [
        ("alice", {"previous": "new", "status": "resolved"}),
        ("alice", {"previous": "resolved", "status": "open"}),
    ]


def test_status_outside_the_offered_set_is_refused(sim_account, alice):
    (conversation,) = converse(1)
    before = snapshot(conversation)
    response = login(alice).post(url("status", conversation), {"status": "snoozed"})
    assert response.status_code == 302
    assert snapshot(conversation) == before


def test_assign_to_me(sim_account, alice):
    (conversation,) = converse(1)
    conversation_assign(conversation=conversation, user=None, assignee=None)

    assert login(alice).post(url("assign", conversation), {"assignee": "me"}).status_code == 302

    conversation.refresh_from_db()
    assert conversation.assignee == alice
    assert AuditEvent.objects.filter(verb="conversation.assign", actor=alice).exists()


def test_supervisor_reassigns_within_the_team_officers_cannot(sim_account, alice, bob, carol, team_a):
    (conversation,) = converse(1)
    conversation_assign(conversation=conversation, user=None, assignee=alice)
    before = snapshot(conversation)

    # An officer may only take a conversation, not hand it to someone else.
    assert login(alice).post(url("assign", conversation), {"assignee": carol.pk}).status_code == 403
    # bob is not an officer of the team: not a valid choice even for a supervisor.
    page = login(carol).get(url("conversation", conversation)).content.decode()
    assert 'id="assignee-select"' in page and f'value="{bob.pk}"' not in page
    assert login(carol).post(url("assign", conversation), {"assignee": bob.pk}).status_code == 302
    assert snapshot(conversation) == before

    assert login(carol).post(url("assign", conversation), {"assignee": carol.pk}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.assignee == carol


def test_saved_replies_of_the_team_and_global(sim_account, alice, team_a, team_b):
    (conversation,) = converse(1)
    ours = SavedReply.objects.create(title="Bus delays", body="Hola, <b>gracias</b> por avisar.", team=team_a)
    SavedReply.objects.create(title="Everyone", body="Thanks!")
    SavedReply.objects.create(title="Waste only", body="Contenedores", team=team_b)
    client = login(alice)

    html = client.get(url("conversation", conversation)).content.decode()
    assert "Bus delays" in html and "Everyone" in html and "Waste only" not in html
    assert 'data-body="Hola, &lt;b&gt;gracias&lt;/b&gt; por avisar."' in html

    prefilled = client.get(url("conversation", conversation), {"saved": ours.pk}).content.decode()
    assert ">Hola, &lt;b&gt;gracias&lt;/b&gt; por avisar.</textarea>" in prefilled


def test_conversation_page_query_count_does_not_grow_with_messages(sim_account, alice):
    def measure(conversation) -> int:
        client = login(alice)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url("conversation", conversation)).status_code == 200
        return len(queries)

    (short,) = converse(1)
    post_sim(Client(), sim_body([sim_event(100 + i, thread="t-long", author="citizen-9") for i in range(20)]))
    post_sim(Client(), sim_body([
        sim_event(100 + i, thread="t-long", author="citizen-9", type="edit", text=f"editado {i}", at=timezone.now())
        for i in range(5)
    ]))
    long = Conversation.objects.get(thread_key="mention:t-long")
    for i in range(3):
        committed(login(alice).post, url("note", long), {"text": f"nota {i}"})
        committed(login(alice).post, url("reply", long), {"text": f"respuesta {i}", "option": "public"})
    assert long.messages.count() == 26 and long.messages.filter(revisions__isnull=False).count() == 5

    # Session, user, permissions (2), teams per permission (3), the conversation, its messages
    # and revisions, its SLA clock, saved replies, roles, its routing trace: none per message.
    measure(short)  # the first request of the test fills the process's content-type cache
    # The unanswered one also reads its running SLA clock (the countdown); the answered one,
    # with 26 messages, needs no more queries than that.
    # +1 for the officer's own reply held for approval (the composer shows it: docs/approvals.md).
    # +2 for the public record: the view's audit row, the legal hold on it or its Person.
    # +3 for the work card (the tags to choose, the conversation's tags, the officers to @mention).
    # +1 for the citizen card's suggested links (docs/people.md; the card is 4 queries at most).
    # +1 for the top bar's unread notifications (every page: docs/working-faster.md, "Notifications").
    assert measure(long) <= measure(short) <= 23


def test_edited_and_deleted_messages_keep_their_history(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1, text="Texto original"), sim_event(2, thread="t1", text="Me equivoqué")]))
    post_sim(Client(), sim_body([sim_event(1, text="Texto corregido", type="edit", at=timezone.now())]))
    post_sim(Client(), sim_body([sim_event(2, thread="t1", type="delete", at=timezone.now())]))
    conversation = Conversation.objects.get(thread_key="mention:t1")

    html = login(alice).get(url("conversation", conversation)).content.decode()

    assert "Texto corregido" in html and "Texto original" in html
    assert "1 recorded change" in html
    assert "Deleted by the citizen" in html and "Me equivoqué" in html


def test_citizen_text_is_escaped(sim_account, alice):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    event = sim_event(1, text=hostile)
    event["from"]["name"] = "<b>Mallory</b>"
    event["attachments"] = [{"type": "link", "url": "javascript:alert(1)", "name": "click me"}]
    post_sim(Client(), sim_body([event]))
    conversation = Conversation.objects.get()
    client = login(alice)

    for response in (client.get(reverse("inbox:queue")), client.get(url("conversation", conversation))):
        html = response.content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>Mallory" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "&lt;b&gt;Mallory&lt;/b&gt;" in html
    assert 'href="javascript:' not in html and "click me" in html


def test_persian_text_is_marked_for_direction(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1, text="سلام، چراغ‌های خیابان ما خاموش است.")]))
    conversation = Conversation.objects.get()
    html = login(alice).get(url("conversation", conversation)).content.decode()
    assert '<div class="msg-text" dir="auto">سلام، چراغ‌های خیابان ما خاموش است.</div>' in html


# --- The frame ---------------------------------------------------------------------------------


def test_reconnect_banner_only_for_supervisors_and_admins(sim_account, alice, carol, dave):
    ChannelAccount.objects.filter(pk=sim_account.pk).update(status=ChannelAccount.Status.NEEDS_RECONNECT)

    for user, shown in ((alice, False), (carol, True), (dave, True)):
        html = login(user).get(reverse("inbox:queue")).content.decode()
        assert ("Channel needs reconnecting" in html) is shown, user


def test_double_submit_of_the_composer_sends_one_reply(sim_account, alice):
    (conversation,) = converse(1)
    page = login(alice).get(url("conversation", conversation)).content.decode()
    token = page.split('name="client_token" value="')[1].split('"')[0]
    client = login(alice)

    for _ in range(2):
        response = committed(client.post, url("reply", conversation), {"text": "Hola", "option": "public", "client_token": token})
        assert response.status_code == 302

    assert conversation.messages.filter(direction=Message.Direction.OUTBOUND).count() == 1


def test_personal_data_in_a_public_reply_asks_for_confirmation(sim_account, alice):
    (conversation,) = converse(1)
    client = login(alice)
    data = {"text": "Truqui al 612 345 678", "option": "public", "client_token": "tok"}

    refused = client.post(url("reply", conversation), data)

    assert refused.status_code == 422
    html = refused.content.decode()
    assert "seems to contain personal data" in html and 'name="confirm_public"' in html
    assert 'value="tok"' in html  # the same composed reply keeps its token
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()

    confirmed = committed(client.post, url("reply", conversation), {**data, "confirm_public": "1"})
    assert confirmed.status_code == 302
    assert conversation.messages.filter(direction=Message.Direction.OUTBOUND, visibility="public").count() == 1


def hidden(html: str, name: str) -> str:
    return html.split(f'name="{name}" value="')[1].split('"')[0]


def officer_of(team, django_user_model, username: str, first_name: str):
    user = django_user_model.objects.create_user(username=username, first_name=first_name)
    team_member_add(team, user, OFFICER)
    return user


def test_reply_written_before_a_colleagues_answer_asks_to_confirm_then_sends(
    sim_account, alice, team_a, django_user_model
):
    (conversation,) = converse(1)
    erin = officer_of(team_a, django_user_model, "erin", "Erin")
    client = login(alice)
    page = client.get(url("conversation", conversation)).content.decode()
    seen, token = hidden(page, "last_seen_message_id"), hidden(page, "client_token")
    assert seen == str(conversation.messages.get().id)
    # Erin answers and resolves while alice is writing.
    answer = committed(reply_submit, conversation=conversation, user=erin, text="Ja està resolt, gràcies.",
                       option_key="public")
    committed(conversation_status_set, conversation=conversation, user=erin, status=Conversation.Status.RESOLVED)
    data = {"text": "Ho mirem de seguida.", "option": "private", "client_token": token, "last_seen_message_id": seen}

    stopped = committed(client.post, url("reply", conversation), data)

    assert stopped.status_code == 409
    html = stopped.content.decode()
    assert ">Ho mirem de seguida.</textarea>" in html  # alice keeps her text, her option and her token
    assert 'id="opt-private" value="private" data-max-length="2000" data-counting="characters" checked' in html
    assert hidden(html, "client_token") == token
    collision = html.split('id="reply-collision"')[1].split("</ol>")[0]
    assert "Not sent: a new message arrived while you were writing." in html
    assert "Erin" in collision and "Ja està resolt, gràcies." in collision and "delivery-sent" in collision
    assert "Send anyway" in html
    assert f'id="m-{answer.id}"' in html and html.count(" is-new") == 1  # marked in the timeline too
    assert '<span class="status status-resolved">Resolved</span>' in html  # the header as it is now
    assert hidden(html, "last_seen_message_id") == str(answer.id)
    assert list(conversation.messages.filter(direction=Message.Direction.OUTBOUND).values_list("author_user", flat=True)) == [erin.id]

    confirmed = committed(client.post, url("reply", conversation), {**data, "last_seen_message_id": str(answer.id)})

    assert confirmed.status_code == 302
    assert conversation.messages.filter(direction=Message.Direction.OUTBOUND, author_user=alice).count() == 1


def test_a_citizens_new_message_stops_a_reply_a_colleagues_note_does_not(
    sim_account, alice, team_a, django_user_model
):
    (conversation,) = converse(1)
    erin = officer_of(team_a, django_user_model, "erin", "Erin")
    client = login(alice)
    seen = hidden(client.get(url("conversation", conversation)).content.decode(), "last_seen_message_id")
    committed(conversation_note_add, conversation=conversation, user=erin, text="Ull: és la tercera queixa")
    post_sim(Client(), sim_body([sim_event(9, thread="t0", text="Encara res?", author="citizen-0",
                                            at=timezone.now())]))

    stopped = client.post(url("reply", conversation), {"text": "Ho mirem.", "option": "private", "last_seen_message_id": seen})

    assert stopped.status_code == 409
    collision = stopped.content.decode().split('id="reply-collision"')[1].split("</ol>")[0]
    assert "Encara res?" in collision and "Citizen citizen-0" in collision
    assert "Ull: és la tercera queixa" not in collision
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()


def test_reply_refused_by_the_platform_keeps_the_last_seen_id(sim_account, alice, team_a, django_user_model):
    (conversation,) = converse(1)
    erin = officer_of(team_a, django_user_model, "erin", "Erin")
    client = login(alice)
    seen = hidden(client.get(url("conversation", conversation)).content.decode(), "last_seen_message_id")
    committed(conversation_note_add, conversation=conversation, user=erin, text="Ull: és la tercera queixa")

    refused = client.post(url("reply", conversation), {"text": "x" * 2001, "option": "private", "last_seen_message_id": seen})

    assert refused.status_code == 422  # a note is no collision: the length is what is wrong
    html = refused.content.decode()
    assert hidden(html, "last_seen_message_id") == seen
    assert html.count(" is-new") == 1 and "Ull: és la tercera queixa" in html


def test_reply_without_an_option_keeps_what_the_officer_had_seen(sim_account, alice):
    (conversation,) = converse(1)
    client = login(alice)
    seen = hidden(client.get(url("conversation", conversation)).content.decode(), "last_seen_message_id")
    post_sim(Client(), sim_body([sim_event(9, thread="t0", text="Encara res?", author="citizen-0", at=timezone.now())]))

    refused = client.post(url("reply", conversation), {"text": "Ho mirem.", "last_seen_message_id": seen})

    assert refused.status_code == 422
    html = refused.content.decode()
    assert hidden(html, "last_seen_message_id") == seen and html.count(" is-new") == 1


def test_live_fragment_carries_status_assignment_and_timeline(sim_account, alice, bob, team_a, django_user_model):
    (conversation,) = converse(1)
    erin = officer_of(team_a, django_user_model, "erin", "Erin")
    client = login(erin)
    before = client.get(url("conversation", conversation), {"fragment": "live"}).content.decode()
    assert "First answer overdue" in before and "status-new" in before

    committed(reply_submit, conversation=conversation, user=alice, text="Ho revisem.", option_key="public")
    committed(conversation_status_set, conversation=conversation, user=alice, status=Conversation.Status.RESOLVED)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("conversation", conversation), {"fragment": "live"})

    html = response.content.decode()
    assert "<html" not in html and 'id="reply-form"' not in html
    parts = [p.split('"')[0] for p in html.split('<template data-part="')[1:]]
    assert parts == ["status", "assignment", "details", "composer-assignee", "saved-replies", "timeline"]
    status_part = html.split('data-part="status">')[1].split("</template>")[0]
    assert '<span class="status status-resolved">Resolved</span>' in status_part
    assert "First answer" not in status_part and ">Reopen</button>" in status_part
    assert "Assigned to alice: you would be answering for them." in html
    assert "Ho revisem." in html and html.count('<li class="msg msg-') == 2
    # Every open page asks this on each change: session, user, permissions, conversation, timeline.
    # ... and the officer's reply held for approval, if any (docs/approvals.md).
    assert len(queries) <= 13, f"live fragment budget exceeded: {len(queries)} queries"
    assert login(bob).get(url("conversation", conversation), {"fragment": "live"}).status_code == 404


def test_password_guessing_is_locked_out(alice, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 429

    locked = client.post("/login/", {"username": "alice", "password": PASSWORD})  # even the right one

    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode() and "15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not affected.
    assert Client().post("/login/", {"username": "nobody", "password": "x"}).status_code == 200


def test_another_teams_conversation_is_a_friendly_404(sim_account, bob, settings):
    settings.DEBUG = False
    (conversation,) = converse(1)
    response = login(bob).get(url("conversation", conversation))
    assert response.status_code == 404
    assert "belongs to a team whose conversations you cannot see" in response.content.decode()
    assert conversation.subject not in response.content.decode()
