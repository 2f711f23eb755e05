"""The periodic SLA scan: warnings, breaches and escalations, each exactly once.

Beat runs ``routing.sla_scan`` every minute. Running (and breached, for later escalation
steps) clocks whose ``next_check_at`` has come are claimed in batches with ``FOR UPDATE
SKIP LOCKED`` — an index range (``sla_clock_scan_idx``), never a table scan — so two scans
at once share the work instead of doing it twice. Each step goes into the ledger with
``INSERT … ON CONFLICT DO NOTHING RETURNING``: only the process whose row went in notifies
or escalates, so even a scan that overlaps another by accident acts once.

A step whose instant falls while the service is closed (a breach at 17:00 sharp, when the
service closes) waits for the next opening before anyone is notified, unless the policy
says to notify outside hours; the ledger still dates it at its true instant.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from guardian.shortcuts import get_users_with_perms

from inbox import realtime
from inbox.audit import audit_record_many
from inbox.db import update_rows
from inbox.models import Conversation, OfficerProfile, Team
from inbox.permissions import SUPERVISE
from inbox.services.notifications import notifications_for_sla_batch
from routing.calendars import HORIZON_DAYS, Calendar, calendar_for
from routing.models import SlaClock, SlaEvent, SlaPolicy
from routing.sla import _conversations_refresh, _events_insert, calendars_for_clocks, check_at

logger = logging.getLogger(__name__)

State = SlaClock.State
BATCH = 5000


@dataclass
class ScanResult:
    clocks: int = 0
    events: int = 0
    notifications: int = 0
    deferred: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def sla_scan(*, now: datetime | None = None, batch_size: int = BATCH, max_batches: int = 100) -> ScanResult:
    """Record what is due up to ``now``; returns what this process did."""
    now = now or timezone.now()
    result = ScanResult()
    fast = connection.vendor == "postgresql"
    for _batch in range(max_batches):
        with transaction.atomic():
            if fast:
                claimed = _scan_batch(now, batch_size, result)
            else:
                clocks = list(
                    SlaClock.objects.select_for_update(skip_locked=True)
                    .filter(state__in=[State.RUNNING, State.BREACHED], next_check_at__isnull=False,
                            next_check_at__lte=now)
                    .order_by("next_check_at")[:batch_size]
                )
                claimed = len(clocks)
                if clocks:
                    _process(clocks, now, result)
        if claimed < batch_size:
            break
    return result


# --- PostgreSQL: a batch in four statements, no model instance per row ------------------------
#
# After an outage every running clock is due at once (100,000 clocks, 400,000 ledger rows):
# per row, a model instance, a compiled INSERT and a re-read of the clocks cost minutes. Here
# the clocks are read as tuples, the instants computed in one walk over the calendar per
# clock, and the writes are one statement each from arrays (``unnest``): the ledger
# (``ON CONFLICT DO NOTHING RETURNING``: only the steps this process recorded are acted on),
# the clocks, and the conversations' ``sla_state`` computed from the clocks in hand.

_CLAIM = f"""
SELECT k.id, k.conversation_id, k.kind, k.calendar_id, k.target_seconds, k.plan, k.checks_done,
       (EXTRACT(EPOCH FROM k.started_at) * 1000000)::bigint, k.paused_seconds, k.due_at, k.state,
       c.team_id, c.assignee_id
FROM {SlaClock._meta.db_table} k JOIN {Conversation._meta.db_table} c ON c.id = k.conversation_id
WHERE k.state IN ('running', 'breached') AND k.next_check_at IS NOT NULL AND k.next_check_at <= %s
ORDER BY k.next_check_at LIMIT %s
FOR UPDATE OF k SKIP LOCKED
"""  # noqa: S608 - table names, not input

_EPOCH_US = "(timestamptz 'epoch' + {} * interval '1 microsecond')"

_LEDGER = f"""
INSERT INTO {SlaEvent._meta.db_table} (clock_id, conversation_id, kind, level, at, data, created_at)
SELECT u.clock, u.conversation, u.kind, u.level, {_EPOCH_US.format("u.at")},
       jsonb_build_object('clock', u.clock_kind, 'percent', u.percent, 'action', u.action, 'team', u.team,
                          'due_at', u.due_at),
       %s
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::int[], %s::bigint[], %s::text[], %s::int[], %s::text[],
            %s::text[], %s::text[])
     AS u(clock, conversation, kind, level, at, clock_kind, percent, action, team, due_at)
ON CONFLICT DO NOTHING
RETURNING clock_id, kind, level
"""  # noqa: S608

_CLOCKS = f"""
UPDATE {SlaClock._meta.db_table} k
SET checks_done = u.checks_done, state = u.state,
    next_check_at = {_EPOCH_US.format("u.next_check")},
    breached_at = COALESCE({_EPOCH_US.format("u.breached")}, k.breached_at)
FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::bigint[], %s::bigint[])
     AS u(id, checks_done, state, next_check, breached)
WHERE k.id = u.id
"""  # noqa: S608

# A step makes the conversation at risk, a breach breached; a conversation already breached
# (by another of its clocks) stays so. Its due times do not change: the scan moves no due time.
_CONVERSATIONS = f"""
UPDATE {Conversation._meta.db_table} c
SET sla_state = CASE WHEN c.sla_state = 'breached' THEN 'breached' ELSE u.state END
FROM unnest(%s::bigint[], %s::text[]) AS u(id, state)
WHERE c.id = u.id AND c.sla_state IS DISTINCT FROM (CASE WHEN c.sla_state = 'breached' THEN 'breached' ELSE u.state END)
"""  # noqa: S608


def _us(ts: float | None) -> int | None:
    return None if ts is None else round(ts * 1_000_000)


def _instants(cal: Calendar, start: float, offsets: list[float]) -> list[float | None]:
    """``Calendar.add_business(start, offset)`` for ascending ``offsets`` (epoch seconds), in
    one walk over the calendar's days instead of one per offset; None past the horizon."""
    if cal.always_open:
        return [start + o if o > 0 else start for o in offsets]
    out: list[float | None] = []
    i, n = 0, len(offsets)
    while i < n and offsets[i] <= 0:
        out.append(start)
        i += 1
    if i == n:
        return out
    consumed = 0.0
    first = cal._ordinal(start)
    for ordinal in range(first, first + HORIZON_DAYS):
        for s, e in cal.day_intervals(ordinal):
            if e <= start:
                continue
            s = max(s, start)
            length = e - s
            while i < n and offsets[i] - consumed <= length:
                out.append(s + (offsets[i] - consumed))
                i += 1
            if i == n:
                return out
            consumed += length
    out.extend([None] * (n - i))
    return out


def _scan_batch(now: datetime, batch_size: int, result: ScanResult) -> int:
    """Claim up to ``batch_size`` due clocks and do their steps (PostgreSQL); returns how
    many were claimed."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [now, batch_size])
        rows = cursor.fetchall()
    if not rows:
        return 0
    now_ts = now.timestamp()
    cals = _calendars({row[3] for row in rows})
    # Per calendar: closed now (steps wait for the opening unless the policy says otherwise)?
    closed = {cal_id: not cal.is_open(now) for cal_id, cal in cals.items()}
    openings: dict[int | None, float | None] = {}
    plans: dict[str, dict] = {}
    ev_clock, ev_conv, ev_kind, ev_level, ev_at, ev_clock_kind, ev_percent, ev_action, ev_team, ev_due = (
        [], [], [], [], [], [], [], [], [], [])
    up_id, up_done, up_state, up_next, up_breached = [], [], [], [], []
    steps: dict[tuple[int, str, int], tuple] = {}
    touched: dict[int, str] = {}
    team_of: dict[int, int | None] = {}
    for (clock_id, conversation_id, clock_kind, cal_id, target, plan_text, done, started_us, paused, due_at,
         state, team_id, assignee_id) in rows:
        plan = plans.get(plan_text)
        if plan is None:
            plan = plans[plan_text] = json.loads(plan_text) if plan_text else {}
        checks = plan.get("checks", [])
        cal = cals[cal_id]
        instants = _instants(cal, started_us / 1_000_000,
                             [target * check[0] / 100 + paused for check in checks[done:]])
        breached = None
        deferred = False
        due_iso = None
        index = 0
        while done < len(checks):
            at = instants[index]
            if at is None or at > now_ts:
                break
            if closed[cal_id] and not plan.get("notify_outside_hours"):
                deferred = True
                break
            percent, kind, level, action, team = checks[done]
            at_us = _us(at)
            if kind == "breach":
                breached = at_us
            if due_iso is None:
                due_iso = due_at.isoformat()
            ev_clock.append(clock_id)
            ev_conv.append(conversation_id)
            ev_kind.append(kind)
            ev_level.append(level)
            ev_at.append(at_us)
            ev_clock_kind.append(clock_kind)
            ev_percent.append(percent)
            ev_action.append(action)
            ev_team.append(team)
            ev_due.append(due_iso)
            steps[(clock_id, kind, level)] = (conversation_id, clock_kind, team_id, assignee_id, due_iso,
                                              checks[done])
            done += 1
            index += 1
        if deferred:
            result.deferred += 1
            if cal_id not in openings:
                opening = cal.next_opening(now)
                openings[cal_id] = opening.timestamp() if opening else None
            next_check = openings[cal_id]
        else:
            next_check = instants[index] if index < len(instants) else None
        if breached is not None:
            state = State.BREACHED  # breached earlier (the row's state) stays breached
        up_id.append(clock_id)
        up_done.append(done)
        up_state.append(state)
        up_next.append(_us(next_check))
        up_breached.append(breached)
        if index:
            if state == State.BREACHED or touched.get(conversation_id) == "breached":
                touched[conversation_id] = "breached"
            else:
                touched[conversation_id] = "at_risk"
            team_of[conversation_id] = team_id
    result.clocks += len(rows)
    with connection.cursor() as cursor:
        mine: set[tuple[int, str, int]] = set()
        if ev_clock:
            cursor.execute(_LEDGER, [now, ev_clock, ev_conv, ev_kind, ev_level, ev_at, ev_clock_kind, ev_percent,
                                     ev_action, ev_team, ev_due])
            mine = {(clock, kind, level) for clock, kind, level in cursor.fetchall()}
        cursor.execute(_CLOCKS, [up_id, up_done, up_state, up_next, up_breached])
        if touched:
            ids = sorted(touched)  # one order for every scan: no deadlock between two of them
            cursor.execute(_CONVERSATIONS, [ids, [touched[i] for i in ids]])
    result.events += len(mine)
    for key in mine:
        result.by_kind[key[1]] = result.by_kind.get(key[1], 0) + 1
    if mine:
        _act_rows([steps[key] for key in sorted(mine)], now, result)
    if touched:
        transaction.on_commit(lambda: realtime.conversations_changed(touched, pages=False, team_of=team_of))
    return len(rows)


def _calendars(ids: set[int | None]) -> dict[int | None, Calendar]:
    from routing.models import ServiceCalendar

    cals: dict[int | None, Calendar] = {None: calendar_for(None)}
    for row in ServiceCalendar.objects.filter(id__in=[i for i in ids if i is not None]):
        cals[row.id] = calendar_for(row)
    for i in ids:
        cals.setdefault(i, cals[None])  # a calendar deleted since: served 24/7, as calendars_for_clocks does
    return cals


def _process(clocks: list[SlaClock], now: datetime, result: ScanResult) -> None:
    cals = calendars_for_clocks(clocks)
    events: list[SlaEvent] = []
    steps: dict[tuple[int, str, int], tuple[SlaClock, list]] = {}
    for clock in clocks:
        cal = cals.get(clock.calendar_id) or cals[None]
        checks = clock.plan.get("checks", [])
        quiet = not clock.plan.get("notify_outside_hours") and not cal.is_open(now)
        deferred = False
        while clock.checks_done < len(checks):
            at = check_at(clock, cal, clock.checks_done)
            if at is None or at > now:
                break
            if quiet:
                deferred = True
                break
            check = checks[clock.checks_done]
            percent, kind, level = check[0], check[1], check[2]
            if kind == "breach":
                clock.state, clock.breached_at = State.BREACHED, at
            events.append(SlaEvent(
                clock_id=clock.pk, conversation_id=clock.conversation_id, kind=kind, level=level, at=at,
                data={"clock": clock.kind, "percent": percent, "action": check[3], "team": check[4],
                      "due_at": clock.due_at.isoformat()},
                created_at=now,
            ))
            steps[(clock.pk, kind, level)] = (clock, check)
            clock.checks_done += 1
        if deferred:
            result.deferred += 1
            clock.next_check_at = cal.next_opening(now)
        else:
            clock.next_check_at = check_at(clock, cal, clock.checks_done)
    result.clocks += len(clocks)
    update_rows(SlaClock, clocks, ["checks_done", "next_check_at", "state", "breached_at"])
    mine = _events_insert(events)
    result.events += len(mine)
    for key in mine:
        result.by_kind[key[1]] = result.by_kind.get(key[1], 0) + 1
    touched = {clock.conversation_id for clock, _check in steps.values()}
    _conversations_refresh(touched, now=now)
    if mine:
        _act([steps[key] for key in sorted(mine)], now, result)
    if touched:
        transaction.on_commit(lambda: realtime.conversations_changed(touched, pages=False))


def _act(steps: list[tuple[SlaClock, list]], now: datetime, result: ScanResult) -> None:
    """The portable path's steps as ``_act_rows`` takes them (the conversations read once)."""
    conversations = {
        c.id: c for c in Conversation.objects.filter(id__in={clock.conversation_id for clock, _ in steps})
        .only("id", "team_id", "assignee_id")
    }
    _act_rows([
        (clock.conversation_id, clock.kind, conversations[clock.conversation_id].team_id,
         conversations[clock.conversation_id].assignee_id, clock.due_at.isoformat(), check)
        for clock, check in steps if clock.conversation_id in conversations
    ], now, result)


def _act_rows(steps: list[tuple], now: datetime, result: ScanResult) -> None:
    """Notify and escalate for the steps this process recorded (and nobody else did): each
    ``(conversation, clock kind, team, assignee, due at, check)``. The notifications are
    gathered per user (one live message and at most one e-mail per user and batch)."""
    supervisors: dict[int, list[int]] = {}

    def team_supervisors(team_id: int | None) -> list[int]:
        if team_id is None:
            return []
        if team_id not in supervisors:
            users = get_users_with_perms(Team(pk=team_id), only_with_perms_in=[SUPERVISE], with_group_users=True)
            supervisors[team_id] = sorted(u.id for u in users if u.is_active)
        return supervisors[team_id]

    by_user: dict[int, list[dict]] = {}
    n_notes = 0
    raise_ids: set[int] = set()
    reassign: dict[str, set[int]] = {}
    for conversation_id, clock_kind, team_id, assignee_id, due_iso, check in steps:
        percent, kind, level, action, team_slug = check
        item = {"conversation": conversation_id, "clock": clock_kind, "event": kind, "level": level,
                "percent": percent, "due_at": due_iso}
        recipients: set[int] = set()
        if kind in ("warning", "breach") or action == SlaPolicy.Action.NOTIFY_ASSIGNEE:
            if assignee_id:
                recipients.add(assignee_id)
            elif kind != "escalation":
                recipients.update(team_supervisors(team_id))
        if action == SlaPolicy.Action.NOTIFY_SUPERVISORS:
            recipients.update(team_supervisors(team_id))
        elif action == SlaPolicy.Action.RAISE_PRIORITY:
            raise_ids.add(conversation_id)
        elif action == SlaPolicy.Action.REASSIGN and team_slug:
            reassign.setdefault(team_slug, set()).add(conversation_id)
        for user_id in recipients:
            by_user.setdefault(user_id, []).append(item)
        n_notes += len(recipients)
    if raise_ids:
        Conversation.objects.filter(id__in=raise_ids, priority__lt=Conversation.Priority.URGENT).update(
            priority=F("priority") + 1, updated_at=now
        )
    for slug, ids in reassign.items():
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            logger.warning("sla scan: escalation to unknown team %r", slug)
            continue
        moved = list(Conversation.objects.filter(id__in=ids).exclude(team=team))
        Conversation.objects.filter(id__in=[c.id for c in moved]).update(team=team, assignee=None, updated_at=now)
        audit_record_many(None, "conversation.sla_reassign", [(c, {"from": c.team_id, "to": team.id}) for c in moved])
    result.notifications += n_notes
    if by_user:
        notifications_for_sla_batch(by_user, now=now)  # kept until read, in this batch's transaction
        transaction.on_commit(lambda: notify(by_user))


def notify(by_user: dict[int, list[dict]]) -> None:
    """Live to ``user-<id>`` groups (ids and figures only, like every socket message) and,
    when an e-mail server is configured, by e-mail: one message per user and batch, listing
    its items (a backlog after an outage must not become thousands of messages)."""
    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(_send_all)(layer, [
                (f"user-{user_id}", {"type": "sla.notification", "items": items}) for user_id, items in by_user.items()
            ])
        except Exception:  # a notification is a courtesy: the ledger has the fact
            logger.exception("sla scan: live notifications failed")
    if settings.EMAIL_HOST:  # configured from the environment (config/settings.py)
        _email(by_user)


async def _send_all(layer, messages):
    for group, message in messages:
        await layer.group_send(group, message)


def _line(item: dict) -> str:
    if item["event"] == "warning":
        return _("Conversation #%(id)s: %(percent)s%% of the response time used") % {
            "id": item["conversation"], "percent": item["percent"]}
    if item["event"] == "breach":
        return _("Conversation #%(id)s: response time exceeded") % {"id": item["conversation"]}
    return _("Conversation #%(id)s escalated at %(percent)s%% of the response time") % {
        "id": item["conversation"], "percent": item["percent"]}


def _email(by_user: dict[int, list[dict]]) -> None:
    users = {
        u.id: u for u in get_user_model().objects.filter(id__in=list(by_user), is_active=True).exclude(email="")
    }
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    # Each e-mail in its recipient's interface language (docs/i18n.md), not the worker's.
    languages = dict(OfficerProfile.objects.filter(user_id__in=list(users)).values_list("user_id", "interface_language"))
    mails = []
    for user_id, items in by_user.items():
        user = users.get(user_id)
        if user is None:
            continue
        with translation.override(languages.get(user_id) or settings.LANGUAGE_CODE):
            subject = _line(items[0]) if len(items) == 1 else _("%(n)s conversations need attention") % {"n": len(items)}
            due_at = _("due at")  # outside the f-string, where makemessages can find it
            body = "\n".join(
                f"{_line(item)} — {due_at} {item['due_at']}: "
                f"{base}{reverse('inbox:conversation', args=[item['conversation']])}" for item in items
            )
        mails.append((subject, body, None, [user.email]))
    try:
        send_mass_mail(mails, fail_silently=False)
    except Exception:
        logger.exception("sla scan: e-mail notifications failed")
