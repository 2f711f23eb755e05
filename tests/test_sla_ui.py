"""The SLA in the officer UI: queues sorted by due time and filtered to at risk / breached
(page and API, keyset pages kept exact), the conversation's countdown in business time,
paused while pending, the platform window when it closes first, and the team's holding
replies offered first while the first answer is at risk."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation, SavedReply
from inbox.services import conversation_status_set
from routing import sla
from routing.models import ServiceCalendar, SlaPolicy
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


def converse(n: int, *, start: int = 0, **event) -> list[Conversation]:
    events = [sim_event(start + i, author=f"citizen-{start + i}", **event) for i in range(n)]
    assert post_sim(Client(), sim_body(events)).status_code == 200
    return list(Conversation.objects.filter(thread_key__in=[f"{event.get('channel', 'mention')}:t{start + i}"
                                                            for i in range(n)]).order_by("id"))


def with_due(conversations, *, now=None) -> list[Conversation]:
    """Give the conversations due times (some equal, some none) and SLA states directly:
    the queue reads the stored columns, whatever computed them."""
    now = now or timezone.now()
    for i, c in enumerate(conversations):
        if i % 7 == 6:
            c.sla_due_at, c.sla_state = None, "paused"
        else:
            c.sla_due_at = now + timedelta(minutes=(i * 37) % 50)  # repeats: ties broken by id
            c.sla_state = "breached" if i % 5 == 0 else "at_risk" if i % 5 == 1 else "running"
    Conversation.objects.bulk_update(conversations, ["sla_due_at", "sla_state"])
    return conversations


def expected_by_due(conversations) -> list[int]:
    timed = sorted((c for c in conversations if c.sla_due_at), key=lambda c: (c.sla_due_at, c.id))
    return [c.id for c in timed] + sorted(c.id for c in conversations if not c.sla_due_at)


def walk(client, path, params, *, key="conversations") -> list[int]:
    """Every page of a queue, following its cursor."""
    ids, params = [], dict(params)
    for _ in range(10):
        response = client.get(path, params)
        assert response.status_code == 200
        ids += [c.id for c in response.context[key]]
        if not response.context["next_cursor"]:
            return ids
        params["before"] = response.context["next_cursor"]
    raise AssertionError("the cursor does not end")


# --- queues ----------------------------------------------------------------------------------


def test_queue_sorted_by_due_time_pages_exactly(sim_account, alice):
    conversations = with_due(converse(60))
    client = login(alice)

    first = client.get(reverse("inbox:queue"), {"ordering": "due"})
    assert first.context["next_cursor"].startswith("due:")
    ids = walk(client, reverse("inbox:queue"), {"ordering": "due"})

    assert ids == expected_by_due(conversations)
    assert len(ids) == len(set(ids)) == 60
    html = first.content.decode()
    assert '<option value="due" selected>Due soonest first</option>' in html
    assert 'rel="next" href="?ordering=due&amp;before=due%3A' in html


def test_queue_cursor_inside_the_rows_without_due_time(sim_account, alice):
    conversations = converse(8)
    Conversation.objects.filter(id__in=[c.id for c in conversations]).update(sla_due_at=None)
    client = login(alice)
    from inbox.selectors import QueueFilter, queue_page

    rows, cursor = queue_page(alice, QueueFilter(ordering="due"), size=3)
    assert cursor == f"due:-|{rows[-1].id}"
    rest, _ = queue_page(alice, QueueFilter(ordering="due", before=cursor), size=10)
    assert [c.id for c in rows + rest] == sorted(c.id for c in conversations)
    assert client.get(reverse("inbox:queue"), {"ordering": "due", "before": "due:garbage|x"}).status_code == 200


@pytest.mark.parametrize("state", ["at_risk", "breached"])
def test_queue_filtered_to_at_risk_or_breached(sim_account, alice, state):
    conversations = with_due(converse(60))
    client = login(alice)

    ids = walk(client, reverse("inbox:queue"), {"sla": state, "ordering": "due"})
    newest_first = walk(client, reverse("inbox:queue"), {"sla": state})

    wanted = [c for c in conversations if c.sla_state == state]
    assert ids == expected_by_due(wanted) and wanted
    assert sorted(newest_first) == sorted(c.id for c in wanted)
    page = client.get(reverse("inbox:queue"), {"sla": state}).content.decode()
    assert ("At risk" if state == "at_risk" else "Breached") in page


def test_queue_by_due_time_keeps_its_query_budget(sim_account, alice):
    client = login(alice)

    def measure() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("inbox:queue"), {"ordering": "due", "sla": ""}).status_code == 200
        return len(queries)

    with_due(converse(3))
    small = measure()
    with_due(converse(57, start=3))
    # A page that reaches the rows without a due time costs one more query, never more; the
    # queue's own budget (tests/test_views.py: 16, with the stored notifications, the bulk bar's
    # tags and the Take button's teams) plus that one.
    assert measure() <= small + 1 <= 17


def test_api_orders_by_due_time_and_filters(sim_account, alice, bob):
    conversations = with_due(converse(60))
    client = login(alice)
    ids, url = [], "/api/v1/conversations/?ordering=sla_due_at&page_size=7"
    while url:
        body = client.get(url).json()
        ids += [c["id"] for c in body["results"]]
        url = body["next"]
    assert ids == [i for i in expected_by_due(conversations) if Conversation.objects.get(id=i).sla_due_at]

    breached = client.get("/api/v1/conversations/", {"sla": "breached"}).json()["results"]
    assert {c["id"] for c in breached} == {c.id for c in conversations if c.sla_state == "breached"}
    assert all(c["sla_state"] == "breached" for c in breached)
    assert client.get("/api/v1/conversations/", {"sla": "late"}).status_code == 400
    assert login(bob).get("/api/v1/conversations/", {"sla": "breached"}).json()["results"] == []


def test_due_ordering_uses_the_index(sim_account, alice):
    """EXPLAIN on PostgreSQL: the page is an index range on (sla_due_at, id), not a sort of
    the whole queue (the planner is told to avoid sequential scans, as it would with a big
    table; with a few rows it would rightly prefer one)."""
    with_due(converse(20))
    from inbox.selectors import QueueFilter, _queue_queryset

    qs = _queue_queryset(alice, QueueFilter(ordering="due")).filter(sla_due_at__isnull=False).order_by("sla_due_at", "id")[:51]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        sql, params = qs.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "conv_sla_due_idx" in plan or "conv_team_sla_due_idx" in plan, plan
    assert "Sort" not in plan.split("->")[0] + plan.split("->")[1], plan


# --- the conversation page -------------------------------------------------------------------


def status_part(client, conversation) -> str:
    html = client.get(reverse("inbox:conversation", args=[conversation.id]), {"fragment": "live"}).content.decode()
    return html.split('data-part="status">')[1].split("</template>")[0]


def test_countdown_counts_service_time_only(sim_account, alice):
    """Closed all day today, open around the clock otherwise: a message now owes its two
    hours from tomorrow at midnight, not from now."""
    today = timezone.localdate()
    calendar = ServiceCalendar.objects.create(
        name="Closed today", timezone=timezone.get_current_timezone_name(),
        periods=[{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in range(7)],
        closed_days=[today.isoformat()],
    )
    sim_account.calendar = calendar
    sim_account.save()
    # A few minutes ago, but today (run just after midnight, "5 minutes ago" is yesterday).
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    (conversation,) = converse(1, at=max(timezone.now() - timedelta(minutes=5), midnight + timedelta(seconds=1)))

    part = status_part(login(alice), conversation)

    assert "First answer due in 2 h of service time" in part
    tomorrow = today + timedelta(days=1)
    assert f'datetime="{tomorrow.isoformat()}T02:00:00' in part
    assert 'data-remaining="7200"' in part and "sla-running" in part
    assert 'data-open-from="' in part and 'data-text-over="First answer overdue by {span} of service time"' in part


def test_countdown_turns_at_risk_then_breached(sim_account, alice):
    (at_risk,) = converse(1, at=timezone.now() - timedelta(minutes=100))
    (late,) = converse(1, start=1, at=timezone.now() - timedelta(minutes=150))
    client = login(alice)

    risky = status_part(client, at_risk)
    assert "sla-at_risk" in risky and "At risk" in risky
    assert re.search(r"First answer due in (19|20) min of service time", risky)
    breached = status_part(client, late)
    assert "sla-breached" in breached and re.search(r"First answer overdue by (29|30) min of service time", breached)


def test_countdown_pauses_while_pending(sim_account, alice):
    (conversation,) = converse(1, at=timezone.now() - timedelta(minutes=30))
    committed(conversation_status_set, conversation=conversation, user=alice, status=Conversation.Status.PENDING)
    sla.conversations_sync([conversation.id])

    part = status_part(login(alice), conversation)

    assert "sla-paused" in part and "clock paused while waiting on the citizen" in part
    assert re.search(r"1 h (29|30) min of service time left", part)


def test_platform_window_shown_when_it_closes_first(sim_account, alice):
    SlaPolicy.objects.create(name="Two days", first_response_minutes=48 * 60)
    (conversation,) = converse(1, channel="dm", at=timezone.now() - timedelta(hours=23))
    # A Messenger conversation: its reply window closes in an hour, the SLA's in a day.
    sim_account.platform = "facebook"
    sim_account.save()

    part = status_part(login(alice), conversation)

    assert "reply window closes" in part and "24 hours after the citizen" in part


# --- holding replies first -------------------------------------------------------------------


def picker(client, conversation) -> str:
    html = client.get(reverse("inbox:conversation", args=[conversation.id])).content.decode()
    return html.split('<select id="saved-reply"')[1].split("</select>")[0]


def test_holding_replies_come_first_when_the_first_answer_is_at_risk(sim_account, alice, team_a, team_b):
    SavedReply.objects.create(title="Bus delays", body="TMB informs…", team=team_a)
    SavedReply.objects.create(title="Working on it", body="Ho estem mirant.", team=team_a, kind=SavedReply.Kind.HOLDING)
    SavedReply.objects.create(title="All teams: looking", body="Looking.", kind=SavedReply.Kind.HOLDING)
    SavedReply.objects.create(title="Waste: holding", body="…", team=team_b, kind=SavedReply.Kind.HOLDING)
    (fresh,) = converse(1, at=timezone.now() - timedelta(minutes=10))
    (risky,) = converse(1, start=1, at=timezone.now() - timedelta(minutes=100))
    client = login(alice)

    calm = picker(client, fresh)
    assert "optgroup" not in calm
    assert calm.index("All teams: looking") < calm.index("Bus delays") < calm.index("Working on it")

    urgent = picker(client, risky)
    assert urgent.index("Holding replies (the first answer is at risk)") < urgent.index("Working on it") \
        < urgent.index("All teams: looking") < urgent.index("Other saved replies") < urgent.index("Bus delays")
    assert "Waste: holding" not in urgent
    live = client.get(reverse("inbox:conversation", args=[risky.id]), {"fragment": "live"}).content.decode()
    assert 'data-part="saved-replies"' in live and "holding-hint" in live


def test_queue_rows_show_due_time_and_state(sim_account, alice):
    conversations = with_due(converse(3))
    page = login(alice).get(reverse("inbox:queue"), {"fragment": "1"}).content.decode()
    assert page.count('class="q-due"') == 3
    assert json.loads(login(alice).get(reverse("inbox:queue"), {"fragment": "1"})["X-Queue-Counts"])["team"] == 3
    assert conversations
