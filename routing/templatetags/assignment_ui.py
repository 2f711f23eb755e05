"""The top bar's presence control and teams link; the conversation page's "move to team"."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.translation import gettext as _

from inbox.models import OfficerProfile
from inbox.permissions import (
    ADMIN,
    OFFICER,
    SUPERVISE,
    SUPERVISOR,
    can_manage_channels,
    team_ids_for_user,
    teams_for_user,
)

register = template.Library()


@register.inclusion_tag("routing/_presence_control.html", takes_context=True)
def presence_control(context):
    """Rendered without a query: the page's first heartbeat (at once) shows the status."""
    return {
        "csrf_token": context.get("csrf_token"), "request": context.get("request"),
        "choices": OfficerProfile.Presence.choices, "heartbeat_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
    }


@register.simple_tag
def teams_link(user) -> bool:
    """Teams and people are managed by admins."""
    return can_manage_channels(user)


@register.inclusion_tag("routing/_move_team.html", takes_context=True)
def move_team_control(context, conversation):
    user = context["user"]
    # The team ids are cached on the request's user: no query for those who do not supervise.
    may = conversation.team_id is not None and conversation.team_id in team_ids_for_user(user, SUPERVISE)
    teams = list(teams_for_user(user, SUPERVISE).exclude(pk=conversation.team_id).only("id", "name", "slug")) if may else []
    return {"conversation": conversation, "teams": teams, "csrf_token": context.get("csrf_token")}


@register.filter
def role_label(group_name: str) -> str:
    """A role group's name, for people to read (the group names are the code's)."""
    return {OFFICER: _("Officer"), SUPERVISOR: _("Supervisor"), ADMIN: _("Admin")}.get(group_name, group_name)
