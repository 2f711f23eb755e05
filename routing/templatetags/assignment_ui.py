"""The top bar's presence control and teams link; the conversation page's "move to team"."""

from __future__ import annotations

from django import template
from django.conf import settings

from inbox.models import OfficerProfile
from inbox.permissions import SUPERVISE, can_manage_channels, teams_for_user, user_has_team_perm
from routing.presence import presence_of

register = template.Library()


@register.inclusion_tag("routing/_presence_control.html", takes_context=True)
def presence_control(context):
    user = context["user"]
    profile = OfficerProfile.objects.filter(user=user).first()
    return {
        "user": user, "csrf_token": context.get("csrf_token"), "request": context.get("request"),
        "presence": presence_of(profile), "choices": OfficerProfile.Presence.choices,
        "heartbeat_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
    }


@register.simple_tag
def teams_link(user) -> bool:
    """Teams and people are managed by admins."""
    return can_manage_channels(user)


@register.inclusion_tag("routing/_move_team.html", takes_context=True)
def move_team_control(context, conversation):
    user = context["user"]
    may = conversation.team_id is not None and user_has_team_perm(user, conversation.team, SUPERVISE)
    teams = list(teams_for_user(user, SUPERVISE).exclude(pk=conversation.team_id).only("id", "name")) if may else []
    return {"conversation": conversation, "teams": teams, "csrf_token": context.get("csrf_token")}
