"""Presentation helpers of the service-hours pages and the SLA countdown."""

from __future__ import annotations

from django import template
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from inbox.models import Conversation
from inbox.permissions import ADMIN, SUPERVISOR, role_names
from routing.models import SlaPolicy

register = template.Library()


@register.filter
def weekday_short(value: int) -> str:
    names = (pgettext("weekday", "Mon"), pgettext("weekday", "Tue"), pgettext("weekday", "Wed"),
             pgettext("weekday", "Thu"), pgettext("weekday", "Fri"), pgettext("weekday", "Sat"),
             pgettext("weekday", "Sun"))
    try:
        return names[int(value)]
    except (TypeError, ValueError, IndexError):
        return ""


@register.filter
def seconds_span(value: int | float | None) -> str:
    """Business time as "1 h 12 min" (minutes rounded down; under a minute: "< 1 min")."""
    if value is None:
        return ""
    minutes = int(abs(value) // 60)
    if minutes < 1:
        return _("< 1 min")
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return _("%(m)s min") % {"m": minutes}
    if not minutes:
        return _("%(h)s h") % {"h": hours}
    return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}


@register.filter
def priority_label(value) -> str:
    try:
        return str(Conversation.Priority(int(value)).label)
    except (TypeError, ValueError):
        return ""


@register.filter
def escalation_label(value: str) -> str:
    try:
        return str(SlaPolicy.Action(value).label)
    except ValueError:
        return value


@register.simple_tag
def service_hours_link(user) -> bool:
    """Whether the top bar links to the service-hours pages: admins and supervisors (by role,
    read once per request and cached on the user; the pages check again)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or role_names(user) & {SUPERVISOR, ADMIN})


@register.filter
def epoch_ms(value) -> str:
    """An aware datetime as milliseconds since the epoch (for the browser's tick), or ""."""
    return str(round(value.timestamp() * 1000)) if value is not None else ""


def _what(kind: str) -> str:
    return {
        "first_response": _("First answer"),
        "next_response": _("Next answer"),
        "substantive": _("Full answer"),
        "resolution": _("Resolution"),
    }.get(kind, _("Answer"))


@register.simple_tag
def countdown_texts(countdown) -> dict:
    """The countdown's sentences with a ``{span}`` placeholder (the browser fills it as it
    ticks), and the sentence as rendered now."""
    what = _what(countdown.kind)
    texts = {
        "due": _("%(what)s due in {span} of service time") % {"what": what},
        "over": _("%(what)s overdue by {span} of service time") % {"what": what},
        "paused": _("%(what)s: clock paused while waiting on the citizen · {span} of service time left")
        % {"what": what},
    }
    if countdown.state == "paused":
        key = "paused"
    elif countdown.remaining < 0:
        key = "over"
    else:
        key = "due"
    texts["now"] = texts[key].replace("{span}", seconds_span(countdown.remaining))
    return texts


@register.filter(expects_localtime=True)
def due_short(value) -> str:
    """"14:30" today, "Mon 9:30" within the week, "24 Nov 9:30" further."""
    if value is None:
        return ""
    days = (value.date() - timezone.localdate()).days
    fmt = "H:i" if days == 0 else "D H:i" if -6 <= days <= 6 else "j M H:i"
    return dateformat.format(value, fmt)
