"""Officers' presence: available, away or offline, kept alive by their open pages.

Stored in the database (``inbox.OfficerProfile``), not in Redis: assignment filters and
locks officers in the same query that counts their loads, and a heartbeat is one
conditional UPDATE that writes at most once per ``HEARTBEAT_WRITE_EVERY`` per officer (a few
writes a minute for a whole service). An officer counts as available while their status is
"available" *and* a page sent a heartbeat within ``PRESENCE_TIMEOUT_SECONDS``; when all
their pages are closed they stop receiving work after the timeout, and get it again as
soon as a page of theirs is open (the status they chose is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inbox.audit import audit_record
from inbox.models import OfficerProfile
from inbox.permissions import REPLY, team_ids_for_user
from inbox.queue import enqueue_on_commit

BACKLOG_TASK = "routing.assign_backlog"
# A heartbeat younger than this is not written again: every page beats every 30 s, an
# officer with three tabs would otherwise write six times a minute.
HEARTBEAT_WRITE_EVERY = timedelta(seconds=10)


@dataclass(frozen=True)
class Presence:
    status: str  # what the officer chose
    available: bool  # whether they are given work now
    last_seen_at: datetime | None

    @property
    def label(self) -> str:
        return OfficerProfile.Presence(self.status).label


def profile_for(user) -> OfficerProfile:
    profile, _ = OfficerProfile.objects.get_or_create(user=user)
    return profile


def presence_of(profile: OfficerProfile | None, *, now: datetime | None = None) -> Presence:
    if profile is None:
        return Presence(OfficerProfile.Presence.OFFLINE, False, None)
    now = now or timezone.now()
    fresh = profile.last_seen_at is not None and profile.last_seen_at >= now - timedelta(
        seconds=settings.PRESENCE_TIMEOUT_SECONDS
    )
    return Presence(profile.status, profile.status == OfficerProfile.Presence.AVAILABLE and fresh, profile.last_seen_at)


def presence_set(user, status: str, *, now: datetime | None = None) -> Presence:
    """The officer says they are available, away or offline (the top bar, the API). Setting
    it counts as a heartbeat; becoming available sends the sweep to their teams' backlogs."""
    if status not in OfficerProfile.Presence.values:
        raise ValueError(f"unknown presence {status!r}")
    now = now or timezone.now()
    with transaction.atomic():
        profile = profile_for(user)
        previous = profile.status
        OfficerProfile.objects.filter(pk=profile.pk).update(status=status, status_changed_at=now, last_seen_at=now)
        profile.status, profile.status_changed_at, profile.last_seen_at = status, now, now
        if previous != status:
            audit_record(user, "presence.set", user, previous=previous, status=status)
        if status == OfficerProfile.Presence.AVAILABLE:
            _sweep_teams_of(user)
    return presence_of(profile, now=now)


def presence_heartbeat(user, *, now: datetime | None = None) -> Presence:
    """An open page says its officer is still there. An officer who was away from the
    screen past the timeout and comes back as available sends the sweep to their teams."""
    now = now or timezone.now()
    with transaction.atomic():
        profile = profile_for(user)
        timeout = now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
        written = OfficerProfile.objects.filter(pk=profile.pk).filter(
            Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - HEARTBEAT_WRITE_EVERY)
        ).update(last_seen_at=now)
        came_back = profile.status == OfficerProfile.Presence.AVAILABLE and (
            profile.last_seen_at is None or profile.last_seen_at < timeout
        )
        if written:
            profile.last_seen_at = now
        if written and came_back:
            _sweep_teams_of(user)
    return presence_of(profile, now=now)


def _sweep_teams_of(user) -> None:
    team_ids = team_ids_for_user(user, REPLY)
    if team_ids:
        enqueue_on_commit(BACKLOG_TASK, team_ids=list(team_ids))
