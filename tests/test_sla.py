"""SLA clocks: policy choice, start from the platform's timestamp, holding vs substantive,
pause/resume/reopen, closed without response, the ledger written once, query budgets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_adapters.simulator.adapter import SimulatorAdapter
from inbox.models import (
    ChannelAccount,
    Conversation,
    DeliveryAttempt,
    Message,
    RawEvent,
    SavedReply,
)
from inbox.services import conversation_status_set, message_mark_sent, messages_ingest
from routing import sla
from routing.models import (
    ServiceCalendar,
    SlaClock,
    SlaEvent,
    SlaPolicy,
    SlaResponseFact,
    VolumeHour,
)
from routing.services import conversations_route
from tests.conftest import post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")


def at(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=MADRID)


@pytest.fixture
def telegram_calendar(db):
    return ServiceCalendar.objects.create(
        name="012 Telegram", timezone="Europe/Madrid",
        periods=[{"weekday": d, "opens": "08:00", "closes": "22:00"} for d in range(5)],
        holidays_country="ES", holidays_subdivision="CT", closed_days=["2026-09-24"],
    )


@pytest.fixture
def account(sim_account, telegram_calendar):
    sim_account.calendar = telegram_calendar
    sim_account.save(update_fields=["calendar"])
    return sim_account


@pytest.fixture
def policy(db):
    return SlaPolicy.objects.create(name="Default", first_response_minutes=120, next_response_minutes=60,
                                    substantive_minutes=480)


def deliver(*events):
    post_sim(Client(), sim_body(list(events)))


def send_reply(conversation, user, *, saved_reply=None, when=None):
    """An officer's reply as outbound delivery leaves it: queued, claimed, sent."""
    when = when or timezone.now()
    message = Message.objects.create(
        conversation=conversation, account=conversation.account, direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.REPLY, visibility=Message.Visibility.PUBLIC, author_user=user, text="Hola",
        sent_at=when, delivery_status=Message.Delivery.SENDING, saved_reply=saved_reply,
    )
    attempt = DeliveryAttempt.objects.create(message=message)
    message_mark_sent(message, attempt, external_id=f"ext-{message.id}", sent_at=when)
    sla.replies_sent([message.id])
    return message


def clock(conversation, kind="first_response"):
    return SlaClock.objects.filter(conversation=conversation, kind=kind).latest("id")


def test_friday_2130_message_is_due_monday_0930(account, policy):
    deliver(sim_event(1, at=at(2026, 10, 16, 21, 30)))
    conversation = Conversation.objects.get()
    assert conversation.first_response_due_at == at(2026, 10, 19, 9, 30)
    assert conversation.sla_state == "running"
    assert conversation.sla_due_at == at(2026, 10, 19, 9, 30)
    c = clock(conversation)
    assert (c.started_at, c.policy_id, c.policy_version, c.target_seconds) == (at(2026, 10, 16, 21, 30), policy.id, 1, 7200)
    # The first check is the 75 % warning: 90 minutes of service in, Monday 9:00.
    assert c.next_check_at == at(2026, 10, 19, 9, 0)
    assert SlaEvent.objects.filter(clock=c, kind="start").count() == 1


def test_monday_holiday_moves_it_to_tuesday(account, policy):
    # Good Friday and Easter Monday 2026 in Catalonia: Thursday 21:30 is due Tuesday 9:30.
    deliver(sim_event(1, at=at(2026, 4, 2, 21, 30)))
    assert Conversation.objects.get().first_response_due_at == at(2026, 4, 7, 9, 30)


def test_late_delivery_counts_from_the_platform_timestamp(account, policy):
    # Created on the platform on Monday 10:00, arriving (backfill) much later: counted from 10:00.
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    assert Conversation.objects.get().first_response_due_at == at(2026, 10, 19, 12, 0)


def test_without_calendar_or_policy_two_hours_around_the_clock(sim_account):
    deliver(sim_event(1, at=at(2026, 10, 17, 3, 0)))  # a Saturday night
    conversation = Conversation.objects.get()
    assert conversation.first_response_due_at == at(2026, 10, 17, 5, 0)
    assert clock(conversation).policy is None


def test_most_specific_policy_wins(account, team_a, policy):
    SlaPolicy.objects.create(name="Team", team=team_a, first_response_minutes=60)
    SlaPolicy.objects.create(name="Team+account", team=team_a, account=account, first_response_minutes=30)
    SlaPolicy.objects.create(name="Urgent elsewhere", team=team_a, account=account, priority=3, first_response_minutes=5)
    SlaPolicy.objects.create(name="Other account", account=ChannelAccount.objects.create(
        platform="simulator", external_id="other", name="Other"), first_response_minutes=1)
    SlaPolicy.objects.create(name="Inactive", team=team_a, account=account, priority=1, is_active=False,
                             first_response_minutes=2)
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    c = clock(Conversation.objects.get())
    assert (c.policy.name, c.target_seconds) == ("Team+account", 1800)


def test_policy_choice_orders_by_specificity(account, team_a, team_b):
    conversation = Conversation(team=team_a, account=account, priority=2)
    default = SlaPolicy(name="d", pk=1)
    by_priority = SlaPolicy(name="p", priority=2, pk=2)
    by_team_priority = SlaPolicy(name="tp", team=team_a, priority=2, pk=3)
    other_team = SlaPolicy(name="o", team=team_b, account=account, priority=2, pk=4)
    assert sla.policy_choose(conversation, [default, by_priority, by_team_priority, other_team]) is by_team_priority
    assert sla.policy_choose(conversation, [default, by_priority]) is by_priority
    assert sla.policy_choose(conversation, [default]) is default
    assert sla.policy_choose(conversation, []) is sla.DEFAULT_POLICY


def test_a_reply_sent_meets_the_first_response_as_substantive(account, policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    send_reply(conversation, alice, when=at(2026, 10, 19, 11, 0))
    c = clock(conversation)
    assert (c.state, c.met_kind, c.met_at) == ("met", "substantive", at(2026, 10, 19, 11, 0))
    conversation.refresh_from_db()
    assert (conversation.sla_state, conversation.first_response_kind, conversation.sla_due_at) == ("met", "substantive", None)
    fact = SlaResponseFact.objects.get(conversation=conversation)
    assert (fact.kind, fact.business_seconds, fact.calendar_seconds, fact.within_target, fact.officer) == (
        "substantive", 3600, 3600, True, alice)
    assert SlaEvent.objects.filter(clock=c, kind="fulfil").count() == 1


def test_holding_reply_meets_as_holding_and_starts_the_substantive_clock(account, policy, alice):
    holding = SavedReply.objects.create(title="Looking into it", body="Ho estem mirant", kind=SavedReply.Kind.HOLDING)
    deliver(sim_event(1, at=at(2026, 10, 16, 21, 30)))
    conversation = Conversation.objects.get()
    send_reply(conversation, alice, saved_reply=holding, when=at(2026, 10, 19, 8, 30))
    first, substantive = clock(conversation), clock(conversation, "substantive")
    assert (first.state, first.met_kind) == ("met", "holding")
    assert (substantive.state, substantive.started_at, substantive.due_at) == (
        "running", at(2026, 10, 19, 8, 30), at(2026, 10, 19, 16, 30))
    conversation.refresh_from_db()
    assert (conversation.first_response_kind, conversation.sla_state) == ("holding", "running")
    assert conversation.sla_due_at == at(2026, 10, 19, 16, 30)
    fact = SlaResponseFact.objects.get(conversation=conversation)
    # 30 minutes on Friday evening and 30 on Monday morning: one business hour, 59 on the wall.
    assert (fact.kind, fact.business_seconds, fact.calendar_seconds) == ("holding", 3600, 59 * 3600)
    # A second holding reply is not the answer; the real one is.
    send_reply(conversation, alice, saved_reply=holding, when=at(2026, 10, 19, 9, 0))
    assert clock(conversation, "substantive").state == "running"
    send_reply(conversation, alice, when=at(2026, 10, 19, 12, 0))
    assert clock(conversation, "substantive").met_kind == "substantive"
    fact.refresh_from_db()
    assert (fact.kind, fact.substantive_at, fact.substantive_business_seconds) == (
        "holding", at(2026, 10, 19, 12, 0), 30 * 60 + 4 * 3600)


def test_notes_and_automatic_replies_never_count(account, policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    note = Message.objects.create(
        conversation=conversation, account=account, direction=Message.Direction.NOTE, kind=Message.Kind.NOTE,
        visibility=Message.Visibility.INTERNAL, author_user=alice, text="Check with Mobility", sent_at=timezone.now(),
    )
    sla.replies_sent([note.id])
    send_reply(conversation, None)  # no officer: an automatic reply
    assert clock(conversation).state == "running"
    assert not SlaResponseFact.objects.exists()
    # Delivered volume counts the automatic reply as a message out all the same.
    assert sum(VolumeHour.objects.values_list("messages_out", flat=True)) == 1


def test_pending_pauses_and_reopening_resumes_with_business_time(account, policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    conversation.status = Conversation.Status.PENDING
    conversation.save(update_fields=["status"])
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 11, 0))
    c = clock(conversation)
    assert (c.state, c.next_check_at) == ("paused", None)
    conversation.refresh_from_db()
    assert (conversation.sla_state, conversation.sla_due_at) == ("paused", None)
    # Back to open the next morning: 11:00 → 22:00 was 11 hours of service spent paused.
    conversation.status = Conversation.Status.OPEN
    conversation.save(update_fields=["status"])
    sla.conversations_sync([conversation.id], now=at(2026, 10, 20, 9, 0))
    c.refresh_from_db()
    assert (c.state, c.paused_seconds) == ("running", 12 * 3600)
    # One business hour had run before the pause: one is left from 9:00.
    assert c.due_at == at(2026, 10, 20, 10, 0)
    assert list(SlaEvent.objects.filter(clock=c).values_list("kind", flat=True)) == ["start", "pause", "resume"]


def test_citizen_writing_in_a_pending_conversation_resumes_the_clock(account, policy):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    Conversation.objects.filter(id=conversation.id).update(status=Conversation.Status.PENDING)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 10, 30))
    deliver(sim_event(2, thread="t1", at=at(2026, 10, 19, 11, 0)))
    c = clock(conversation)
    assert c.state == "running" and c.paused_seconds > 0
    assert SlaClock.objects.filter(conversation=conversation).count() == 1


def test_follow_up_after_an_answer_starts_a_next_response_clock(account, policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    send_reply(conversation, alice, when=at(2026, 10, 19, 10, 30))
    deliver(sim_event(2, thread="t1", at=at(2026, 10, 19, 21, 50)))
    c = clock(conversation, "next_response")
    assert (c.state, c.started_at, c.due_at) == ("running", at(2026, 10, 19, 21, 50), at(2026, 10, 20, 8, 50))
    conversation.refresh_from_db()
    assert conversation.sla_due_at == c.due_at and conversation.first_response_kind == "substantive"
    # A second follow-up before the answer does not start another.
    deliver(sim_event(3, thread="t1", at=at(2026, 10, 19, 21, 55)))
    assert SlaClock.objects.filter(conversation=conversation, kind="next_response").count() == 1
    send_reply(conversation, alice, when=at(2026, 10, 20, 8, 15))
    assert clock(conversation, "next_response").state == "met"


def test_resolving_without_an_answer_is_closed_without_response(account, policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    conversation_status_set(conversation=conversation, user=alice, status=Conversation.Status.RESOLVED)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 12, 30))
    c = clock(conversation)
    assert (c.state, c.stopped_at) == ("stopped", at(2026, 10, 19, 12, 30))
    fact = SlaResponseFact.objects.get(conversation=conversation)
    assert (fact.kind, fact.within_target, fact.responded_at) == ("closed_without_response", False, None)
    # Reopened by an officer: a next-response clock from that moment.
    conversation.refresh_from_db()
    conversation_status_set(conversation=conversation, user=alice, status=Conversation.Status.OPEN)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 13, 0))
    assert clock(conversation, "next_response").started_at == at(2026, 10, 19, 13, 0)
    # Syncing again changes nothing.
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 13, 5))
    assert SlaClock.objects.filter(conversation=conversation).count() == 2


def test_citizen_writing_after_resolution_reopens_with_a_next_response_clock(account, policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    send_reply(conversation, alice, when=at(2026, 10, 19, 10, 30))
    conversation_status_set(conversation=conversation, user=alice, status=Conversation.Status.RESOLVED)
    sla.conversations_sync([conversation.id])
    deliver(sim_event(2, thread="t1", at=at(2026, 10, 19, 15, 0)))
    c = clock(conversation, "next_response")
    assert (c.started_at, c.state) == (at(2026, 10, 19, 15, 0), "running")


def test_ledger_refuses_updates_and_deletes(account, policy):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    event = SlaEvent.objects.get()
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    if connection.vendor == "postgresql":
        for statement in (lambda: SlaEvent.objects.update(level=3), lambda: SlaEvent.objects.all()._raw_delete("default")):
            with pytest.raises(Exception, match="append-only"), transaction.atomic():
                statement()
    # The same step twice is one row.
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaEvent.objects.create(clock=event.clock, conversation=event.conversation, kind="start", at=event.at)


def test_starting_twice_is_one_clock(account, policy):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    sla.first_response_start([conversation.id])
    sla.first_response_start([conversation.id])
    assert SlaClock.objects.count() == 1 and SlaEvent.objects.count() == 1


def test_volume_per_hour_counts_messages_in_once(account, policy):
    body = sim_body([sim_event(n, thread="t1", at=at(2026, 10, 19, 10, n)) for n in range(1, 4)])
    post_sim(Client(), body)
    post_sim(Client(), body)  # redelivered
    row = VolumeHour.objects.get()
    assert (row.hour, row.messages_in, row.team_key) == (at(2026, 10, 19, 10).astimezone(UTC), 3, account.default_team_id)


def test_platform_window_comes_first_when_it_is_earlier(account):
    conversation = Conversation(
        account=ChannelAccount(platform="instagram"), kind=Conversation.Kind.PRIVATE,
        last_inbound_at=at(2026, 10, 16, 21, 30), sla_due_at=at(2026, 10, 19, 9, 30),
    )
    assert sla.deadline(conversation) == (at(2026, 10, 17, 21, 30), "platform_window")
    assert sla.reply_window(conversation)["human_agent"] == at(2026, 10, 23, 21, 30)
    conversation.sla_due_at = at(2026, 10, 17, 9, 0)
    assert sla.deadline(conversation) == (at(2026, 10, 17, 9, 0), "sla")
    conversation.account = ChannelAccount(platform="x")
    assert sla.reply_window(conversation) is None


def _batch(n: int, start: int) -> list[dict]:
    # Half new conversations, half follow-ups in conversations answered before.
    return [sim_event(start + i, thread=f"t{start + i}", at=at(2026, 10, 19, 10, 0) + timedelta(seconds=i))
            for i in range(n)]


@pytest.mark.parametrize("n", [1, 20])
def test_ingest_hook_queries_do_not_grow_with_the_batch(account, policy, alice, n):
    def count(events):
        args = _ingest(events)
        with CaptureQueriesContext(connection) as ctx:
            sla.after_ingest(*args)
        return len(ctx.captured_queries)

    def _ingest(events):

        raw = RawEvent.objects.create(platform="simulator", source="webhook", body=sim_body(events))
        parsed = SimulatorAdapter().parse(raw)
        result = messages_ingest([(m, raw.id) for m in parsed.messages])
        conversations_route(result.new_conversation_ids)
        return result.new_conversation_ids, result.new_message_ids

    small = count(_batch(1, 1000))
    large = count(_batch(n, 2000))
    assert small == large


def test_status_and_reply_hooks_queries_are_constant(account, policy, alice):
    deliver(*_batch(1, 100))
    deliver(*_batch(15, 200))
    ids = list(Conversation.objects.order_by("id").values_list("id", flat=True))
    one, many = ids[:1], ids[1:]
    assert len(many) == 15
    Conversation.objects.update(status=Conversation.Status.PENDING)
    counts = []
    for ids in (one, many):
        with CaptureQueriesContext(connection) as ctx:
            sla.conversations_sync(ids)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_demo_seeds_the_012_calendars_and_policy(sim_account):
    from routing.demo import sla_demo_seed

    SavedReply.objects.create(title="Working on it", body="…")
    calendars = sla_demo_seed()
    sla_demo_seed()  # twice: nothing more
    assert ServiceCalendar.objects.count() == 2 and SlaPolicy.objects.count() == 1
    assert ChannelAccount.objects.get().calendar == calendars["telegram"]
    assert SavedReply.objects.get().kind == SavedReply.Kind.HOLDING
    deliver(sim_event(1, at=at(2026, 10, 16, 21, 30)))
    assert Conversation.objects.get().first_response_due_at == at(2026, 10, 19, 9, 30)
    x = sla.calendar_for(calendars["x"])
    assert x.add_business(at(2026, 10, 16, 16, 30), 7200) == at(2026, 10, 19, 9, 30)
    assert x.is_closed_day(date(timezone.now().year, 9, 24))  # La Mercè


# --- resolution clocks -----------------------------------------------------------------------


@pytest.fixture
def resolution_policy(db):
    return SlaPolicy.objects.create(name="With resolution", first_response_minutes=120,
                                    resolution_minutes=8 * 60, warn_at=[75], escalations=[])


def test_resolution_clock_runs_from_the_first_message_and_resolving_meets_it(account, resolution_policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))  # Monday 10:00; service 8–22
    conversation = Conversation.objects.get()
    c = clock(conversation, "resolution")
    assert (c.state, c.started_at, c.due_at) == ("running", at(2026, 10, 19, 10, 0), at(2026, 10, 19, 18, 0))
    send_reply(conversation, alice, when=at(2026, 10, 19, 10, 30))
    conversation.refresh_from_db()
    # The first response is met; the resolution is the target that still runs.
    assert (conversation.sla_state, conversation.sla_due_at) == ("running", at(2026, 10, 19, 18, 0))
    assert clock(conversation, "resolution").state == "running"  # a reply does not resolve
    conversation_status_set(conversation=conversation, user=alice, status=Conversation.Status.RESOLVED)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 14, 0))
    c.refresh_from_db()
    assert (c.state, c.met_at, c.stopped_at) == ("met", at(2026, 10, 19, 14, 0), at(2026, 10, 19, 14, 0))
    fulfil = SlaEvent.objects.get(clock=c, kind="fulfil")
    assert fulfil.data == {"kind": "resolution", "business_seconds": 4 * 3600, "within_target": True}
    conversation.refresh_from_db()
    assert (conversation.sla_state, conversation.sla_due_at) == ("met", None)


def test_reopening_restarts_the_resolution_clock_and_pending_pauses_it(account, resolution_policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    send_reply(conversation, alice, when=at(2026, 10, 19, 10, 30))
    conversation_status_set(conversation=conversation, user=alice, status=Conversation.Status.RESOLVED)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 11, 0))
    # The citizen writes again on Friday at 21:00: the resolution target runs again from then.
    deliver(sim_event(2, thread="t1", at=at(2026, 10, 23, 21, 0)))
    clocks = list(SlaClock.objects.filter(conversation=conversation, kind="resolution").order_by("id"))
    assert [c.state for c in clocks] == ["met", "running"]
    again = clocks[1]
    # One hour on Friday night, seven on Monday from 8:00.
    assert (again.started_at, again.due_at) == (at(2026, 10, 23, 21, 0), at(2026, 10, 26, 15, 0))
    assert SlaEvent.objects.get(clock=again, kind="start").data["after"] == "reopen"
    # Waiting on the citizen pauses it like any other clock; syncing twice changes nothing.
    Conversation.objects.filter(id=conversation.id).update(status=Conversation.Status.PENDING)
    for _ in range(2):
        sla.conversations_sync([conversation.id], now=at(2026, 10, 26, 9, 0))
    again.refresh_from_db()
    assert again.state == "paused"
    assert SlaClock.objects.filter(conversation=conversation, kind="resolution").count() == 2


def test_spam_stops_the_resolution_clock_without_meeting_it(account, resolution_policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    Conversation.objects.filter(id=conversation.id).update(status=Conversation.Status.SPAM)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 11, 0))
    c = clock(conversation, "resolution")
    assert (c.state, c.met_at) == ("stopped", None)
    assert SlaEvent.objects.filter(clock=c, kind="stop").count() == 1


def test_a_policy_without_a_resolution_target_starts_no_resolution_clock(account, policy, alice):
    deliver(sim_event(1, at=at(2026, 10, 19, 10, 0)))
    conversation = Conversation.objects.get()
    conversation_status_set(conversation=conversation, user=alice, status=Conversation.Status.RESOLVED)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 11, 0))
    conversation_status_set(conversation=Conversation.objects.get(), user=alice, status=Conversation.Status.OPEN)
    sla.conversations_sync([conversation.id], now=at(2026, 10, 19, 12, 0))
    assert not SlaClock.objects.filter(conversation=conversation, kind="resolution").exists()
