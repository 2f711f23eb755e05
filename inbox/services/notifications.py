"""Notifications an officer cannot miss (docs/working-faster.md, "Notifications").

Each is written in the transaction of the event that causes it — a note's mentions, a batch
of the SLA scan (one ``bulk_create`` per batch), a held reply approved or returned — so an
officer who was offline finds it on their next page. The socket message sent after commit
is only the live copy. Rows hold ids, names and figures; the line shown is made from them
in the reader's language (``Notification.text``), never from citizen words.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db.models import Count, QuerySet, Window
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from inbox.models import Conversation, Notification, OfficerProfile, ReplyDraft
from inbox.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

Kind = Notification.Kind
PANEL_SIZE = 20
RETENTION_DAYS = 30
EMAIL_TASK = "inbox.notifications_email"

# The SLA scan's events (routing/sla_scan.py) as notification kinds.
SLA_KINDS = {"warning": Kind.SLA_WARNING, "breach": Kind.SLA_BREACH, "escalation": Kind.ESCALATION}


def _display_name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


# --- Writes ----------------------------------------------------------------------------------


def notifications_for_mentions(*, user_ids: list[int], conversation: Conversation, author) -> list[Notification]:
    """The mentioned officers' notifications (inside the note's transaction); those who have
    no page open get an e-mail too, after commit, when an e-mail server is configured."""
    if not user_ids:
        return []
    now = timezone.now()
    rows = Notification.objects.bulk_create([
        Notification(recipient_id=user_id, kind=Kind.MENTION, conversation_id=conversation.pk,
                     actor=_display_name(author), created_at=now)
        for user_id in user_ids
    ])
    if settings.EMAIL_HOST:
        offline = _offline(user_ids, now)
        ids = [n.pk for n in rows if n.recipient_id in offline]
        if ids:
            enqueue_on_commit(EMAIL_TASK, ids)
    return rows


def notifications_for_sla_batch(by_user: dict[int, list[dict]], *, now=None) -> int:
    """One batch of the SLA scan: ``{user id: [item, ...]}`` as ``routing/sla_scan.py``
    gathers them (``conversation``, ``event``, ``percent``...). One INSERT for the batch."""
    now = now or timezone.now()
    rows = [
        Notification(recipient_id=user_id, kind=SLA_KINDS[item["event"]], conversation_id=item["conversation"],
                     percent=item.get("percent") if item["event"] != "breach" else None, created_at=now)
        for user_id, items in by_user.items() for item in items if item.get("event") in SLA_KINDS
    ]
    Notification.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def notification_for_draft(draft: ReplyDraft, *, reviewer) -> Notification | None:
    """The author hears that the supervisor approved or returned their reply (inside the
    review's transaction). A supervisor acting on their own draft is not told."""
    kind = {ReplyDraft.Status.APPROVED: Kind.DRAFT_APPROVED, ReplyDraft.Status.RETURNED: Kind.DRAFT_RETURNED}.get(
        draft.status)
    if kind is None or draft.author_id is None or draft.author_id == getattr(reviewer, "pk", None):
        return None
    return Notification.objects.create(recipient_id=draft.author_id, kind=kind, conversation_id=draft.conversation_id,
                                       actor=_display_name(reviewer))


def notifications_mark_read(user, *, ids: list[int] | None = None) -> int:
    """Mark the user's own unread notifications read (``ids``, or all); others' ids are
    ignored. Returns how many changed."""
    unread = Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(id__in=ids)
    return unread.update(read_at=timezone.now())


def notifications_expire(*, days: int = RETENTION_DAYS, now=None) -> int:
    """Delete read notifications older than ``days`` (beat, daily); unread ones stay."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _by_model = Notification.objects.filter(read_at__isnull=False, read_at__lt=cutoff).delete()
    return deleted


# --- Reads -----------------------------------------------------------------------------------


def notifications_for_user(user) -> QuerySet[Notification]:
    """The user's own notifications, newest first (nobody sees anyone else's)."""
    return Notification.objects.filter(recipient_id=user.pk).order_by("-created_at", "-id")


def notifications_unread_panel(user, *, limit: int = PANEL_SIZE) -> tuple[list[Notification], int]:
    """The top bar's newest unread notifications and how many are unread in all, in one
    query (a window count over the partial index ``notification_unread_idx``)."""
    rows = list(
        Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
        .only("id", "kind", "conversation_id", "actor", "percent", "created_at")
        .annotate(unread_total=Window(Count("id")))
        .order_by("-created_at", "-id")[:limit]
    )
    return rows, (rows[0].unread_total if rows else 0)


# --- E-mail ----------------------------------------------------------------------------------


def _offline(user_ids: list[int], now) -> set[int]:
    """Who has no page open: no heartbeat within ``PRESENCE_TIMEOUT_SECONDS`` (an open page
    sends one, whatever presence the officer chose)."""
    recent = now - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)
    online = set(OfficerProfile.objects.filter(user_id__in=user_ids, last_seen_at__gte=recent)
                 .values_list("user_id", flat=True))
    return set(user_ids) - online


def notifications_email(notification_ids: list[int]) -> int:
    """E-mail these notifications, one message per recipient, in the recipient's interface
    language (as the SLA scan's e-mails are: routing/sla_scan.py). Only unread ones: one read
    meanwhile needs no e-mail. Returns how many e-mails were sent."""
    if not settings.EMAIL_HOST:
        return 0
    by_user: dict[int, list[Notification]] = {}
    for n in Notification.objects.filter(id__in=notification_ids, read_at__isnull=True).order_by("id"):
        by_user.setdefault(n.recipient_id, []).append(n)
    users = {u.id: u for u in get_user_model().objects.filter(id__in=list(by_user), is_active=True).exclude(email="")}
    languages = dict(OfficerProfile.objects.filter(user_id__in=list(users))
                     .values_list("user_id", "interface_language"))
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    mails = []
    for user_id, items in by_user.items():
        user = users.get(user_id)
        if user is None:
            continue
        with translation.override(languages.get(user_id) or settings.LANGUAGE_CODE):
            subject = items[0].text if len(items) == 1 else _("%(n)s notifications in Citizen Inbox") % {
                "n": len(items)}
            body = "\n".join(
                f"{n.text}: {base}{reverse('inbox:conversation', args=[n.conversation_id])}" for n in items
            )
        mails.append((subject, body, None, [user.email]))
    try:
        return send_mass_mail(mails, fail_silently=False)
    except Exception:  # a courtesy: the notification waits in the top bar
        logger.exception("notifications: e-mails failed")
        return 0

