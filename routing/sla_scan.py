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

import logging
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import get_users_with_perms

from inbox import realtime
from inbox.audit import audit_record_many
from inbox.db import update_rows
from inbox.models import Conversation, Team
from inbox.permissions import SUPERVISE
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
    for _batch in range(max_batches):
        with transaction.atomic():
            clocks = list(
                SlaClock.objects.select_for_update(skip_locked=True)
                .filter(state__in=[State.RUNNING, State.BREACHED], next_check_at__isnull=False,
                        next_check_at__lte=now)
                .order_by("next_check_at")[:batch_size]
            )
            if not clocks:
                break
            _process(clocks, now, result)
        if len(clocks) < batch_size:
            break
    return result


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
    """Notify and escalate for the steps this process recorded (and nobody else did)."""
    conversations = {
        c.id: c for c in Conversation.objects.filter(id__in={clock.conversation_id for clock, _ in steps})
        .only("id", "team_id", "assignee_id", "priority")
    }
    supervisors: dict[int, list[int]] = {}

    def team_supervisors(team_id: int | None) -> list[int]:
        if team_id is None:
            return []
        if team_id not in supervisors:
            users = get_users_with_perms(Team(pk=team_id), only_with_perms_in=[SUPERVISE], with_group_users=True)
            supervisors[team_id] = sorted(u.id for u in users if u.is_active)
        return supervisors[team_id]

    notes: list[tuple[int, dict]] = []
    raise_ids: set[int] = set()
    reassign: dict[str, set[int]] = {}
    for clock, check in steps:
        conversation = conversations.get(clock.conversation_id)
        if conversation is None:
            continue
        percent, kind, level, action, team_slug = check
        payload = {"type": "sla.notification", "conversation": conversation.id, "clock": clock.kind,
                   "event": kind, "level": level, "percent": percent, "due_at": clock.due_at.isoformat()}
        recipients: set[int] = set()
        if kind in ("warning", "breach") or action == SlaPolicy.Action.NOTIFY_ASSIGNEE:
            if conversation.assignee_id:
                recipients.add(conversation.assignee_id)
            elif kind != "escalation":
                recipients.update(team_supervisors(conversation.team_id))
        if action == SlaPolicy.Action.NOTIFY_SUPERVISORS:
            recipients.update(team_supervisors(conversation.team_id))
        elif action == SlaPolicy.Action.RAISE_PRIORITY:
            raise_ids.add(conversation.id)
        elif action == SlaPolicy.Action.REASSIGN and team_slug:
            reassign.setdefault(team_slug, set()).add(conversation.id)
        notes.extend((user_id, payload) for user_id in sorted(recipients))
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
    result.notifications += len(notes)
    if notes:
        transaction.on_commit(lambda: notify(notes))


def notify(notes: list[tuple[int, dict]]) -> None:
    """Live to ``user-<id>`` groups (ids and figures only, like every socket message) and,
    when an e-mail server is configured, by e-mail: one message per user and batch, listing
    its items (a backlog after an outage must not become thousands of messages)."""
    by_user: dict[int, list[dict]] = {}
    for user_id, payload in notes:
        by_user.setdefault(user_id, []).append({k: v for k, v in payload.items() if k != "type"})
    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(_send_all)(layer, [
                (f"user-{user_id}", {"type": "sla.notification", "items": items}) for user_id, items in by_user.items()
            ])
        except Exception:  # a notification is a courtesy: the ledger has the fact
            logger.exception("sla scan: live notifications failed")
    if getattr(settings, "EMAIL_HOST", "") not in ("", "localhost"):
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
    mails = []
    for user_id, items in by_user.items():
        user = users.get(user_id)
        if user is None:
            continue
        subject = _line(items[0]) if len(items) == 1 else _("%(n)s conversations need attention") % {"n": len(items)}
        body = "\n".join(
            f"{_line(item)} — {_('due at')} {item['due_at']}: {base}/c/{item['conversation']}/" for item in items
        )
        mails.append((subject, body, None, [user.email]))
    try:
        send_mass_mail(mails, fail_silently=False)
    except Exception:
        logger.exception("sla scan: e-mail notifications failed")
