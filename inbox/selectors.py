"""Reads. Every query of conversations starts from ``conversations_for_user``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.dateparse import parse_datetime

from inbox.models import Conversation, Message, MessageRevision
from inbox.permissions import sees_unrouted, team_ids_for_user

QUEUE_PAGE_SIZE = 50


def conversations_for_user(user) -> QuerySet[Conversation]:
    """The one filter that UI and API share: another team's conversation does not exist."""
    if not user.is_authenticated:
        return Conversation.objects.none()
    visible = Q(team_id__in=team_ids_for_user(user))
    if sees_unrouted(user):
        visible |= Q(team__isnull=True)
    return Conversation.objects.filter(visible)


def conversation_for_user(user, pk: int) -> Conversation:
    """Raises Conversation.DoesNotExist (a 404) for conversations the user may not see."""
    return conversations_for_user(user).select_related(
        "account", "account__calendar", "contact", "contact__person", "team", "assignee"
    ).get(pk=pk)


@dataclass(frozen=True)
class QueueFilter:
    view: str = "team"  # mine, team, unassigned, all
    team_id: int | None = None
    status: str = "active"  # active, or one Conversation.Status value
    platform: str = ""
    before: str = ""  # keyset cursor "<iso last_inbound_at>|<id>", or "due:<iso sla_due_at or ->|<id>"
    ordering: str = "recent"  # recent (newest citizen activity first) or due (most urgent first)
    sla: str = ""  # "", at_risk or breached (Conversation.sla_state)


SLA_FILTERS = ("at_risk", "breached")
NO_DUE = "-"


def queue_page(user, f: QueueFilter, *, size: int = QUEUE_PAGE_SIZE) -> tuple[list[Conversation], str]:
    """One page of a queue and the cursor of the next page: newest citizen activity first,
    or by due time (the current SLA target's, soonest first; those without a running target
    after them).

    Keyset pagination: the cost of a page does not grow with the queue.
    """
    qs = _queue_queryset(user, f)
    if f.ordering == "due":
        return _queue_page_by_due(qs, f.before, size)
    cursor = _parse_cursor(f.before)
    if cursor:
        at, pk = cursor
        qs = qs.filter(Q(last_inbound_at__lt=at) | Q(last_inbound_at=at, id__lt=pk))
    rows = list(_queue_rows(qs).order_by("-last_inbound_at", "-id")[: size + 1])
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = f"{last.last_inbound_at.isoformat()}|{last.id}"
    return rows, next_cursor


def _queue_rows(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    return qs.select_related("account", "account__calendar", "contact", "team", "assignee").prefetch_related("tags")


def _queue_page_by_due(qs: QuerySet[Conversation], before: str, size: int) -> tuple[list[Conversation], str]:
    """Due soonest first (``sla_due_at, id``), then the conversations without a due time by id.

    Two index ranges rather than one ``OR`` (which PostgreSQL cannot walk as a range): the
    rows with a due time after the cursor, then — only when they do not fill the page — the
    rows without one. ``sla_due_at`` is indexed with ``id`` for the active statuses.
    """
    cursor = _parse_due_cursor(before)
    rows: list[Conversation] = []
    if cursor is None or cursor[0] is not None:
        timed = qs.filter(sla_due_at__isnull=False)
        if cursor is not None:
            due, pk = cursor
            # The redundant lower bound gives the planner the range's start.
            timed = timed.filter(sla_due_at__gte=due).filter(Q(sla_due_at__gt=due) | Q(id__gt=pk))
        rows = list(_queue_rows(timed).order_by("sla_due_at", "id")[: size + 1])
    if len(rows) <= size:
        untimed = qs.filter(sla_due_at__isnull=True)
        if cursor is not None and cursor[0] is None:
            untimed = untimed.filter(id__gt=cursor[1])
        rows += list(_queue_rows(untimed).order_by("id")[: size + 1 - len(rows)])
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        due = last.sla_due_at.isoformat() if last.sla_due_at is not None else NO_DUE
        next_cursor = f"due:{due}|{last.id}"
    return rows, next_cursor


def _parse_due_cursor(raw: str) -> tuple[datetime | None, int] | None:
    if not raw.startswith("due:") or "|" not in raw:
        return None
    due_raw, _, pk_raw = raw[4:].rpartition("|")
    if not pk_raw.isdigit():
        return None
    if due_raw == NO_DUE:
        return None, int(pk_raw)
    due = parse_datetime(due_raw)
    return (due, int(pk_raw)) if due is not None else None


def _queue_queryset(user, f: QueueFilter) -> QuerySet[Conversation]:
    qs = conversations_for_user(user)
    if f.view == "mine":
        qs = qs.filter(assignee=user)
    elif f.view == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    if f.team_id:
        qs = qs.filter(team_id=f.team_id)
    if f.status == "active":
        qs = qs.filter(status__in=Conversation.ACTIVE_STATUSES)
    elif f.status in Conversation.Status.values:
        qs = qs.filter(status=f.status)
    if f.platform:
        qs = qs.filter(account__platform=f.platform)
    if f.sla in SLA_FILTERS:
        qs = qs.filter(sla_state=f.sla)
    return qs


def _parse_cursor(raw: str) -> tuple[datetime, int] | None:
    if not raw or "|" not in raw:
        return None
    at_raw, _, pk_raw = raw.rpartition("|")
    at = parse_datetime(at_raw)
    if at is None or not pk_raw.isdigit():
        return None
    return at, int(pk_raw)


def conversation_timeline(conversation: Conversation) -> list[Message]:
    return list(
        conversation.messages.select_related("author_contact", "author_user")
        .prefetch_related(Prefetch("revisions", queryset=MessageRevision.objects.order_by("occurred_at", "id")))
        .order_by("sent_at", "id")
    )


def contact_history(user, conversation: Conversation, *, limit: int = 10) -> list[Conversation]:
    """The citizen's earlier conversations the user may see, across platforms if linked."""
    if conversation.contact.person_id:
        who = Q(contact__person_id=conversation.contact.person_id)
    else:
        who = Q(contact_id=conversation.contact_id)
    return list(
        conversations_for_user(user).filter(who).exclude(pk=conversation.pk)
        .select_related("account").order_by("-created_at")[:limit]
    )


def queue_counts(user) -> dict[str, int]:
    """Active conversations in the user's three queues (one query)."""
    qs = conversations_for_user(user).filter(status__in=Conversation.ACTIVE_STATUSES)
    return qs.aggregate(
        mine=Count("id", filter=Q(assignee=user)),
        team=Count("id"),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
    )
