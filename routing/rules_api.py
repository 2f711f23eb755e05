"""API of routing rules: ``/api/v1/routing-rules/`` (admins write, supervisors read), the
dry run, versions and moves; and the trace each conversation carries (docs/routing.md).

Mounted from ``inbox/api/urls.py``. A malformed rule is a 400 whose key is the path of the
error: ``{"conditions.all[1].value": ["A non-empty list is required."]}``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from routing.api import AdminsWriteSupervisorsRead
from routing.models import RoutingRule, RoutingRuleVersion
from routing.rules import RuleInvalid, rule_validate
from routing.rules_services import (
    rule_delete,
    rule_dry_run,
    rule_move,
    rule_save,
    rules_with_problems,
)

CONDITIONS_HELP = _(
    "A tree of {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} and conditions "
    "{\"field\", \"op\", \"value\"}. Fields: platform (in), account (in, ids), kind (in: mention, comment, "
    "reply, dm, email), first_message (is), text (contains_any: words or phrases, case- and "
    "accent-insensitive, whole words; matches: a regular expression), language (in), contact_verified (is), "
    "contact_followers (gte), contact_list (in, slugs), service_hours (is: inside/outside), "
    "has_attachment (is). {} matches every message."
)
ACTIONS_HELP = _(
    "A list of {\"type\": ...}: route_to_team {team: slug}, set_priority {value: low|normal|high|urgent}, "
    "add_tags {tags: [names]}, assign_to {user: username}, auto_reply {saved_reply: id, delay_minutes}, "
    "mark_spam, apply_sla_policy {policy: id}."
)


def _errors(exc: RuleInvalid) -> serializers.ValidationError:
    return serializers.ValidationError({exc.path: [exc.message]})


@extend_schema_field(OpenApiTypes.OBJECT)
class ConditionsField(serializers.JSONField):
    pass


@extend_schema_field({"type": "array", "items": {"type": "object"}})
class ActionsField(serializers.JSONField):
    pass


class RuleBodySerializer(serializers.Serializer):
    """What a rule says (the body of a save and of a dry run)."""

    conditions = ConditionsField(required=False, default=dict, help_text=CONDITIONS_HELP)
    actions = ActionsField(required=False, default=list, help_text=ACTIONS_HELP)

    def validate(self, attrs):
        conditions = attrs.get("conditions", getattr(self.instance, "conditions", {}))
        actions = attrs.get("actions", getattr(self.instance, "actions", []))
        try:
            rule_validate(conditions, actions)
        except RuleInvalid as exc:
            raise _errors(exc) from exc
        return attrs


class RoutingRuleSerializer(RuleBodySerializer, serializers.ModelSerializer):
    # null once the user is deleted (SET_NULL), or for a rule made by a migration or a command
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reason = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=300,
                                   help_text=_("Why this change (kept with the version)."))
    problems = serializers.SerializerMethodField(
        help_text=_("What the rule names that no longer exists: those actions are skipped."))

    class Meta:
        model = RoutingRule
        fields = ["id", "name", "position", "enabled", "mode", "stop", "conditions", "actions", "version",
                  "created_by", "updated_by", "created_at", "updated_at", "reason", "problems"]
        read_only_fields = ["id", "version", "created_by", "updated_by", "created_at", "updated_at"]

    @extend_schema_field({"type": "array", "items": {"type": "string"}})
    def get_problems(self, rule) -> list[str]:
        problems = self.context.get("problems")
        if problems is None:
            problems = rules_with_problems([rule])
        return problems.get(rule.pk, [])


class RoutingRuleVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    snapshot = serializers.JSONField(help_text=_("The rule as it was: name, position, enabled, mode, stop, "
                                                 "conditions, actions (and deleted)."))

    class Meta:
        model = RoutingRuleVersion
        fields = ["number", "snapshot", "reason", "created_by", "created_at"]
        read_only_fields = fields


class DryRunSerializer(RuleBodySerializer):
    days = serializers.IntegerField(min_value=1, max_value=90, default=7,
                                    help_text=_("How many days of inbound messages to read."))
    name = serializers.CharField(required=False, allow_blank=True, help_text=_("Ignored (a rule body may carry it)."))
    position = serializers.IntegerField(required=False, help_text=_("Ignored."))
    enabled = serializers.BooleanField(required=False, help_text=_("Ignored."))
    mode = serializers.CharField(required=False, help_text=_("Ignored."))
    stop = serializers.BooleanField(required=False, help_text=_("Ignored."))


class CountSerializer(serializers.Serializer):
    team = serializers.CharField(required=False)
    action = serializers.CharField(required=False)
    count = serializers.IntegerField()


class ConditionResultSerializer(serializers.Serializer):
    path = serializers.CharField()
    field = serializers.CharField()
    op = serializers.CharField()
    value = serializers.JSONField()
    result = serializers.BooleanField()


class DryRunSampleSerializer(serializers.Serializer):
    message = serializers.IntegerField()
    conversation = serializers.IntegerField()
    platform = serializers.CharField()
    kind = serializers.CharField()
    language = serializers.CharField()
    sent_at = serializers.DateTimeField()
    text = serializers.CharField()
    current_team = serializers.CharField()
    conditions = ConditionResultSerializer(many=True)


class DryRunResultSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    since = serializers.DateTimeField()
    messages = serializers.IntegerField(help_text=_("Inbound messages read (the most recent 5,000 at most)."))
    conversations = serializers.IntegerField()
    matched = serializers.IntegerField(help_text=_("Messages the rule matches."))
    matched_conversations = serializers.IntegerField()
    truncated = serializers.BooleanField()
    per_team = CountSerializer(many=True)
    per_action = CountSerializer(many=True)
    sample = DryRunSampleSerializer(many=True)


class MoveSerializer(serializers.Serializer):
    move = serializers.ChoiceField(choices=["up", "down"], help_text=_("Where the rule goes in the order."))


@extend_schema_view(
    list=extend_schema(summary=_("Routing rules in the order they are tried")),
    create=extend_schema(summary=_("Create a rule (admins)"),
                         responses={201: RoutingRuleSerializer, 400: OpenApiResponse(
                             description=_("Keyed by the path of the error, e.g. conditions.all[1].value"))}),
    update=extend_schema(summary=_("Change a rule (admins): a new version")),
    partial_update=extend_schema(summary=_("Change part of a rule (admins): a new version")),
    destroy=extend_schema(summary=_("Delete a rule (admins); its versions stay")),
)
class RoutingRuleViewSet(viewsets.ModelViewSet):
    serializer_class = RoutingRuleSerializer
    permission_classes = [AdminsWriteSupervisorsRead]
    pagination_class = None  # a few hundred rules at most, always read in order

    def get_queryset(self):
        return (RoutingRule.objects.filter(deleted_at__isnull=True).select_related("created_by", "updated_by")
                .order_by("position", "id"))

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action == "list":
            context["problems"] = rules_with_problems(list(self.get_queryset()))
        return context

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        reason = data.pop("reason", "")
        serializer.instance = _save(self.request.user, None, reason, data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        reason = data.pop("reason", "")
        serializer.instance = _save(self.request.user, serializer.instance, reason, data)

    def perform_destroy(self, instance):
        rule_delete(actor=self.request.user, rule=instance, reason=self.request.query_params.get("reason", ""))

    @extend_schema(summary=_("Try a rule on the last days of inbound messages; nothing changes"),
                   request=DryRunSerializer, responses={200: DryRunResultSerializer, 400: OpenApiResponse(
                       description=_("Keyed by the path of the error"))})
    @action(detail=False, methods=["post"], url_path="dry-run")
    def dry_run(self, request):
        body = DryRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = rule_dry_run(conditions=data["conditions"], actions=data["actions"], days=data["days"])
        return Response(DryRunResultSerializer(result).data)

    @extend_schema(summary=_("Versions of a rule, newest first"), request=None,
                   responses={200: RoutingRuleVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        rule = self.get_object()
        versions = rule.versions.select_related("created_by").order_by("-number")
        return Response(RoutingRuleVersionSerializer(versions, many=True).data)

    @extend_schema(summary=_("Move a rule up or down the order (admins)"), request=MoveSerializer,
                   responses={200: RoutingRuleSerializer})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        rule = self.get_object()
        body = MoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = rule_move(actor=request.user, rule=rule, direction=body.validated_data["move"])
        return Response(self.get_serializer(rule).data, status=status.HTTP_200_OK)


def _save(actor, rule, reason: str, data: dict) -> RoutingRule:
    try:
        return rule_save(actor=actor, rule=rule, reason=reason, **data)
    except RuleInvalid as exc:  # validated already; a race with another change lands here
        raise _errors(exc) from exc
