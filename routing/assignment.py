"""Give conversations to officers: each team's strategy, presence, capacity, languages.

Strategies (``Team.assignment``):

- **manual**: nobody is given anything; officers take from the team queue;
- **round robin**: the next available officer after the one who received the last one;
- **least loaded**: the available officer holding the fewest open conversations of the
  conversation's kind.

Under both automatic strategies an officer is only given work while available (presence,
``routing.presence``) and below the team's capacity for the conversation's kind (private
messages and public posts are counted apart, over every team the officer works for). A
conversation in a known language goes to an officer who speaks it when one can take it.

Claims are atomic without waits that could deadlock: the team row is locked (in id order)
for its round-robin cursor; each candidate officer's ``OfficerProfile`` row is locked with
``SKIP LOCKED`` before their load is counted, so two workers never count the same officer at
once (an officer another worker is busy with is simply not a candidate this time; the
backlog sweep comes back); and each conversation is claimed with a conditional UPDATE
(``assignee IS NULL``), so no two workers ever assign the same conversation.

``assign_backlog`` (beat, every 30 s) gives the waiting conversations out, earliest due
first, and takes back those whose assignee has not answered within the team's
``reassign_after_minutes``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef
from django.utils import timezone

from inbox import realtime
from inbox.audit import audit_record, audit_record_many
from inbox.models import Conversation, Message, OfficerProfile, Team
from inbox.permissions import OFFICER, team_officers

logger = logging.getLogger(__name__)

# The statuses in which a conversation waits for an officer (pending: the citizen's turn;
# snoozed: set aside on purpose) and counts in an officer's load.
WAITING_STATUSES = (Conversation.Status.NEW, Conversation.Status.OPEN)
LOAD_STATUSES = Conversation.ACTIVE_STATUSES
BACKLOG_BATCH = 200


def available_since(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)


def available_profiles(now: datetime | None = None):
    """Profiles of officers available now: they said so, and a page of theirs is open."""
    now = now or timezone.now()
    return OfficerProfile.objects.filter(
        status=OfficerProfile.Presence.AVAILABLE, last_seen_at__gte=available_since(now), user__is_active=True,
    )


@dataclass
class _Officer:
    id: int
    languages: frozenset[str]
    load: dict[str, int] = field(default_factory=dict)


def _capacity(team: Team, kind: str) -> int:
    return team.capacity_private if kind == Conversation.Kind.PRIVATE else team.capacity_public


def _pool(team: Team, now: datetime) -> list[_Officer]:
    """The team's officers who can be given work now, locked for this transaction (SKIP
    LOCKED), with their current loads. Supervisors answer too, but are not dealt work."""
    member_ids = [u.id for u in team_officers(team)]
    if not member_ids:
        return []
    officer_ids = list(
        get_user_model().objects.filter(id__in=member_ids, groups__name=OFFICER).values_list("id", flat=True)
    )
    profiles = list(
        available_profiles(now).filter(user_id__in=officer_ids)
        .select_for_update(skip_locked=True, of=("self",)).order_by("user_id")
        .values_list("user_id", "languages")
    )
    if not profiles:
        return []
    officers = {uid: _Officer(uid, frozenset(str(code).lower() for code in (languages or []))) for uid, languages in profiles}
    # Counted after the locks: what another worker assigned to them has committed by now.
    for row in (
        Conversation.objects.filter(assignee_id__in=list(officers), status__in=LOAD_STATUSES)
        .values("assignee_id", "kind").annotate(n=Count("id"))
    ):
        officers[row["assignee_id"]].load[row["kind"]] = row["n"]
    return list(officers.values())


def _language(conversation: Conversation) -> str:
    return (conversation.language or "").split("-")[0].lower()


def _choose(team: Team, conversation: Conversation, pool: list[_Officer], cursor: int | None,
            exclude: int | None = None) -> _Officer | None:
    kind = conversation.kind
    capacity = _capacity(team, kind)
    free = [o for o in pool if o.load.get(kind, 0) < capacity and o.id != exclude]
    if not free:
        return None
    language = _language(conversation)
    speakers = [o for o in free if language and language in o.languages]
    candidates = speakers or free
    if team.assignment == Team.Assignment.LEAST_LOADED:
        # Fewest open conversations of this kind, then the one who waited longest in the round.
        return min(candidates, key=lambda o: (o.load.get(kind, 0), o.id <= (cursor or 0), o.id))
    after = [o for o in candidates if cursor is not None and o.id > cursor]
    return (after or candidates)[0]


def _claim(conversation: Conversation, officer_id: int, now: datetime, *, previous: int | None = None) -> bool:
    """Conditional UPDATE: only a conversation still held by ``previous`` (None: nobody)."""
    claimed = Conversation.objects.filter(
        pk=conversation.pk, assignee_id=previous, status__in=WAITING_STATUSES,
    ).update(assignee_id=officer_id, assigned_at=now, updated_at=now)
    if claimed:
        conversation.assignee_id, conversation.assigned_at = officer_id, now
    return bool(claimed)


def conversations_assign(conversations: Sequence[Conversation], *, now: datetime | None = None) -> list[Conversation]:
    """Give each of ``conversations`` (in a team, nobody's yet) to an officer by its team's
    strategy, earliest due first. Those nobody can take now stay in the team queue for the
    backlog sweep. Runs in the caller's transaction (routing) or its own (the sweep).
    Returns the conversations assigned."""
    now = now or timezone.now()
    by_team: dict[int, list[Conversation]] = {}
    for conversation in conversations:
        if (conversation.team_id is not None and conversation.assignee_id is None
                and conversation.status in WAITING_STATUSES):
            # A team already loaded with the conversation and manual: not even locked (the
            # sweep comes back within a minute should it have just changed strategy).
            if (Conversation.team.is_cached(conversation) and conversation.team is not None
                    and conversation.team.assignment == Team.Assignment.MANUAL):
                continue
            by_team.setdefault(conversation.team_id, []).append(conversation)
    assigned: list[Conversation] = []
    with transaction.atomic():
        for team_id in sorted(by_team):  # teams are locked in id order: no deadlock
            team = Team.objects.select_for_update().filter(pk=team_id).first()
            if team is None or team.assignment == Team.Assignment.MANUAL:
                continue
            pool = _pool(team, now)
            if not pool:
                continue
            cursor = team.last_assigned_user_id
            for conversation in sorted(by_team[team_id], key=_due_order):
                officer = _choose(team, conversation, pool, cursor)
                if officer is None or not _claim(conversation, officer.id, now):
                    continue
                officer.load[conversation.kind] = officer.load.get(conversation.kind, 0) + 1
                cursor = officer.id
                assigned.append(conversation)
            if cursor != team.last_assigned_user_id:
                Team.objects.filter(pk=team.pk).update(last_assigned_user_id=cursor)
        audit_record_many(None, "conversation.assign", [
            (c, {"team": c.team_id, "assignee": c.assignee_id, "by": "assignment"}) for c in assigned
        ])
    return assigned


_NEVER = datetime.max.replace(tzinfo=UTC)


def _due_order(conversation: Conversation) -> tuple:
    """Earliest due first; those without a due time after them, oldest first."""
    return (conversation.sla_due_at or _NEVER, conversation.pk)


@dataclass
class BacklogResult:
    assigned: int = 0
    taken_back: int = 0


def assign_backlog(*, now: datetime | None = None, team_ids: Iterable[int] | None = None) -> BacklogResult:
    """Assign what waits unassigned in the automatic teams' queues, earliest due first
    (conversations without a due time last, oldest first), then take back what assignees
    left unanswered past their team's limit. Safe to run concurrently: conversations are
    claimed with SKIP LOCKED, officers and capacity as in ``conversations_assign``."""
    now = now or timezone.now()
    result = BacklogResult()
    teams = Team.objects.exclude(assignment=Team.Assignment.MANUAL).order_by("id")
    if team_ids is not None:
        teams = teams.filter(id__in=list(team_ids))
    if not available_profiles(now).exists():
        return result
    for team in teams:
        with transaction.atomic():
            waiting = list(
                Conversation.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(team=team, assignee__isnull=True, status__in=WAITING_STATUSES)
                .order_by(F("sla_due_at").asc(nulls_last=True), "id")[:BACKLOG_BATCH]
            )
            if waiting:
                done = conversations_assign(waiting, now=now)
                result.assigned += len(done)
                if done:
                    transaction.on_commit(lambda ids=[c.id for c in done]: realtime.conversations_changed(ids))
        if team.reassign_after_minutes:
            result.taken_back += _take_back(team, now)
    return result


def _take_back(team: Team, now: datetime) -> int:
    """Give to someone else each conversation whose assignee has not answered it within the
    team's ``reassign_after_minutes`` of receiving it (audited). One nobody else can take
    stays where it is."""
    limit = now - timedelta(minutes=team.reassign_after_minutes)
    answered = Message.objects.filter(
        conversation_id=OuterRef("pk"), direction=Message.Direction.OUTBOUND,
        author_user_id=OuterRef("assignee_id"), sent_at__gte=OuterRef("assigned_at"),
    )
    moved: list[tuple[Conversation, dict]] = []
    with transaction.atomic():
        stale = list(
            Conversation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(team=team, assignee__isnull=False, assigned_at__lte=limit, status__in=WAITING_STATUSES)
            .filter(~Exists(answered))
            .order_by(F("sla_due_at").asc(nulls_last=True), "id")[:BACKLOG_BATCH]
        )
        if not stale:
            return 0
        locked = Team.objects.select_for_update().get(pk=team.pk)
        pool = _pool(locked, now)
        cursor = locked.last_assigned_user_id
        for conversation in stale:
            previous = conversation.assignee_id
            officer = _choose(locked, conversation, pool, cursor, exclude=previous)
            if officer is None or not _claim(conversation, officer.id, now, previous=previous):
                continue
            officer.load[conversation.kind] = officer.load.get(conversation.kind, 0) + 1
            cursor = officer.id
            moved.append((conversation, {
                "team": team.id, "previous_assignee": previous, "assignee": officer.id,
                "reason": f"not answered within {team.reassign_after_minutes} minutes",
            }))
        if cursor != locked.last_assigned_user_id:
            Team.objects.filter(pk=team.pk).update(last_assigned_user_id=cursor)
        audit_record_many(None, "conversation.take_back", moved)
        if moved:
            transaction.on_commit(lambda ids=[c.id for c, _ in moved]: realtime.conversations_changed(ids))
    return len(moved)


def person_deactivate(*, actor, user) -> int:
    """Deactivate a person: they can no longer sign in, are given nothing more, and their
    open conversations go back to their teams' queues (audited); the backlog sweep gives
    them out again. Returns how many conversations were released."""
    now = timezone.now()
    with transaction.atomic():
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
        OfficerProfile.objects.filter(user_id=user.pk).update(
            status=OfficerProfile.Presence.OFFLINE, status_changed_at=now,
        )
        released = list(
            Conversation.objects.select_for_update(of=("self",))
            .filter(assignee_id=user.pk, status__in=LOAD_STATUSES).order_by("id")
        )
        Conversation.objects.filter(id__in=[c.id for c in released]).update(
            assignee=None, assigned_at=None, updated_at=now,
        )
        audit_record_many(actor, "conversation.assign", [
            (c, {"team": c.team_id, "previous_assignee": user.pk, "assignee": None, "by": "person deactivated"})
            for c in released
        ])
        audit_record(actor, "user.deactivate", user, released=len(released))
        ids = [c.id for c in released]
        if ids:
            transaction.on_commit(lambda: realtime.conversations_changed(ids))
    user.is_active = False
    return len(released)


class TakeRefused(Exception):
    """A "Take" that cannot be done; ``code``: ``taken`` (someone else holds it: ``holder``),
    ``closed`` (resolved or spam), ``capacity`` (the taker holds the team's capacity),
    ``forbidden`` (the taker may not answer for the team)."""

    def __init__(self, code: str, message: str, *, holder=None) -> None:
        super().__init__(message)
        self.code, self.message, self.holder = code, message, holder


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def conversation_take(*, conversation: Conversation, user) -> Conversation:
    """"Take" (assign to me) a conversation that nobody holds: a conditional UPDATE
    (``assignee IS NULL``, same team, still open), so of two officers who click at once one
    wins and the other is told who took it (``TakeRefused``, code ``taken``).

    Only for those who may answer for the conversation's team, and within the team's
    capacity for the conversation's kind (the taker's open conversations of that kind, over
    every team, as automatic assignment counts them; a supervisor can still give more by
    hand). The taker's own takes are serialised by a lock on their ``OfficerProfile`` row
    (the one automatic assignment takes), so two tabs, or a take and the backlog sweep,
    cannot both pass the capacity check. Audited (``conversation.take``)."""
    from django.utils.translation import gettext as _

    from inbox.permissions import REPLY, user_has_team_perm

    team = conversation.team
    if team is None or not user_has_team_perm(user, team, REPLY):
        raise TakeRefused("forbidden", _("You cannot work on this team's conversations."))
    now = timezone.now()
    with transaction.atomic():
        # The same row automatic assignment locks (SKIP LOCKED) before counting a load; a
        # user without a profile (an admin) locks their user row instead.
        if OfficerProfile.objects.select_for_update().filter(user_id=user.pk).values_list("pk").first() is None:
            get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk").first()
        capacity = _capacity(team, conversation.kind)
        held = Conversation.objects.filter(assignee_id=user.pk, kind=conversation.kind,
                                           status__in=LOAD_STATUSES).count()
        if held >= capacity:
            raise TakeRefused("capacity", _(
                "You already hold %(held)s open conversations of this kind; %(team)s gives an officer at "
                "most %(capacity)s. Finish one first, or ask a supervisor.")
                % {"held": held, "team": team.name, "capacity": capacity})
        claimed = Conversation.objects.filter(
            pk=conversation.pk, team_id=team.pk, assignee__isnull=True, status__in=LOAD_STATUSES,
        ).update(assignee_id=user.pk, assigned_at=now, updated_at=now)
        if not claimed:
            current = Conversation.objects.select_related("assignee").get(pk=conversation.pk)
            if current.assignee_id == user.pk:
                raise TakeRefused("taken", _("You already hold this conversation."), holder=user)
            if current.assignee_id is not None:
                raise TakeRefused("taken", _("%(name)s took this conversation first.")
                                  % {"name": _name(current.assignee)}, holder=current.assignee)
            if current.team_id != team.pk:
                raise TakeRefused("closed", _("This conversation has moved to another team."))
            raise TakeRefused("closed", _("This conversation is closed (%(status)s).")
                              % {"status": current.get_status_display().lower()})
        conversation.assignee, conversation.assigned_at, conversation.updated_at = user, now, now
        audit_record(user, "conversation.take", conversation, team=team.pk, assignee=user.pk,
                     held_before=held, capacity=capacity)
        transaction.on_commit(lambda: realtime.conversations_changed([conversation.pk]))
    return conversation


def team_queue_counts(team_ids: Sequence[int]) -> dict[int, int]:
    """Unassigned waiting conversations per team (the team pages show them)."""
    rows = (
        Conversation.objects.filter(team_id__in=list(team_ids), assignee__isnull=True, status__in=WAITING_STATUSES)
        .values("team_id").annotate(n=Count("id"))
    )
    return {row["team_id"]: row["n"] for row in rows}


__all__ = [
    "BacklogResult",
    "TakeRefused",
    "assign_backlog",
    "available_profiles",
    "conversation_take",
    "conversations_assign",
    "person_deactivate",
    "team_queue_counts",
]
