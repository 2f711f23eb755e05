"""The top bar's notifications panel (templates/base.html ``#notices``): the newest unread
notifications and how many there are, in one query per page (inbox/services/notifications.py)."""

from __future__ import annotations

from django import template

from inbox.services.notifications import notifications_unread_panel

register = template.Library()


@register.simple_tag
def notifications_panel(user) -> dict:
    if not user.is_authenticated:
        return {"items": [], "unread": 0}
    items, unread = notifications_unread_panel(user)
    return {"items": items, "unread": unread}
