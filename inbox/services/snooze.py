"""Snooze until a time: the conversation leaves the queue and comes back, at the top, when it
wakes.

``conversation_snooze`` sets status ``snoozed`` and ``snoozed_until``; the queue lists only
new, open and pending conversations (``inbox.limits.QUEUE_STATUSES``). ``conversations_wake``
(the ``inbox.snoozed_wake`` beat task, every minute) opens those whose time has come with
one conditional UPDATE — a conversation is woken once, however many workers run it — and
sets ``woken_at``, which puts it first in its queue until an officer acts on it (a reply, a
status, another snooze: ``woken_clear``). A citizen who writes meanwhile reopens it at once
(the ingest opens snoozed and pending conversations). SLA clocks keep running while a
conversation is snoozed: snoozing is the officer's choice, not the citizen's turn.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inbox import realtime
from inbox.audit import audit_record, audit_record_many
from inbox.models import Conversation
from inbox.permissions import REPLY
from inbox.services.conversations import _require_team_perm

LATER_TODAY = timedelta(hours=3)
MORNING = time(8, 0)
MAX_SNOOZE = timedelta(days=365)
WAKE_BATCH = 500


class SnoozeRefused(ValueError):
    """The wake-up time is in the past or too far away."""


def account_zone(conversation: Conversation) -> zoneinfo.ZoneInfo:
    """The time zone of the account's service calendar, else the installation's."""
    calendar = getattr(conversation.account, "calendar", None)
    name = getattr(calendar, "timezone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def snooze_until(choice: str, conversation: Conversation, *, now: datetime | None = None,
                 custom: datetime | None = None) -> datetime:
    """When a choice wakes: ``later_today`` (three hours), ``tomorrow`` (8:00 in the account's
    calendar), ``next_week`` (Monday 8:00 there), ``custom`` (a naive time is read in the
    account's calendar)."""
    now = now or timezone.now()
    zone = account_zone(conversation)
    local = now.astimezone(zone)
    if choice == "later_today":
        return now + LATER_TODAY
    if choice == "tomorrow":
        return datetime.combine(local.date() + timedelta(days=1), MORNING, tzinfo=zone)
    if choice == "next_week":
        return datetime.combine(local.date() + timedelta(days=7 - local.weekday()), MORNING, tzinfo=zone)
    if choice == "custom" and custom is not None:
        return custom if timezone.is_aware(custom) else custom.replace(tzinfo=zone)
    raise SnoozeRefused(f"unknown snooze choice {choice!r}")


def conversation_snooze(*, conversation: Conversation, user, until: datetime, now: datetime | None = None) -> Conversation:
    now = now or timezone.now()
    _require_team_perm(user, conversation.team, REPLY, "You cannot work on this team's conversations.")
    if until <= now:
        raise SnoozeRefused("The wake-up time has passed.")
    if until - now > MAX_SNOOZE:
        raise SnoozeRefused("A conversation can be snoozed for a year at most.")
    previous = conversation.status
    conversation.status, conversation.snoozed_until, conversation.woken_at = Conversation.Status.SNOOZED, until, None
    conversation.resolved_at, conversation.updated_at = None, now
    with transaction.atomic():
        conversation.save(update_fields=["status", "snoozed_until", "woken_at", "resolved_at", "updated_at"])
        audit_record(user, "conversation.snooze", conversation, previous=previous, until=until.isoformat())
        transaction.on_commit(partial(realtime.conversations_changed, [conversation.id]))
    return conversation


def conversations_wake(*, now: datetime | None = None, batch: int = WAKE_BATCH) -> list[int]:
    """Open the snoozed conversations whose time has come; returns their ids.

    One ``UPDATE ... WHERE status = 'snoozed' AND snoozed_until <= now RETURNING id`` per
    batch: two workers running at once wake each conversation once between them.
    """
    now = now or timezone.now()
    woken: list[int] = []
    while True:
        with transaction.atomic():
            ids = list(
                Conversation.objects.select_for_update(skip_locked=True)
                .filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
                .order_by("snoozed_until", "id").values_list("id", flat=True)[:batch]
            )
            if not ids:
                break
            done = list(
                Conversation.objects.filter(id__in=ids, status=Conversation.Status.SNOOZED)
                .values_list("id", flat=True)
            )
            Conversation.objects.filter(id__in=done).update(
                status=Conversation.Status.OPEN, woken_at=now, snoozed_until=None, updated_at=now)
            audit_record_many(None, "conversation.wake", [(Conversation(pk=i), {"at": now.isoformat()}) for i in done])
            woken += done
            transaction.on_commit(partial(realtime.conversations_changed, done))
        if len(ids) < batch:
            break
    return woken


def woken_clear(conversation: Conversation) -> None:
    """An officer acted on a conversation that woke: it takes its normal place in the queue."""
    if conversation.woken_at is not None:
        Conversation.objects.filter(pk=conversation.pk).update(woken_at=None)
        conversation.woken_at = None
