"""Working faster (issue 11): one set of limits and statuses for the UI and the API, search,
snooze until a time and the wake, pending, tags and priority, notes with @mentions,
replying to a resolved conversation reopens it, and the approvals gaps (top bar link with a
cached count, the account admin with object permissions, approval settings in the API).

The cast (tests/conftest.py): alice officer of team A, bob officer of team B, carol
supervisor of both, dave admin. Messages arrive through the signed simulator webhook;
replies go out through the real outbound path (eager tasks).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.admin.sites import site as admin_site
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.admin import GuardedModelAdmin

from inbox import limits
from inbox.api.filters import ConversationFilter
from inbox.api.serializers import (
    NoteInputSerializer,
    ReplyInputSerializer,
    StatusInputSerializer,
)
from inbox.forms import NoteForm, QueueFilterForm, ReplyForm, StatusForm
from inbox.models import AuditEvent, ChannelAccount, Conversation, Message, ReplyApproval, Tag
from inbox.services.snooze import conversations_wake, snooze_until
from routing.models import ServiceCalendar
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/conversations/"


def arrive(*events) -> None:
    assert post_sim(Client(), sim_body(list(events))).status_code == 200


@pytest.fixture
def three(sim_account, alice, carol):
    """Three conversations of team A: Marta (public mention), Jordi (private), Anna (public)."""
    arrive(
        sim_event(1, author="marta", text="La farola del carrer Verdi està trencada"),
        sim_event(2, author="jordi", channel="dm", text="Quan passa la brossa al Poblenou?"),
        sim_event(3, author="anna", text="Gràcies pel servei de bus nocturn"),
    )
    Conversation.objects.filter(contact__external_id="marta").update(subject="Farola trencada")
    return {c.contact.external_id: c for c in Conversation.objects.select_related("contact")}


def queue_ids(client, **params) -> list[int]:
    response = client.get(reverse("inbox:queue"), {"view": "team", **params})
    assert response.status_code == 200
    return [c.id for c in response.context["conversations"]]


def api_ids(client, **params) -> list[int]:
    response = client.get(API, params)
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


def verbs(conversation) -> list[str]:
    return list(AuditEvent.objects.filter(target_type="inbox.conversation", target_id=str(conversation.pk))
                .order_by("id").values_list("verb", flat=True))


# --- One set of limits and statuses ------------------------------------------------------------


def test_forms_and_serializers_take_their_limits_and_statuses_from_one_module():
    assert NoteForm().fields["text"].max_length == NoteInputSerializer().fields["text"].max_length \
        == limits.NOTE_MAX_LENGTH
    assert ReplyForm().fields["text"].max_length == ReplyInputSerializer().fields["text"].max_length \
        == limits.REPLY_MAX_LENGTH
    settable = set(limits.SETTABLE_STATUSES)
    assert {v for v, _ in StatusForm().fields["status"].choices} == settable
    assert set(StatusInputSerializer().fields["status"].choices) == settable
    assert "new" not in settable and "snoozed" not in settable
    ui_filters = {v for v, _ in QueueFilterForm({}, teams=[]).fields["status"].choices}
    api_filters = {v for v, _ in ConversationFilter().filters["status"].extra["choices"]}
    assert ui_filters == api_filters == limits.STATUS_FILTER_VALUES


def test_ui_and_api_refuse_the_same_note_length_and_the_same_statuses(three, alice):
    marta = three["marta"]
    client = login(alice)
    too_long = "x" * (limits.NOTE_MAX_LENGTH + 1)
    assert client.post(reverse("inbox:note", args=[marta.pk]), {"text": too_long}).status_code == 422
    assert client.post(f"{API}{marta.pk}/notes/", {"text": too_long}, content_type="application/json").status_code == 400
    longest = "x" * limits.NOTE_MAX_LENGTH
    assert committed(client.post, reverse("inbox:note", args=[marta.pk]), {"text": longest}).status_code == 302
    assert committed(client.post, f"{API}{marta.pk}/notes/", {"text": longest},
                     content_type="application/json").status_code == 201
    for status in ("new", "snoozed"):
        client.post(reverse("inbox:status", args=[marta.pk]), {"status": status})
        assert client.post(f"{API}{marta.pk}/status/", {"status": status},
                           content_type="application/json").status_code == 400
        marta.refresh_from_db()
        assert marta.status == "new"  # neither path set it
    assert committed(client.post, f"{API}{marta.pk}/status/", {"status": "pending"},
                     content_type="application/json").status_code == 200


def test_status_all_and_active_mean_the_same_in_the_queue_and_the_api(three, alice):
    client = login(alice)
    Conversation.objects.filter(pk=three["jordi"].pk).update(status="resolved")
    Conversation.objects.filter(pk=three["anna"].pk).update(status="snoozed",
                                                             snoozed_until=timezone.now() + timedelta(hours=2))
    everything = sorted(c.pk for c in three.values())
    assert sorted(queue_ids(client, status="all")) == sorted(api_ids(client, status="all")) == everything
    assert queue_ids(client) == queue_ids(client, status="active") == api_ids(client, status="active") \
        == [three["marta"].pk]
    assert queue_ids(client, status="snoozed") == api_ids(client, status="snoozed") == [three["anna"].pk]
    # The tab counts count what the queue lists.
    assert client.get(reverse("inbox:queue")).context["counts"]["team"] == 1


# --- Search --------------------------------------------------------------------------------------


def test_search_by_name_handle_text_and_reference_with_the_apis_permissions(three, alice, bob, sim_account):
    client = login(alice)
    marta, jordi = three["marta"], three["jordi"]
    cases = {
        "Citizen marta": [marta.pk],  # the name the simulator gives
        "h-jordi": [jordi.pk],  # the handle
        "@h-jordi": [jordi.pk],
        "brossa": [jordi.pk],  # a message's text
        "FAROLA": [marta.pk],  # the subject, any case
        f"#{jordi.pk}": [jordi.pk],  # a reference
        str(marta.pk): [marta.pk],
        "nothing like this": [],
    }
    for query, expected in cases.items():
        assert queue_ids(client, q=query) == expected, query
        assert api_ids(client, search=query) == expected, query
    # An answer is searched; an internal note is not.
    committed(client.post, reverse("inbox:note", args=[marta.pk]), {"text": "secret internal remark"})
    assert queue_ids(client, q="internal remark") == api_ids(client, search="internal remark") == []
    # Too short to search: only a reference counts.
    page = client.get(reverse("inbox:queue"), {"q": "la"})
    assert list(page.context["conversations"]) == [] and "at least three characters" in page.content.decode()
    # Bob (team B) finds nothing of team A, by text or by reference.
    other = login(bob)
    assert queue_ids(other, q="farola") == api_ids(other, search="farola") == []
    assert queue_ids(other, q=f"#{marta.pk}", status="all") == api_ids(other, search=f"#{marta.pk}") == []


def test_search_uses_the_trigram_indexes():
    """The plan of a message search on PostgreSQL reads the trigram index, not every row."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT conversation_id FROM inbox_message WHERE UPPER(text::text) LIKE UPPER(%s)",
                       ["%farola%"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    # 0002's index (0016 had created the same one again; 0021 dropped the duplicate).
    assert "inbox_message_text_trgm" in plan


# --- Snooze, wake, pending -----------------------------------------------------------------------


def test_snooze_until_tomorrow_leaves_the_queue_and_wakes_once_at_the_top(three, alice):
    client = login(alice)
    marta, anna = three["marta"], three["anna"]
    assert queue_ids(client)[0] == anna.pk  # the newest citizen message first
    response = committed(client.post, reverse("inbox:snooze", args=[marta.pk]), {"until": "tomorrow"})
    assert response.status_code == 302
    marta.refresh_from_db()
    assert marta.status == "snoozed" and marta.snoozed_until > timezone.now()
    assert marta.pk not in queue_ids(client) and marta.pk not in api_ids(client, status="active")
    assert "conversation.snooze" in verbs(marta)
    # Not yet.
    assert conversations_wake() == []
    # Its time comes: woken once, open, first in the queue although older than the others.
    later = marta.snoozed_until + timedelta(seconds=1)
    assert conversations_wake(now=later) == [marta.pk]
    assert conversations_wake(now=later + timedelta(minutes=1)) == []
    marta.refresh_from_db()
    assert marta.status == "open" and marta.snoozed_until is None and marta.woken_at == later
    ids = queue_ids(client)
    assert ids[0] == marta.pk and sorted(ids) == sorted(c.pk for c in three.values())
    assert verbs(marta).count("conversation.wake") == 1
    assert "Back from snooze" in client.get(reverse("inbox:queue")).content.decode()
    # An officer acts on it: it takes its normal place again.
    committed(client.post, reverse("inbox:status", args=[marta.pk]), {"status": "pending"})
    marta.refresh_from_db()
    assert marta.woken_at is None


def test_snooze_choices_in_the_accounts_calendar(three, sim_account):
    sim_account.calendar = ServiceCalendar.objects.create(name="NY desk", timezone="America/New_York")
    sim_account.save(update_fields=["calendar"])
    conversation = Conversation.objects.select_related("account__calendar").get(pk=three["marta"].pk)
    ny = zoneinfo.ZoneInfo("America/New_York")
    now = datetime(2026, 11, 20, 3, 30, tzinfo=zoneinfo.ZoneInfo("UTC"))  # Thursday 22:30 in New York
    assert snooze_until("later_today", conversation, now=now) == now + timedelta(hours=3)
    assert snooze_until("tomorrow", conversation, now=now) == datetime(2026, 11, 20, 8, 0, tzinfo=ny)
    assert snooze_until("next_week", conversation, now=now) == datetime(2026, 11, 23, 8, 0, tzinfo=ny)
    custom = snooze_until("custom", conversation, now=now, custom=datetime(2026, 12, 1, 9, 15))
    assert custom == datetime(2026, 12, 1, 9, 15, tzinfo=ny)


def test_snoozing_into_the_past_is_refused_and_a_citizen_message_wakes_it(three, alice):
    client = login(alice)
    marta = three["marta"]
    response = client.post(reverse("inbox:snooze", args=[marta.pk]), {"until": "custom", "custom": "2001-01-01T08:00"})
    assert response.status_code == 422 and "has passed" in response.content.decode()
    assert committed(client.post, f"{API}{marta.pk}/snooze/", {"until": "later_today"},
                     content_type="application/json").status_code == 200
    marta.refresh_from_db()
    assert marta.status == "snoozed"
    arrive(sim_event(10, author="marta", thread="t1", text="Encara està trencada", at=timezone.now()))
    marta.refresh_from_db()
    assert marta.status == "open"
    assert conversations_wake(now=timezone.now() + timedelta(days=1)) == []  # nothing left to wake


def test_pending_waits_on_the_citizen_and_their_message_reopens_it(three, alice):
    client = login(alice)
    jordi = three["jordi"]
    committed(client.post, reverse("inbox:status", args=[jordi.pk]), {"status": "pending"})
    jordi.refresh_from_db()
    assert jordi.status == "pending"
    arrive(sim_event(11, author="jordi", thread="t2", channel="dm", text="Dimarts?", at=timezone.now()))
    jordi.refresh_from_db()
    assert jordi.status == "open"


# --- Tags and priority ---------------------------------------------------------------------------


def test_officers_set_tags_and_priority_from_the_page_and_the_api(three, alice, bob):
    marta = three["marta"]
    lights = Tag.objects.create(name="Street lights", slug="lights")
    urgent = Tag.objects.create(name="Urgent", slug="urgent")
    client = login(alice)
    page = client.get(reverse("inbox:conversation", args=[marta.pk])).content.decode()
    assert f'action="/inbox/c/{marta.pk}/tags/"' in page and 'id="priority-select"' in page
    committed(client.post, reverse("inbox:tags", args=[marta.pk]), {"tags": [lights.pk, urgent.pk]})
    committed(client.post, reverse("inbox:priority", args=[marta.pk]), {"priority": 3})
    marta.refresh_from_db()
    assert marta.priority == 3 and set(marta.tags.values_list("slug", flat=True)) == {"lights", "urgent"}
    response = committed(client.post, f"{API}{marta.pk}/tags/", {"remove": ["urgent"]}, content_type="application/json")
    assert response.status_code == 200 and [t["slug"] for t in response.json()["tags"]] == ["lights"]
    response = committed(client.post, f"{API}{marta.pk}/priority/", {"priority": 0}, content_type="application/json")
    assert response.json()["priority"] == 0
    assert {"conversation.tags", "conversation.priority"} <= set(verbs(marta))
    # Another team's conversation does not exist for Bob.
    assert login(bob).post(reverse("inbox:priority", args=[marta.pk]), {"priority": 2}).status_code == 404
    assert login(bob).post(f"{API}{marta.pk}/tags/", {"add": ["urgent"]},
                           content_type="application/json").status_code == 404


# --- Notes with @mentions ------------------------------------------------------------------------


def test_a_mention_tells_the_officer_live_and_only_team_members_can_be_mentioned(three, alice, bob, carol):
    marta = three["marta"]
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"user-{carol.pk}", channel)
    try:
        client = login(alice)
        response = committed(client.post, reverse("inbox:note", args=[marta.pk]),
                             {"text": "@carol can you check the lamp post? email me@example.org"})
        assert response.status_code == 302
        event = async_to_sync(layer.receive)(channel)
        note = marta.messages.get(direction=Message.Direction.NOTE)
        assert event == {"type": "mention.notification", "conversation": marta.pk, "message": note.pk,
                         "author": "alice"}
        audit = AuditEvent.objects.get(verb="conversation.note", target_id=str(marta.pk))
        assert audit.data["mentions"] == [carol.pk]
    finally:
        async_to_sync(layer.group_discard)(f"user-{carol.pk}", channel)
    # Bob is not an officer of team A: refused, nothing stored, by the page and the API.
    response = client.post(reverse("inbox:note", args=[marta.pk]), {"text": "@bob look"})
    assert response.status_code == 422 and "@bob" in response.content.decode()
    assert client.post(f"{API}{marta.pk}/notes/", {"text": "@bob look"},
                       content_type="application/json").status_code == 400
    assert marta.messages.filter(direction=Message.Direction.NOTE).count() == 1
    # The page offers the team's officers to mention.
    page = client.get(reverse("inbox:conversation", args=[marta.pk])).content.decode()
    assert 'data-mention="carol"' in page and 'data-mention="bob"' not in page


# --- Replying to a resolved conversation reopens it -----------------------------------------------


def test_a_reply_to_a_resolved_conversation_reopens_it_and_says_so(three, alice):
    marta, jordi = three["marta"], three["jordi"]
    client = login(alice)
    for conversation in (marta, jordi):
        committed(client.post, reverse("inbox:status", args=[conversation.pk]), {"status": "resolved"})
    seen = marta.messages.order_by("-id").values_list("id", flat=True).first()
    response = committed(client.post, reverse("inbox:reply", args=[marta.pk]),
                         {"text": "Ja està arreglada, gràcies!", "option": "public", "last_seen_message_id": seen},
                         follow=True)
    assert "it is open again" in response.content.decode()
    marta.refresh_from_db()
    assert marta.status == "open" and marta.resolved_at is None
    assert verbs(marta)[-2:] == ["message.reply", "conversation.reopen"] or "conversation.reopen" in verbs(marta)
    assert marta.messages.get(direction="out").delivery_status == "sent"
    response = committed(client.post, f"{API}{jordi.pk}/reply/", {"text": "Dimarts i dijous.", "option": "private"},
                         content_type="application/json")
    assert response.status_code == 201 and response.json()["conversation_reopened"] is True
    jordi.refresh_from_db()
    assert jordi.status == "open"
    # A reply to an open conversation says nothing of the sort.
    response = committed(client.post, f"{API}{jordi.pk}/reply/", {"text": "I el dissabte.", "option": "private"},
                         content_type="application/json")
    assert response.json()["conversation_reopened"] is False


# --- Approvals gaps ------------------------------------------------------------------------------


def test_the_top_bar_links_supervisors_to_approvals_with_a_cached_count(three, alice, carol, sim_account):
    from django.core.cache import cache

    from channels_adapters.outbound import reply_submit

    cache.clear()
    sim_account.reply_approval = ReplyApproval.ALL_PUBLIC
    sim_account.save(update_fields=["reply_approval"])
    supervisor = login(carol)
    page = supervisor.get(reverse("inbox:queue")).content.decode()
    assert 'href="/inbox/approvals/"' in page and "nav-count" not in page
    assert 'href="/inbox/approvals/"' not in login(alice).get(reverse("inbox:queue")).content.decode()
    marta = Conversation.objects.select_related("account", "team").get(pk=three["marta"].pk)
    committed(reply_submit, conversation=marta, user=alice, text="Ho mirem", option_key="public")
    page = supervisor.get(reverse("inbox:queue")).content.decode()
    assert '<span class="nav-count" aria-label="1 waiting">1</span>' in page
    # Cached: the next page asks the database nothing about drafts.
    with CaptureQueriesContext(connection) as ctx:
        supervisor.get(reverse("inbox:queue"))
    assert not [q for q in ctx.captured_queries if "inbox_replydraft" in q["sql"]]


def test_account_admin_grants_publish_without_approval_per_officer(dave, sim_account):
    model_admin = admin_site._registry[ChannelAccount]
    assert isinstance(model_admin, GuardedModelAdmin) and "reply_approval" in model_admin.fields
    client = login(dave)
    change = client.get(reverse("admin:inbox_channelaccount_change", args=[sim_account.pk])).content.decode()
    assert 'name="reply_approval"' in change and "permissions/" in change
    assert client.get(reverse("admin:inbox_channelaccount_permissions", args=[sim_account.pk])).status_code == 200


def test_approval_settings_in_the_api_admins_write(sim_account, alice, carol, dave):
    tag = Tag.objects.create(name="Elections", slug="elections")
    assert login(alice).get("/api/v1/tags/").json()["results"][0]["requires_approval"] is False
    assert login(alice).patch(f"/api/v1/tags/{tag.pk}/", {"requires_approval": True},
                              content_type="application/json").status_code == 403
    response = login(dave).patch(f"/api/v1/tags/{tag.pk}/", {"requires_approval": True},
                                 content_type="application/json")
    assert response.status_code == 200 and response.json()["requires_approval"] is True
    url = f"/api/v1/channel-accounts/{sim_account.pk}/approval/"
    assert login(carol).get(url).json()["reply_approval"] == "none"
    assert login(carol).patch(url, {"reply_approval": "unpermitted"}, content_type="application/json").status_code == 403
    assert login(alice).get(url).status_code == 403
    response = login(dave).patch(url, {"reply_approval": "unpermitted"}, content_type="application/json")
    assert response.status_code == 200
    sim_account.refresh_from_db()
    assert sim_account.reply_approval == "unpermitted"
    assert AuditEvent.objects.filter(verb="channel_account.reply_approval", target_id=str(sim_account.pk)).exists()
    assert AuditEvent.objects.filter(verb="tag.update", target_id=str(tag.pk)).exists()
    listed = login(carol).get("/api/v1/channel-accounts/").json()["results"]
    assert listed[0]["reply_approval"] == "unpermitted"
