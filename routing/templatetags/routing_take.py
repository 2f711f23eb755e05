"""The "Take" button of the queue rows and the conversation page (routing/take.py)."""

from __future__ import annotations

from django import template

from inbox.models import Conversation
from inbox.permissions import REPLY, VIEW_QUEUE, team_ids_for_user

register = template.Library()


def take_team_ids(user) -> list[int] | None:
    """The teams whose conversations ``user`` may be offered to take (None: signed out).

    Without a query per page: the teams ``user`` may answer for when this request already
    read them, else the teams whose queue the page is showing (read by the queue view; every
    role that sees a queue may answer for it, and the take itself checks the permission)."""
    if not getattr(user, "is_authenticated", False):
        return None
    team_ids = getattr(user, f"_team_ids_{REPLY}", None)
    if team_ids is None:
        team_ids = getattr(user, f"_team_ids_{VIEW_QUEUE}", None)
    if team_ids is None:
        team_ids = team_ids_for_user(user, REPLY)
    return team_ids


def can_take(conversation: Conversation, team_ids) -> bool:
    """Nobody holds it, it is open, and it is in one of ``team_ids`` (from take_team_ids)."""
    return (team_ids is not None and conversation.assignee_id is None and conversation.team_id is not None
            and conversation.status in Conversation.ACTIVE_STATUSES and conversation.team_id in team_ids)


@register.filter
def takeable(conversation: Conversation, user) -> bool:
    """The Take button's test for one conversation (the queue's rows: inbox/queue_rows.py)."""
    return can_take(conversation, take_team_ids(user))
