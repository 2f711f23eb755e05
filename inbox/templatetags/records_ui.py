"""The public record in the page frame and on the conversation page (inbox/records/)."""

from __future__ import annotations

from django import template

from inbox.permissions import team_ids_for_user
from inbox.records.audit_trail import is_records_admin
from inbox.records.holds import conversation_hold

register = template.Library()


@register.simple_tag
def records_link(user) -> bool:
    """The top bar's "Public record": anyone who may export (a team's member, or an admin).
    The team ids are cached on the request's user: no query on most pages."""
    return bool(user.is_authenticated and (team_ids_for_user(user) or is_records_admin(user)))


@register.simple_tag
def records_admin(user) -> bool:
    return is_records_admin(user)


@register.simple_tag
def conversation_legal_hold(conversation):
    """The active hold on the conversation or its citizen's Person (one query)."""
    return conversation_hold(conversation)
