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
        "account", "contact", "contact__person", "team", "assignee"
    ).get(pk=pk)


@dataclass(frozen=True)
class QueueFilter:
    view: str = "team"  # mine, team, unassigned, all
    team_id: int | None = None
    status: str = "active"  # active, or one Conversation.Status value
    platform: str = ""
    before: str = ""  # keyset cursor "<iso last_inbound_at>|<id>"


def queue_page(user, f: QueueFilter, *, size: int = QUEUE_PAGE_SIZE) -> tuple[list[Conversation], str]:
    """One page of a queue, newest citizen activity first, and the cursor of the next page.

    Keyset pagination: the cost of a page does not grow with the queue.
    """
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
    cursor = _parse_cursor(f.before)
    if cursor:
        at, pk = cursor
        qs = qs.filter(Q(last_inbound_at__lt=at) | Q(last_inbound_at=at, id__lt=pk))
    rows = list(
        qs.select_related("account", "contact", "team", "assignee")
        .prefetch_related("tags")
        .order_by("-last_inbound_at", "-id")[: size + 1]
    )
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = f"{last.last_inbound_at.isoformat()}|{last.id}"
    return rows, next_cursor


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
