"""SLA clocks: choose a policy, start, pause, resume, fulfil and stop, set-based.

Every function takes ids (the ingest path hands over batches) and costs a fixed number of
queries whatever the batch size. The ledger (``SlaEvent``) gets each start, pause, resume,
fulfilment and stop once; the conversation's denormalised columns and the rollups
(``SlaResponseFact``, the dashboard's windows ``SlaRollup`` — routing/sla_rollups.py —,
``VolumeHour``, ``OfficerHour``) are written in the same transaction. See docs/sla.md.

Callers (pipeline, outbound delivery, views, API) call these explicitly after the core
write they follow — never through signals:

- ``after_ingest(new_conversation_ids, new_message_ids)`` once routing has run;
- ``replies_sent(message_ids)`` after ``message_mark_sent``;
- ``conversations_sync(conversation_ids)`` after a status change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from inbox.db import insert_ignoring_conflicts, update_rows
from inbox.models import Conversation, Message, SavedReply
from routing.calendars import Calendar, CalendarError, calendar_for
from routing.models import SlaClock, SlaEvent, SlaPolicy, SlaResponseFact
from routing.sla_rollups import after_holding_row, fact_rows, rollups_add

Kind, State, MetKind = SlaClock.Kind, SlaClock.State, SlaClock.MetKind
RESPONSE_KINDS = (Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE, Kind.SUBSTANTIVE)
OPEN = [State.RUNNING, State.PAUSED, State.BREACHED]
CLOSED_STATUSES = (Conversation.Status.RESOLVED, Conversation.Status.SPAM)

# Without any policy the mission's promise still holds: two business hours for a first answer.
DEFAULT_POLICY = SlaPolicy(name="built-in", first_response_minutes=120, warn_at=[75, 90], escalations=[])

# Messenger and Instagram take an answer to a private message within 24 hours of the
# citizen's last message, or 7 days with the human-agent tag.
WINDOW_PLATFORMS = ("meta", "facebook", "instagram")
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


# --- policies and plans ----------------------------------------------------------------------


def active_policies() -> list[SlaPolicy]:
    return list(SlaPolicy.objects.filter(is_active=True).order_by("id"))


def policy_choose(conversation: Conversation, policies: Sequence[SlaPolicy]) -> SlaPolicy:
    """Most specific first: team + account + priority, then any two, then one, then none.

    A routing rule's ``apply_sla_policy`` action (``routing.models.SlaPolicyOverride``,
    loaded with the conversation by ``_conversations``) takes precedence when its policy is
    still active."""
    override = _override(conversation)
    if override is not None and override.policy.is_active:
        return override.policy
    best = None
    for policy in policies:
        if policy.team_id not in (None, conversation.team_id):
            continue
        if policy.account_id not in (None, conversation.account_id):
            continue
        if policy.priority is not None and policy.priority != conversation.priority:
            continue
        if best is None or policy.specificity > best.specificity:
            best = policy
    return best or DEFAULT_POLICY


def _override(conversation: Conversation):
    # Only read when loaded (select_related): an unloaded conversation never costs a query here.
    if "sla_policy_override" not in conversation._state.fields_cache:
        return None
    return conversation._state.fields_cache["sla_policy_override"]


def target_seconds(policy: SlaPolicy, kind: str) -> int | None:
    minutes = {
        Kind.FIRST_RESPONSE: policy.first_response_minutes,
        Kind.NEXT_RESPONSE: policy.next_response_minutes,
        # The real answer after a holding reply: its own target, else the first response's.
        Kind.SUBSTANTIVE: policy.substantive_minutes or policy.first_response_minutes,
        Kind.RESOLUTION: policy.resolution_minutes,
    }[kind]
    return minutes * 60 if minutes else None


_ORDER = {"warning": 0, "breach": 1, "escalation": 2}


def plan_for(policy: SlaPolicy) -> dict:
    """What the scan does for a clock, in order: ``[percent, kind, level, action, team]``."""
    checks = [[int(p), "warning", int(p), "", ""] for p in policy.warn_at or [] if 0 < int(p) < 100]
    checks.append([100, "breach", 0, "", ""])
    for index, step in enumerate(policy.escalations or []):
        checks.append([int(step.get("at", 100)), "escalation", index, step.get("action", ""), step.get("team", "")])
    checks.sort(key=lambda c: (c[0], _ORDER[c[1]], c[2]))
    return {"checks": checks, "notify_outside_hours": bool(policy.notify_outside_hours)}


def check_at(clock: SlaClock, cal: Calendar, index: int) -> datetime | None:
    """When check ``index`` of the plan falls due (business time, pauses excluded)."""
    checks = clock.plan.get("checks", [])
    if index >= len(checks):
        return None
    seconds = clock.target_seconds * checks[index][0] / 100 + clock.paused_seconds
    try:
        return cal.add_business(clock.started_at, seconds)
    except CalendarError:
        return None


class _Calendars:
    """``Calendar`` values by ServiceCalendar id, read at most once per call."""

    def __init__(self, accounts: Iterable) -> None:
        self.by_id = {a.calendar_id: calendar_for(a.calendar) for a in accounts if a.calendar_id}

    def get(self, calendar_id: int | None) -> Calendar:
        return self.by_id.get(calendar_id) or calendar_for(None)


def calendars_for_clocks(clocks: Sequence[SlaClock]) -> dict[int | None, Calendar]:
    from routing.models import ServiceCalendar

    ids = {c.calendar_id for c in clocks if c.calendar_id}
    cals: dict[int | None, Calendar] = {None: calendar_for(None)}
    for row in ServiceCalendar.objects.filter(id__in=ids):
        cals[row.id] = calendar_for(row)
    return cals


# --- starting clocks -------------------------------------------------------------------------


def _new_clock(conversation: Conversation, kind: str, started_at: datetime, policy: SlaPolicy,
               cal: Calendar, now: datetime) -> SlaClock | None:
    target = target_seconds(policy, kind)
    if not target:
        return None
    try:
        due = cal.add_business(started_at, target)
    except CalendarError:
        return None  # a calendar that never opens has no due time
    clock = SlaClock(
        conversation_id=conversation.id, kind=kind, policy_id=policy.pk, policy_version=policy.version,
        calendar_id=conversation.account.calendar_id, target_seconds=target, plan=plan_for(policy),
        started_at=started_at, due_at=due, state=State.RUNNING, created_at=now,
    )
    clock.next_check_at = check_at(clock, cal, 0)
    return clock


def _clocks_insert(clocks: Sequence[SlaClock], now: datetime, data: dict | None = None) -> list[SlaClock]:
    """Insert clocks (a duplicate is dropped by the constraints) and their start events."""
    by_key = {(c.conversation_id, c.kind): c for c in clocks}
    inserted = []
    for pk, conversation_id, kind in insert_ignoring_conflicts(
        SlaClock, list(by_key.values()), returning=["id", "conversation", "kind"]
    ):
        clock = by_key[(conversation_id, kind)]
        clock.pk = pk
        inserted.append(clock)
    _events_insert([
        SlaEvent(clock_id=c.pk, conversation_id=c.conversation_id, kind=SlaEvent.Kind.START, at=c.started_at,
                 data={"kind": c.kind, "due_at": c.due_at.isoformat(), "policy": c.policy_id,
                       "policy_version": c.policy_version, "target_seconds": c.target_seconds, **(data or {})},
                 created_at=now)
        for c in inserted
    ])
    return inserted


def _events_insert(events: Sequence[SlaEvent]) -> set[tuple[int, str, int]]:
    """Append to the ledger; returns the (clock, kind, level) that went in (the others were
    there already: somebody else did that step, and acts on it)."""
    return {
        (clock_id, kind, level)
        for clock_id, kind, level in insert_ignoring_conflicts(SlaEvent, events, returning=["clock", "kind", "level"])
    }


def _conversations(ids: Iterable[int], **filters) -> list[Conversation]:
    return list(
        Conversation.objects.filter(id__in=list(ids), **filters)
        .select_related("account__calendar", "sla_policy_override__policy").order_by("id")
    )


def first_response_start(conversation_ids: Sequence[int], *, now: datetime | None = None) -> list[SlaClock]:
    """Start the first-response clock of new conversations, from the citizen's first message
    as the platform dated it. Safe to call twice."""
    now = now or timezone.now()
    conversations = _conversations(conversation_ids, first_inbound_at__isnull=False)
    conversations = [c for c in conversations if c.status not in CLOSED_STATUSES]
    if not conversations:
        return []
    policies = active_policies()
    cals = _Calendars(c.account for c in conversations)
    clocks = []
    for c in conversations:
        policy, cal = policy_choose(c, policies), cals.get(c.account.calendar_id)
        # The resolution target (when the policy sets one) runs from the same first message.
        clocks += [_new_clock(c, Kind.FIRST_RESPONSE, c.first_inbound_at, policy, cal, now),
                   _new_clock(c, Kind.RESOLUTION, c.first_inbound_at, policy, cal, now)]
    started = _clocks_insert([c for c in clocks if c is not None], now)
    _conversations_refresh({c.conversation_id for c in started}, now=now)
    return [c for c in started if c.kind == Kind.FIRST_RESPONSE]


def resolution_start(started_at: dict[int, datetime], *, now: datetime | None = None) -> list[SlaClock]:
    """Start a resolution clock for reopened conversations (id → when they came back) whose
    policy sets a resolution target and that have none open. Safe to call twice."""
    now = now or timezone.now()
    if not started_at:
        return []
    open_ids = set(
        SlaClock.objects.filter(conversation_id__in=list(started_at), kind=Kind.RESOLUTION, state__in=OPEN)
        .values_list("conversation_id", flat=True)
    )
    conversations = [c for c in _conversations(set(started_at) - open_ids) if c.status not in CLOSED_STATUSES]
    if not conversations:
        return []
    policies = active_policies()
    cals = _Calendars(c.account for c in conversations)
    clocks = [
        _new_clock(c, Kind.RESOLUTION, started_at[c.id], policy_choose(c, policies),
                   cals.get(c.account.calendar_id), now)
        for c in conversations
    ]
    started = _clocks_insert([c for c in clocks if c is not None], now, data={"after": "reopen"})
    _conversations_refresh({c.conversation_id for c in started}, now=now)
    return started


def next_response_start(started_at: dict[int, datetime], *, now: datetime | None = None) -> list[SlaClock]:
    """Start a next-response clock for conversations (id → when the citizen wrote again, or
    when it reopened) that have no response clock open."""
    now = now or timezone.now()
    if not started_at:
        return []
    open_ids = set(
        SlaClock.objects.filter(conversation_id__in=list(started_at), kind__in=RESPONSE_KINDS, state__in=OPEN)
        .values_list("conversation_id", flat=True)
    )
    conversations = [
        c for c in _conversations(set(started_at) - open_ids)
        if c.status not in CLOSED_STATUSES
    ]
    if not conversations:
        return []
    policies = active_policies()
    cals = _Calendars(c.account for c in conversations)
    clocks = [
        _new_clock(c, Kind.NEXT_RESPONSE, started_at[c.id], policy_choose(c, policies),
                   cals.get(c.account.calendar_id), now)
        for c in conversations
    ]
    started = _clocks_insert([c for c in clocks if c is not None], now)
    _conversations_refresh({c.conversation_id for c in started}, now=now)
    return started


# --- the hooks -------------------------------------------------------------------------------


def after_ingest(new_conversation_ids: Sequence[int], new_message_ids: Sequence[int], *,
                 now: datetime | None = None) -> None:
    """After ``messages_ingest`` and routing: first-response clocks for new conversations,
    resumed or next-response clocks for the ones the citizen wrote in again, and the
    inbound volume. A fixed number of queries per batch."""
    now = now or timezone.now()
    if not new_message_ids and not new_conversation_ids:
        return
    with transaction.atomic():
        first_response_start(new_conversation_ids, now=now)
        new = set(new_conversation_ids)
        follow_ups: dict[int, datetime] = {}
        volume: list[tuple] = []
        rows = (
            Message.objects.filter(id__in=list(new_message_ids), direction=Message.Direction.INBOUND)
            .values("conversation_id", "conversation__team_id", "account_id", hour=TruncHour("sent_at"))
            .annotate(n=Count("id"), first=Min("sent_at"))
        )
        for row in rows:
            volume.append((row["hour"], row["conversation__team_id"], row["account_id"], row["n"], 0))
            if row["conversation_id"] not in new:
                previous = follow_ups.get(row["conversation_id"])
                follow_ups[row["conversation_id"]] = min(previous, row["first"]) if previous else row["first"]
        if follow_ups:
            conversations_sync(follow_ups, now=now, follow_up_at=follow_ups)
        volume_add(volume)


def conversations_sync(conversation_ids: Iterable[int], *, now: datetime | None = None,
                       follow_up_at: dict[int, datetime] | None = None) -> None:
    """Bring the clocks in line with the conversations' status (after a status change, or
    after the citizen wrote again): pending pauses, active resumes, resolved or spam stops
    (a first response never given is recorded as closed without response), and a
    conversation that comes back after being resolved, or a citizen's follow-up after an
    answer, starts a next-response clock."""
    now = now or timezone.now()
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    follow_up_at = follow_up_at or {}
    with transaction.atomic():
        statuses = dict(Conversation.objects.filter(id__in=ids).values_list("id", "status"))
        clocks = list(
            SlaClock.objects.select_for_update().filter(conversation_id__in=ids).order_by("conversation_id", "id")
        )
        cals = calendars_for_clocks(clocks)
        by_conversation: dict[int, list[SlaClock]] = {}
        for clock in clocks:
            by_conversation.setdefault(clock.conversation_id, []).append(clock)
        changed: list[SlaClock] = []
        events: list[SlaEvent] = []
        closed_unanswered: list[SlaClock] = []
        restart: dict[int, datetime] = {}
        reopened: dict[int, datetime] = {}
        for conversation_id in ids:
            status = statuses.get(conversation_id)
            if status is None:
                continue
            own = by_conversation.get(conversation_id, [])
            open_clocks = [c for c in own if c.state in OPEN]
            for clock in open_clocks:
                cal = cals.get(clock.calendar_id) or cals[None]
                if status in CLOSED_STATUSES:
                    if clock.state == State.PAUSED:
                        clock.paused_seconds += cal.business_seconds(clock.paused_at, now)
                    clock.stopped_at, clock.next_check_at, clock.paused_at = now, None, None
                    if clock.kind == Kind.RESOLUTION and status == Conversation.Status.RESOLVED:
                        # Resolving is what the resolution target asks for (marking spam is not).
                        clock.state, clock.met_at = State.MET, now
                        elapsed = _elapsed(clock, cal, now)
                        events.append(_event(clock, SlaEvent.Kind.FULFIL, now, {
                            "kind": "resolution", "business_seconds": elapsed,
                            "within_target": clock.breached_at is None and elapsed <= clock.target_seconds,
                        }))
                    else:
                        clock.state = State.STOPPED
                        events.append(_event(clock, SlaEvent.Kind.STOP, now, {"status": status}))
                    if clock.kind == Kind.FIRST_RESPONSE:
                        closed_unanswered.append(clock)
                elif status == Conversation.Status.PENDING and clock.state != State.PAUSED:
                    clock.state, clock.paused_at, clock.next_check_at = State.PAUSED, now, None
                    events.append(_event(clock, SlaEvent.Kind.PAUSE, now))
                elif status != Conversation.Status.PENDING and clock.state == State.PAUSED:
                    paused = cal.business_seconds(clock.paused_at, now)
                    clock.paused_seconds += paused
                    clock.paused_at = None
                    clock.state = State.BREACHED if clock.breached_at else State.RUNNING
                    if not clock.breached_at:
                        clock.due_at = cal.add_business(clock.started_at, clock.target_seconds + clock.paused_seconds)
                    clock.next_check_at = check_at(clock, cal, clock.checks_done)
                    events.append(_event(clock, SlaEvent.Kind.RESUME, now, {"paused_seconds": paused}))
                else:
                    continue
                changed.append(clock)
            if status in CLOSED_STATUSES:
                # Met clocks are marked too: coming back later is a reopening.
                for clock in own:
                    if clock.state == State.MET and clock.stopped_at is None:
                        clock.stopped_at = now
                        changed.append(clock)
                continue
            if own and not open_clocks and max(own, key=lambda c: c.id).stopped_at is not None:
                # Reopened after being resolved: the resolution target runs again (per policy).
                reopened[conversation_id] = follow_up_at.get(conversation_id, now)
            responses = [c for c in own if c.kind in RESPONSE_KINDS]
            still_open = [c for c in responses if c.state in OPEN]
            if still_open:
                continue
            if responses and max(responses, key=lambda c: c.id).stopped_at is not None:
                # Reopened after being resolved: the citizen (or an officer) wants an answer.
                restart[conversation_id] = follow_up_at.get(conversation_id, now)
            elif conversation_id in follow_up_at and any(c.state == State.MET for c in responses):
                restart[conversation_id] = follow_up_at[conversation_id]
        update_rows(SlaClock, changed,
                    ["state", "paused_at", "paused_seconds", "due_at", "next_check_at", "stopped_at", "met_at"])
        _events_insert(events)
        if closed_unanswered:
            _facts_closed_without_response(closed_unanswered, now)
        _conversations_refresh({c.conversation_id for c in changed}, now=now)
        if restart:
            next_response_start(restart, now=now)
        if reopened:
            resolution_start(reopened, now=now)


def _event(clock: SlaClock, kind: str, at: datetime, data: dict | None = None, *, level: int = 0) -> SlaEvent:
    return SlaEvent(clock_id=clock.pk, conversation_id=clock.conversation_id, kind=kind, level=level,
                    at=at, data=data or {}, created_at=timezone.now())


def replies_sent(message_ids: Sequence[int], *, now: datetime | None = None) -> None:
    """A reply was delivered: it fulfils the open response clocks of its conversation.

    Only a human's reply through the citizen's channel counts (never a note, never an
    automatic reply). A reply from a *holding* saved reply meets the first response as
    holding and starts the substantive-answer clock; any other reply meets it (and a running
    substantive clock) as substantive.
    """
    now = now or timezone.now()
    messages = list(
        Message.objects.filter(
            id__in=list(message_ids), direction=Message.Direction.OUTBOUND,
            delivery_status=Message.Delivery.SENT,
        ).select_related("saved_reply", "conversation__account__calendar").order_by("delivered_at", "id")
    )
    if not messages:
        return
    with transaction.atomic():
        volume_add([
            (_hour(m.delivered_at or m.sent_at), m.conversation.team_id, m.account_id, 0, 1) for m in messages
        ])
        # An automatic reply is marked as such (Message.automatic): never a response.
        human = [m for m in messages if not m.automatic and m.author_user_id is not None]
        officer_hours_add([
            (_hour(m.delivered_at or m.sent_at), m.author_user_id, m.conversation.team_id, m.account_id) for m in human
        ])
        if not human:
            return
        first_by_conversation: dict[int, Message] = {}
        for m in human:
            first_by_conversation.setdefault(m.conversation_id, m)
        clocks = list(
            SlaClock.objects.select_for_update().filter(
                conversation_id__in=list(first_by_conversation), kind__in=RESPONSE_KINDS, state__in=OPEN
            ).order_by("id")
        )
        cals = calendars_for_clocks(clocks)
        met: list[SlaClock] = []
        substantive_starts: list[tuple[Conversation, datetime]] = []
        for clock in clocks:
            message = first_by_conversation[clock.conversation_id]
            holding = message.saved_reply is not None and message.saved_reply.kind == SavedReply.Kind.HOLDING
            if clock.kind == Kind.SUBSTANTIVE and holding:
                continue  # a second "we are looking into it" is not the answer
            cal = cals.get(clock.calendar_id) or cals[None]
            at = message.delivered_at or now
            if clock.state == State.PAUSED:
                clock.paused_seconds += cal.business_seconds(clock.paused_at, at)
                clock.paused_at = None
            clock.state, clock.met_at, clock.next_check_at = State.MET, at, None
            clock.met_kind = MetKind.HOLDING if holding else MetKind.SUBSTANTIVE
            clock.fulfilled_by = message.id
            met.append(clock)
            if clock.kind == Kind.FIRST_RESPONSE and holding:
                substantive_starts.append((message.conversation, at))
        update_rows(SlaClock, met, ["state", "met_at", "met_kind", "next_check_at", "paused_at", "paused_seconds"])
        cals_by_id = cals
        _events_insert([
            _event(c, SlaEvent.Kind.FULFIL, c.met_at, {
                "kind": c.met_kind, "message": c.fulfilled_by,
                "business_seconds": _elapsed(c, cals_by_id.get(c.calendar_id) or cals_by_id[None], c.met_at),
                "within_target": c.breached_at is None and c.met_at <= c.due_at,
            })
            for c in met
        ])
        _facts_met(met, first_by_conversation, cals_by_id, now)
        if substantive_starts:
            policies = active_policies()
            conversation_cals = _Calendars(c.account for c, _ in substantive_starts)
            _clocks_insert([
                clock for clock in (
                    _new_clock(c, Kind.SUBSTANTIVE, at, policy_choose(c, policies),
                               conversation_cals.get(c.account.calendar_id), now)
                    for c, at in substantive_starts
                ) if clock is not None
            ], now, data={"after": "holding"})
        _conversations_refresh({c.conversation_id for c in met}, now=now)


def _elapsed(clock: SlaClock, cal: Calendar, at: datetime) -> int:
    return max(0, cal.business_seconds(clock.started_at, at) - clock.paused_seconds)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


# --- rollups ---------------------------------------------------------------------------------


def _fact_day(clock: SlaClock, cal: Calendar):
    return clock.started_at.astimezone(cal.tz).date()


def _facts_met(met: Sequence[SlaClock], messages: dict[int, Message], cals, now: datetime) -> None:
    first = [c for c in met if c.kind == Kind.FIRST_RESPONSE]
    substantive = [c for c in met if c.kind == Kind.SUBSTANTIVE]
    facts = []
    for clock in first:
        cal = cals.get(clock.calendar_id) or cals[None]
        message = messages[clock.conversation_id]
        elapsed = _elapsed(clock, cal, clock.met_at)
        facts.append(SlaResponseFact(
            conversation_id=clock.conversation_id, team_id=message.conversation.team_id,
            account_id=message.account_id, officer_id=message.author_user_id, day=_fact_day(clock, cal),
            started_at=clock.started_at, responded_at=clock.met_at, kind=clock.met_kind,
            business_seconds=elapsed, calendar_seconds=max(0, round((clock.met_at - clock.started_at).total_seconds())),
            target_seconds=clock.target_seconds, within_target=elapsed <= clock.target_seconds, updated_at=now,
        ))
    _facts_upsert(facts)
    rollups_add(row for fact in facts for row in fact_rows(fact))
    if substantive:
        rows = {f.conversation_id: f for f in SlaResponseFact.objects.filter(
            conversation_id__in=[c.conversation_id for c in substantive])}
        updated = []
        for clock in substantive:
            fact = rows.get(clock.conversation_id)
            if fact is None:
                continue
            cal = cals.get(clock.calendar_id) or cals[None]
            # From the citizen's first message to the real answer, in business time.
            fact.substantive_at = clock.met_at
            fact.substantive_business_seconds = max(0, cal.business_seconds(fact.started_at, clock.met_at))
            fact.updated_at = now
            updated.append(fact)
        update_rows(SlaResponseFact, updated, ["substantive_at", "substantive_business_seconds", "updated_at"])
        rollups_add(after_holding_row(fact) for fact in updated)


def _facts_closed_without_response(clocks: Sequence[SlaClock], now: datetime) -> None:
    cals = calendars_for_clocks(clocks)
    conversations = {
        c.id: c for c in Conversation.objects.filter(id__in=[c.conversation_id for c in clocks])
        .only("id", "team_id", "account_id", "assignee_id")
    }
    facts = [
        SlaResponseFact(
            conversation_id=clock.conversation_id, team_id=conversations[clock.conversation_id].team_id,
            account_id=conversations[clock.conversation_id].account_id,
            officer_id=conversations[clock.conversation_id].assignee_id,
            day=_fact_day(clock, cals.get(clock.calendar_id) or cals[None]), started_at=clock.started_at,
            kind=SlaResponseFact.Kind.CLOSED_WITHOUT_RESPONSE, target_seconds=clock.target_seconds,
            within_target=False, updated_at=now,
        )
        for clock in clocks
    ]
    _facts_upsert(facts)
    rollups_add(row for fact in facts for row in fact_rows(fact))


def _facts_upsert(facts: Sequence[SlaResponseFact]) -> None:
    if facts:
        SlaResponseFact.objects.bulk_create(
            facts, update_conflicts=True, unique_fields=["conversation"],
            update_fields=["team", "account", "officer", "day", "started_at", "responded_at", "kind",
                           "business_seconds", "calendar_seconds", "target_seconds", "within_target", "updated_at"],
        )


def volume_add(rows: Iterable[tuple[datetime, int | None, int, int, int]]) -> None:
    """Add (hour, team, account, in, out) to the hourly volume, one statement."""
    merged: dict[tuple, list[int]] = {}
    for hour, team_id, account_id, n_in, n_out in rows:
        key = (_hour(hour), team_id, account_id)
        counts = merged.setdefault(key, [0, 0])
        counts[0] += n_in
        counts[1] += n_out
    if not merged:
        return
    values, params = [], []
    for (hour, team_id, account_id), (n_in, n_out) in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, kv[0][2])):
        values.append("(%s, %s, %s, %s, %s, %s)")
        params += [hour, team_id, team_id or 0, account_id, n_in, n_out]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO routing_volumehour (hour, team_id, team_key, account_id, messages_in, messages_out) "  # noqa: S608
            f"VALUES {', '.join(values)} ON CONFLICT (hour, team_key, account_id) DO UPDATE SET "
            "messages_in = routing_volumehour.messages_in + excluded.messages_in, "
            "messages_out = routing_volumehour.messages_out + excluded.messages_out",
            params,
        )


def officer_hours_add(rows: Iterable[tuple[datetime, int, int | None, int]]) -> None:
    """Count (hour, officer, team, account) replies in ``OfficerHour``, one statement: the
    dashboard's "officers who answered in that hour"."""
    merged: dict[tuple, int] = {}
    for hour, officer_id, team_id, account_id in rows:
        key = (_hour(hour), officer_id, team_id, account_id)
        merged[key] = merged.get(key, 0) + 1
    if not merged:
        return
    values, params = [], []
    for (hour, officer_id, team_id, account_id), n in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0, kv[0][3])):
        values.append("(%s, %s, %s, %s, %s, %s)")
        params += [hour, officer_id, team_id, team_id or 0, account_id, n]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO routing_officerhour (hour, officer_id, team_id, team_key, account_id, replies) "  # noqa: S608
            f"VALUES {', '.join(values)} ON CONFLICT (hour, officer_id, team_key, account_id) DO UPDATE SET "
            "replies = routing_officerhour.replies + excluded.replies",
            params,
        )


# --- the conversation's columns --------------------------------------------------------------


def sla_state_of(clocks: Sequence[SlaClock]) -> tuple[str, datetime | None]:
    """The conversation's ``sla_state`` and ``sla_due_at`` from its clocks."""
    open_clocks = [c for c in clocks if c.state in OPEN]
    running = [c for c in open_clocks if c.state in (State.RUNNING, State.BREACHED)]
    due = min((c.due_at for c in running), default=None)
    if any(c.state == State.BREACHED for c in open_clocks):
        return "breached", due
    if running:
        return ("at_risk" if any(c.checks_done for c in running) else "running"), due
    if open_clocks:
        return "paused", None
    if any(c.state == State.MET and c.kind == Kind.FIRST_RESPONSE for c in clocks):
        return "met", None
    return "", None


def _conversations_refresh(conversation_ids: Iterable[int], *, now: datetime) -> None:
    """Write ``first_response_due_at``, ``sla_due_at``, ``sla_state`` and
    ``first_response_kind`` of the conversations from their clocks: two queries."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    by_conversation: dict[int, list[SlaClock]] = {i: [] for i in ids}
    for clock in SlaClock.objects.filter(conversation_id__in=ids).only(
        "id", "conversation_id", "kind", "state", "due_at", "met_kind", "checks_done"
    ):
        by_conversation[clock.conversation_id].append(clock)
    rows = []
    for conversation_id, clocks in by_conversation.items():
        state, due = sla_state_of(clocks)
        first = next((c for c in clocks if c.kind == Kind.FIRST_RESPONSE), None)
        rows.append(Conversation(
            pk=conversation_id, sla_state=state, sla_due_at=due,
            first_response_due_at=first.due_at if first else None,
            first_response_kind=(first.met_kind if first and first.state == State.MET else ""),
        ))
    update_rows(Conversation, rows, ["sla_state", "sla_due_at", "first_response_due_at", "first_response_kind"])


# --- platform windows ------------------------------------------------------------------------


def reply_window(conversation: Conversation) -> dict | None:
    """Messenger and Instagram private conversations can only be answered for a while after
    the citizen's last message: ``{"standard": 24 h, "human_agent": 7 days}`` closing
    instants, or None where the platform sets no window."""
    if conversation.kind != Conversation.Kind.PRIVATE or conversation.last_inbound_at is None:
        return None
    if conversation.account.platform not in WINDOW_PLATFORMS:
        return None
    return {
        "standard": conversation.last_inbound_at + STANDARD_WINDOW,
        "human_agent": conversation.last_inbound_at + HUMAN_AGENT_WINDOW,
    }


def deadline(conversation: Conversation) -> tuple[datetime | None, str]:
    """Whichever comes first, the SLA due time or the platform's reply window (what the
    conversation page shows): ``(instant, "sla" | "platform_window")``."""
    due = conversation.sla_due_at or (
        conversation.first_response_due_at if conversation.first_response_at is None else None
    )
    window = reply_window(conversation)
    if window and (due is None or window["standard"] < due):
        return window["standard"], "platform_window"
    return due, "sla" if due else ""
