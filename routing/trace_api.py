"""The routing trace as the API shows it (each conversation's ``routing_trace``).

Its own module: ``inbox/api/serializers.py`` imports it, and ``routing/rules_api.py`` imports
``routing/api.py``, which imports those serializers.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from routing.models import RoutingTrace


class RoutingTraceSerializer(serializers.ModelSerializer):
    tried = serializers.JSONField(help_text=_("[[rule id, version, matched], ...] in the order tried."))
    matches = serializers.JSONField(help_text=_(
        "For each rule that matched: rule, version, name, mode, stop, conditions (path, field, op, value, "
        "result) and actions (with status done, shadow, skipped or overridden)."))
    outcome = serializers.JSONField(help_text=_("Where routing put the conversation: team, team_name, "
                                                "routed_by, priority, status, assignee."))

    class Meta:
        model = RoutingTrace
        fields = ["evaluated_at", "message", "tried", "matches", "outcome"]
        read_only_fields = fields
