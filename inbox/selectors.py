"""Reads. Every query of conversations starts from ``conversations_for_user``."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils.dateparse import parse_datetime

from inbox.limits import QUEUE_STATUSES, SEARCH_MAX_LENGTH, SEARCH_MIN_LENGTH, status_filter_q
from inbox.models import Contact, Conversation, Message, MessageRevision
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
    search: str = ""  # citizen name or handle, text, subject, or a reference (#123)


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
    woken: list[Conversation] = []
    if f.status == "active" and not f.search:
        # Conversations that woke from a snooze come first until an officer acts on them
        # (inbox/services/snooze.py); they are left out of the pages below, so never twice.
        if not cursor:
            woken = list(_queue_rows(qs.filter(woken_at__isnull=False)).order_by("-woken_at", "-id")[:size])
        qs = qs.filter(woken_at__isnull=True)
    if cursor:
        at, pk = cursor
        qs = qs.filter(Q(last_inbound_at__lt=at) | Q(last_inbound_at=at, id__lt=pk))
    rows = list(_queue_rows(qs).order_by("-last_inbound_at", "-id")[: size + 1])
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = f"{last.last_inbound_at.isoformat()}|{last.id}"
    return woken + rows, next_cursor


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
    qs = qs.filter(status_filter_q(f.status))
    if f.search:
        qs = qs.filter(conversation_search_q(f.search))
    if f.platform:
        qs = qs.filter(account__platform=f.platform)
    if f.sla in SLA_FILTERS:
        qs = qs.filter(sla_state=f.sla)
    return qs


SEARCHED_DIRECTIONS = (Message.Direction.INBOUND, Message.Direction.OUTBOUND)
MAX_REFERENCE = 2**63 - 1
# A text search first asks the trigram indexes for at most this many matching rows (subject,
# citizen, messages; the matching conversations of every team). Up to this many, the queue's
# query looks those conversations up by primary key; beyond it the term is common and the
# queue's own ordered index is walked instead, testing each conversation until a page is full.
SEARCH_CANDIDATES = 500


def search_reference(text: str) -> int | None:
    """The conversation number a search is, if it is one (``#123`` or ``123``)."""
    reference = " ".join(text.split()).removeprefix("#")
    if reference.isdigit() and 0 < int(reference) <= MAX_REFERENCE:
        return int(reference)
    return None


def conversation_search_q(text: str) -> Q:
    """What the queue's search box and the API's ``?search=`` find (one definition).

    A reference (``#123`` or ``123``) finds that conversation, by primary key, and nothing
    else; text of at least ``SEARCH_MIN_LENGTH`` characters is looked for,
    case-insensitively, in the citizen's name and handle, the subject and every message to
    or from the citizen (notes are internal and not searched). Text too short to search
    matches nothing.

    The condition is only ever combined with the queue's own filters (``conversations_for_user``
    above all), so nothing outside them can be found; how it is written is about speed
    (docs/benchmarks.md, "Queue page"). The matching conversation ids are read from the
    trigram indexes (migration 0016), one ``UNION ALL`` branch per column — never an ``OR``
    across joined tables, which no index serves — at most ``SEARCH_CANDIDATES`` rows. When
    that is all of them (a rare word, a handle, a name), the condition is those ids and the
    page is a primary-key look-up; when there are more (a common word), the condition is the
    ``IN (subquery)`` form, which PostgreSQL answers by walking the queue in its order and
    stopping at a full page.
    """
    reference = search_reference(text)
    if reference is not None:
        return Q(pk=reference)
    text = " ".join(text.split())[:SEARCH_MAX_LENGTH]
    if len(text) < SEARCH_MIN_LENGTH:
        return Q(pk__in=[])
    handle = text.removeprefix("@") or text
    by_subject = Conversation.objects.filter(subject__icontains=text).values_list("id")
    by_name = Conversation.objects.filter(contact__name__icontains=text).values_list("id")
    by_handle = Conversation.objects.filter(contact__handle__icontains=handle).values_list("id")
    by_text = Message.objects.filter(
        direction__in=SEARCHED_DIRECTIONS, text__icontains=text).values_list("conversation_id")
    candidates = by_subject.order_by().union(
        by_name.order_by(), by_handle.order_by(), by_text.order_by(), all=True)[: SEARCH_CANDIDATES + 1]
    with _serial_plan():
        rows = list(candidates)
    if len(rows) <= SEARCH_CANDIDATES:
        return Q(pk__in=sorted({row[0] for row in rows}))
    # The citizens are looked up apart, one index each (as a subquery of the page, an OR of
    # name and handle was planned as a scan of every contact); usually they are few.
    contacts: list[int] | QuerySet = list(
        Contact.objects.filter(name__icontains=text).values_list("id", flat=True).order_by()
        .union(Contact.objects.filter(handle__icontains=handle).values_list("id", flat=True).order_by(), all=True)
        [: SEARCH_CANDIDATES + 1]
    )
    if len(contacts) > SEARCH_CANDIDATES:
        contacts = Contact.objects.filter(Q(name__icontains=text) | Q(handle__icontains=handle)).values("id")
    messages = Message.objects.filter(direction__in=SEARCHED_DIRECTIONS, text__icontains=text).values(
        "conversation_id")
    return Q(subject__icontains=text) | Q(contact_id__in=contacts) | Q(pk__in=messages)


@contextmanager
def _serial_plan():
    """PostgreSQL plans the candidates' four small index scans as a parallel append; starting
    the workers costs more than the scans (twice the time on a busy machine)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")


def _parse_cursor(raw: str) -> tuple[datetime, int] | None:
    if not raw or "|" not in raw:
        return None
    at_raw, _, pk_raw = raw.rpartition("|")
    at = parse_datetime(at_raw)
    if at is None or not pk_raw.isdigit():
        return None
    return at, int(pk_raw)


def conversation_timeline(conversation: Conversation) -> list[Message]:
    """The messages, oldest first, each with ``revision_list`` (its edits, oldest first).

    The revisions are read in one query and attached by hand: ``prefetch_related`` clones a
    queryset per message to fill its cache, a fifth of a 200-message page's time
    (bench/conversation_page.py)."""
    messages = list(
        conversation.messages.select_related("author_contact", "author_user").order_by("sent_at", "id")
    )
    by_message: dict[int, list[MessageRevision]] = {}
    if messages:
        for revision in MessageRevision.objects.filter(message__conversation_id=conversation.pk).order_by(
            "occurred_at", "id"
        ):
            by_message.setdefault(revision.message_id, []).append(revision)
    for message in messages:
        message.revision_list = by_message.get(message.id, [])
    return messages


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
    """Active conversations in the user's three queues (one query); snoozed ones wait outside."""
    qs = conversations_for_user(user).filter(status__in=QUEUE_STATUSES)
    return qs.aggregate(
        mine=Count("id", filter=Q(assignee=user)),
        team=Count("id"),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
    )
