"""Recompute the SLA rollups from the ledger: ``manage.py sla_rebuild_rollups``.

The facts (``SlaResponseFact``: one per conversation whose first response was met, or that
closed without one) come from each first-response clock's fulfilment or stop in the ledger
(``SlaEvent``) and the fulfilment of the real answer after a holding reply; the window
rollups (``SlaRollup``) from the facts. Both are replaced for the days asked, in one
transaction, so running it twice gives the same rows.

What the ledger does not hold is read as it is now: the conversation's team and account
(and, for one closed without response, its assignee) and the author of the reply.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone

from inbox.models import Conversation, Message
from routing.models import SlaClock, SlaEvent, SlaResponseFact
from routing.sla import calendars_for_clocks
from routing.sla_rollups import WINDOWS, windows_rebuild

FACT_FIELDS = [
    "team", "account", "officer", "day", "started_at", "responded_at", "kind", "business_seconds",
    "calendar_seconds", "target_seconds", "within_target", "substantive_at", "substantive_business_seconds",
    "updated_at",
]


def first_day() -> date | None:
    """The day of the first first-response clock (what "everything" starts from)."""
    started = SlaClock.objects.filter(kind=SlaClock.Kind.FIRST_RESPONSE).order_by("started_at").values_list(
        "started_at", flat=True).first()
    return timezone.localdate(started) - timedelta(days=1) if started else None


def rollups_rebuild(since: date, until: date, *, chunk: int = 5000) -> dict[str, int]:
    """Facts of the days ``since``–``until`` from the ledger, then every window that contains
    one of those days (they end up to 29 days later)."""
    with transaction.atomic():
        facts = facts_rebuild(since, until, chunk=chunk)
        rows = 0
        # The windows are read on PostgreSQL only (the SQLite demo reads the facts).
        if connection.vendor == "postgresql":
            rows = windows_rebuild(since, until + timedelta(days=max(WINDOWS) - 1))
    return {"facts": facts, "rollup_rows": rows}


def facts_rebuild(since: date, until: date, *, chunk: int = 5000) -> int:
    """Replace the facts of the days ``since``–``until``; returns how many were written."""
    # Days are in each calendar's zone: read a day more on each side, keep what falls inside.
    clocks = (
        SlaClock.objects.filter(kind=SlaClock.Kind.FIRST_RESPONSE,
                                started_at__date__gte=since - timedelta(days=1),
                                started_at__date__lte=until + timedelta(days=1))
        .only("id", "conversation_id", "calendar_id", "started_at", "target_seconds").order_by("id")
    )
    written = 0
    with transaction.atomic():
        SlaResponseFact.objects.filter(day__gte=since, day__lte=until).delete()
        batch: list[SlaClock] = []
        for clock in clocks.iterator(chunk_size=chunk):
            batch.append(clock)
            if len(batch) >= chunk:
                written += _facts_from_ledger(batch, since, until)
                batch = []
        if batch:
            written += _facts_from_ledger(batch, since, until)
    return written


def _facts_from_ledger(clocks: list[SlaClock], since: date, until: date) -> int:
    now = timezone.now()
    cals = calendars_for_clocks(clocks)
    conversation_ids = [c.conversation_id for c in clocks]
    ends: dict[int, tuple] = {}
    for clock_id, kind, at, data in (
        SlaEvent.objects.filter(clock_id__in=[c.id for c in clocks], kind__in=[SlaEvent.Kind.FULFIL, SlaEvent.Kind.STOP])
        .order_by("id").values_list("clock_id", "kind", "at", "data")
    ):
        if kind == SlaEvent.Kind.FULFIL or clock_id not in ends:  # a fulfilment, not the stop that follows it
            ends[clock_id] = (kind, at, data)
    real_answers = dict(
        SlaEvent.objects.filter(conversation_id__in=conversation_ids, kind=SlaEvent.Kind.FULFIL,
                                clock__kind=SlaClock.Kind.SUBSTANTIVE).values_list("conversation_id", "at")
    )
    conversations = {
        row[0]: row[1:] for row in Conversation.objects.filter(id__in=conversation_ids)
        .values_list("id", "team_id", "account_id", "assignee_id")
    }
    authors = dict(Message.objects.filter(
        id__in=[end[2].get("message") for end in ends.values() if end[0] == SlaEvent.Kind.FULFIL]
    ).values_list("id", "author_user_id"))
    facts = []
    for clock in clocks:
        end, conversation = ends.get(clock.id), conversations.get(clock.conversation_id)
        if end is None or conversation is None:
            continue
        cal = cals.get(clock.calendar_id) or cals[None]
        day = clock.started_at.astimezone(cal.tz).date()
        if not since <= day <= until:
            continue
        kind, at, data = end
        team_id, account_id, assignee_id = conversation
        fact = SlaResponseFact(conversation_id=clock.conversation_id, team_id=team_id, account_id=account_id,
                               day=day, started_at=clock.started_at, target_seconds=clock.target_seconds,
                               updated_at=now)
        if kind == SlaEvent.Kind.FULFIL:
            business = int(data.get("business_seconds") or 0)
            fact.kind = data.get("kind") or SlaResponseFact.Kind.SUBSTANTIVE
            fact.officer_id = authors.get(data.get("message"))
            fact.responded_at, fact.business_seconds = at, business
            fact.calendar_seconds = max(0, round((at - clock.started_at).total_seconds()))
            fact.within_target = business <= clock.target_seconds
            if fact.kind == SlaResponseFact.Kind.HOLDING and clock.conversation_id in real_answers:
                fact.substantive_at = real_answers[clock.conversation_id]
                fact.substantive_business_seconds = max(0, cal.business_seconds(clock.started_at, fact.substantive_at))
        else:
            fact.kind = SlaResponseFact.Kind.CLOSED_WITHOUT_RESPONSE
            fact.officer_id, fact.within_target = assignee_id, False
        facts.append(fact)
    if facts:
        SlaResponseFact.objects.bulk_create(facts, update_conflicts=True, unique_fields=["conversation"],
                                            update_fields=FACT_FIELDS)
    return len(facts)
