"""The "Take" button of the queue rows and the conversation page (routing/take.py)."""

from __future__ import annotations

from django import template

from inbox.models import Conversation
from inbox.permissions import REPLY, VIEW_QUEUE, team_ids_for_user

register = template.Library()


@register.filter
def takeable(conversation: Conversation, user) -> bool:
    """Nobody holds it, it is open, and ``user`` may work on its team.

    Without a query per page: the teams ``user`` may answer for when this request already
    read them, else the teams whose queue the page is showing (read by the queue view; every
    role that sees a queue may answer for it, and the take itself checks the permission)."""
    if not (conversation.assignee_id is None and conversation.team_id is not None
            and conversation.status in Conversation.ACTIVE_STATUSES and getattr(user, "is_authenticated", False)):
        return False
    team_ids = getattr(user, f"_team_ids_{REPLY}", None)
    if team_ids is None:
        team_ids = getattr(user, f"_team_ids_{VIEW_QUEUE}", None)
    if team_ids is None:
        team_ids = team_ids_for_user(user, REPLY)
    return conversation.team_id in team_ids
