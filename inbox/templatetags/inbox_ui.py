"""Small presentation helpers for the officer UI. Nothing here marks citizen text safe."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_adapters.registry import platform_label as registry_platform_label
from inbox.models import Conversation

register = template.Library()


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return _("%(m)s min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if hours < 6 and minutes:
            return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
        return _("%(h)s h") % {"h": hours}
    days, hours = divmod(hours, 24)
    return _("%(d)s d %(h)s h") % {"d": days, "h": hours} if days < 3 and hours else _("%(d)s d") % {"d": days}


@register.filter
def ago(value: datetime | None) -> str:
    """Compact relative time ("12 min ago", "3 h ago", "in 20 min") for dense lists."""
    if value is None:
        return ""
    delta = timezone.now() - value
    if abs(delta) < timedelta(minutes=1):
        return _("just now")
    if delta < timedelta(0):
        return _("in %(span)s") % {"span": _span(-delta)}
    return _("%(span)s ago") % {"span": _span(delta)}


@register.filter
def duration(value: timedelta | None) -> str:
    return _span(value) if value is not None else ""


@register.filter
def duration_minutes(value: int | None) -> str:
    return _span(timedelta(minutes=int(value))) if value is not None else ""


def first_response_due_at(conversation: Conversation) -> datetime | None:
    """When the first answer is due, or None if it is not owed (answered, closed, no message).

    The stored due time (routing.sla keeps it, in the channel's business time: docs/sla.md).
    """
    if conversation.first_response_at is not None or conversation.first_response_kind:
        return None
    if conversation.status not in Conversation.ACTIVE_STATUSES:
        return None
    return conversation.first_response_due_at


@register.filter
def first_response_due(conversation: Conversation) -> datetime | None:
    return first_response_due_at(conversation)


@register.filter
def first_response_overdue(conversation: Conversation) -> bool:
    due = first_response_due_at(conversation)
    # The scan marks a breach within a minute; the due time says so at once.
    return due is not None and (conversation.sla_state == "breached" or due < timezone.now())


# routing/services.py stores these two values in Conversation.routed_by (a rule stores its name).
ROUTED_BY_LABELS = {
    "channel account default team": gettext_lazy("the channel account's default team"),
    "fallback team": gettext_lazy("the fallback team"),
}


@register.filter
def routed_by_label(value: str) -> str:
    """Conversation.routed_by in the reader's language where it is one of the fixed values."""
    return str(ROUTED_BY_LABELS.get(value, value))


@register.filter
def platform_label(platform: str) -> str:
    return registry_platform_label(platform)


@register.filter
def http_url(url: str) -> str:
    """Citizen-supplied links are shown only if they are http(s): no javascript: or data: URLs.

    A path on this site (an adapter's file view, ``/channels/telegram/files/...``) is shown
    too; ``//host`` and ``/\\host`` are other hosts to a browser, so they are not."""
    if not isinstance(url, str):
        return ""
    if url.startswith("/") and not url.startswith(("//", "/\\")) and not any(c.isspace() for c in url):
        return url
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""
    return url.strip() if scheme in ("http", "https") else ""


@register.filter
def initials(name: str) -> str:
    parts = [p for p in str(name or "").replace("@", " ").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


@register.filter
def user_label(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
