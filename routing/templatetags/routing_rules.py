"""Presentation of routing rules and traces: readable conditions and actions, the trace
of a conversation, and whether the top bar shows "Routing rules"."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from inbox.api.permissions import sees_channel_accounts
from inbox.permissions import can_manage_channels
from routing.models import RoutingTrace

register = template.Library()

PRIORITY_NAMES = {0: "low", 1: "normal", 2: "high", 3: "urgent"}


def _field_label(name: str) -> str:
    return {
        "platform": _("platform"), "account": _("account"), "kind": _("kind"),
        "first_message": _("first message"), "text": _("words"), "language": _("language"),
        "contact_verified": _("verified"), "contact_followers": _("followers"),
        "contact_list": _("list"), "service_hours": _("service hours"), "has_attachment": _("attachment"),
    }.get(name, name)


def _value(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    return str(value)


@register.filter
def condition_label(condition: dict) -> str:
    """``language = ca``, ``words (escombraries, residus)``, ``followers ≥ 1000``."""
    field, op, value = condition.get("field", ""), condition.get("op", ""), condition.get("value")
    if field == "text" and op == "matches":
        return _("text matches /%(pattern)s/") % {"pattern": value}
    if field == "text":
        return _("words (%(words)s)") % {"words": _value(value)}
    if op == "gte":
        return f"{_field_label(field)} ≥ {value}"
    return f"{_field_label(field)} = {_value(value)}"


@register.filter
def action_label(action: dict) -> str:
    kind = action.get("type")
    if kind == "route_to_team":
        return "→ " + (action.get("team_name") or action.get("team", ""))
    if kind == "set_priority":
        return _("priority %(value)s") % {"value": action.get("value")}
    if kind == "add_tags":
        return _("tags %(tags)s") % {"tags": _value(action.get("tags", []))}
    if kind == "assign_to":
        return _("assign to %(user)s") % {"user": action.get("user")}
    if kind == "auto_reply":
        return _("automatic reply #%(id)s") % {"id": action.get("saved_reply")}
    if kind == "mark_spam":
        return _("mark as spam")
    if kind == "apply_sla_policy":
        return _("SLA policy #%(id)s") % {"id": action.get("policy")}
    return str(kind)


@register.filter
def conditions_summary(node, top: str = "") -> str:
    """A one-line reading of a condition tree, for the list of rules (``top``: no outer
    parentheses)."""
    if not node:
        return _("every message")
    if "field" in node:
        return condition_label(node)
    for kind, joiner in (("all", _(" and ")), ("any", _(" or "))):
        if kind in node:
            parts = [conditions_summary(c) for c in node[kind]]
            text = joiner.join(parts)
            return f"({text})" if len(parts) > 1 and not top else text
    if "not" in node:
        return _("not %(condition)s") % {"condition": conditions_summary(node["not"])}
    return ""


@register.simple_tag
def latest_trace(conversation):
    """The latest trace of the conversation (one query; none when no rule was tried)."""
    return RoutingTrace.objects.filter(conversation_id=conversation.pk).order_by("-evaluated_at", "-id").first()


@register.simple_tag
def routing_traces(conversation, limit: int = 3) -> list:
    """The evaluations worth showing on the conversation page (one query): the latest ones
    in which a rule matched (the first message's routing, a follow-up that re-routed or
    raised the priority), newest first; when none matched, the latest evaluation."""
    recent = list(RoutingTrace.objects.filter(conversation_id=conversation.pk).order_by("-evaluated_at", "-id")[:20])
    return [t for t in recent if t.matches][:limit] or recent[:1]


@register.simple_tag
def rules_link(user) -> bool:
    return can_manage_channels(user) or sees_channel_accounts(user)
