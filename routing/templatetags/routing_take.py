"""The "Take" button of the queue rows and the conversation page (routing/take.py)."""

from __future__ import annotations

from django import template

from inbox.models import Conversation
from inbox.permissions import REPLY, team_ids_for_user

register = template.Library()


@register.filter
def takeable(conversation: Conversation, user) -> bool:
    """Nobody holds it, it is open, and ``user`` may answer for its team (the team ids are
    read once per request: ``team_ids_for_user`` caches them on the user)."""
    return (
        conversation.assignee_id is None and conversation.team_id is not None
        and conversation.status in Conversation.ACTIVE_STATUSES
        and getattr(user, "is_authenticated", False)
        and conversation.team_id in team_ids_for_user(user, REPLY)
    )
