"""Shapes of the API's data. Serializers only shape: rules live in services and permissions.

Credentials of channel accounts are never serialized; only whether they are set.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inbox import limits
from inbox.models import (
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    MessageRevision,
    ReplyDraft,
    Tag,
    Team,
)
from routing.trace_api import RoutingTraceSerializer

User = get_user_model()


# --- Small nested shapes ---------------------------------------------------------------------


class UserBriefSerializer(serializers.ModelSerializer):
    full_name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "full_name"]

    def get_full_name(self, obj) -> str:
        return obj.get_full_name()


class TeamBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "slug"]


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "slug", "color", "requires_approval"]


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "platform", "external_id", "handle", "name", "display", "person_id"]

    display = serializers.CharField(read_only=True)
    person_id = serializers.IntegerField(read_only=True, allow_null=True)


class AccountBriefSerializer(serializers.ModelSerializer):
    platform_label = serializers.CharField(source="get_platform_display", read_only=True)

    class Meta:
        model = ChannelAccount
        fields = ["id", "platform", "platform_label", "name", "handle", "status"]


# --- Teams and channel accounts --------------------------------------------------------------


class TeamSerializer(serializers.ModelSerializer):
    """``can_reply``/``can_supervise`` come from id sets the view puts in the context."""

    can_reply = serializers.SerializerMethodField()
    can_supervise = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "description", "assignment", "can_reply", "can_supervise"]

    def get_can_reply(self, obj) -> bool:
        return obj.id in self.context.get("reply_team_ids", ())

    def get_can_supervise(self, obj) -> bool:
        return obj.id in self.context.get("supervise_team_ids", ())


class ChannelAccountSerializer(serializers.ModelSerializer):
    platform_label = serializers.CharField(source="get_platform_display", read_only=True)
    has_credentials = serializers.SerializerMethodField()
    default_team = TeamBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ChannelAccount
        # Never "credentials" or "cursors": the first are secrets, the second internal state.
        fields = [
            "id", "platform", "platform_label", "external_id", "name", "handle", "status",
            "has_credentials", "last_error", "last_error_at", "next_poll_at", "default_team",
            "calendar", "reply_approval", "created_at",
        ]

    def get_has_credentials(self, obj) -> bool:
        return bool(obj.credentials)


# --- Conversations and messages --------------------------------------------------------------


class ConversationSerializer(serializers.ModelSerializer):
    account = AccountBriefSerializer(read_only=True)
    contact = ContactSerializer(read_only=True)
    team = TeamBriefSerializer(read_only=True, allow_null=True)
    assignee = UserBriefSerializer(read_only=True, allow_null=True)
    tags = TagSerializer(many=True, read_only=True)
    routing_trace = serializers.SerializerMethodField(
        help_text="The latest evaluation of the routing rules (docs/routing.md), or null")

    class Meta:
        model = Conversation
        fields = [
            "id", "kind", "status", "priority", "language", "subject", "last_message_preview",
            "account", "contact", "team", "assignee", "tags", "routing_trace",
            "first_inbound_at", "first_response_at", "last_inbound_at", "last_message_at",
            "resolved_at", "created_at", "updated_at",
            # SLA (docs/sla.md): stored by routing.sla, ISO 8601 with offset; state is one of
            # running, paused, at_risk, breached, met (or empty); kind holding or substantive.
            "first_response_due_at", "sla_due_at", "sla_state", "first_response_kind",
        ]
        read_only_fields = fields

    @extend_schema_field(RoutingTraceSerializer(allow_null=True))
    def get_routing_trace(self, conversation) -> dict | None:
        # Prefetched by the viewsets ("routing_traces", newest first): no query per row.
        traces = conversation.routing_traces.all()
        return RoutingTraceSerializer(traces[0]).data if traces else None


class ConversationDetailSerializer(ConversationSerializer):
    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "thread_key", "routed_by", "routed_at"]
        read_only_fields = fields


class MessageRevisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageRevision
        fields = ["id", "action", "previous_text", "previous_attachments", "occurred_at"]


class MessageSerializer(serializers.ModelSerializer):
    author_contact = ContactSerializer(read_only=True, allow_null=True)
    author_user = UserBriefSerializer(read_only=True, allow_null=True)
    revisions = MessageRevisionSerializer(many=True, read_only=True)
    attachments = serializers.SerializerMethodField()
    delivery_status = serializers.ChoiceField(  # read-only fields lose allow_blank: declared
        choices=Message.Delivery.choices, allow_blank=True, read_only=True,
        help_text="Empty for messages from the citizen and for notes.")

    class Meta:
        model = Message
        fields = [
            "id", "uuid", "direction", "kind", "visibility", "text", "attachments",
            "author_contact", "author_user", "external_id", "in_reply_to",
            "sent_at", "received_at", "edited_at", "deleted_at", "hidden_at",
            "delivery_status", "delivery_error", "attempts", "delivered_at", "revisions",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": {"type": "object", "additionalProperties": True}})
    def get_attachments(self, obj) -> list:
        return obj.attachments


class ReplyOptionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField()
    visibility = serializers.CharField()
    available = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    max_length = serializers.IntegerField(allow_null=True)
    counting = serializers.ChoiceField(
        choices=["characters", "x", "bytes"],
        help_text="How max_length is measured: characters, X's weighting (links 23, wide characters 2) or UTF-8 bytes.",
    )


# --- Input -----------------------------------------------------------------------------------


class ReplyInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=limits.REPLY_MAX_LENGTH, trim_whitespace=False)
    option = serializers.CharField(
        max_length=40, help_text="The key of one of the conversation's reply options (`public`, `private`...)."
    )
    client_token = serializers.CharField(
        max_length=64, required=False, allow_blank=True,
        help_text="Idempotency key: a retry with the same key returns the reply already queued.",
    )
    confirm_public = serializers.BooleanField(
        required=False, default=False,
        help_text="Publish a public reply even though it seems to contain personal data (audited).",
    )
    last_seen_message_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=0,
        help_text=(
            "The id of the newest message of this conversation that the reply's author saw (0: none). "
            "If the citizen wrote or anyone replied after it, nothing is sent and the answer is a 409 "
            "listing those messages; send again with its `last_message_id` to confirm. Internal notes "
            "do not count. Omitted or null: no check."
        ),
    )
    saved_reply = serializers.IntegerField(
        required=False, allow_null=True, min_value=1,
        help_text=(
            "The id of the saved reply the text came from (the team's or everyone's). A holding reply "
            "(\"we are looking into it\") meets the first-response target as holding; the full answer stays due."
        ),
    )


class CollidingMessageSerializer(serializers.ModelSerializer):
    """A message the reply's author had not seen: who, what, when, and whether it went out."""

    author = serializers.SerializerMethodField(help_text="The citizen's or the officer's display name.")
    author_user = UserBriefSerializer(read_only=True, allow_null=True)
    delivery_status = serializers.ChoiceField(
        choices=Message.Delivery.choices, allow_blank=True, read_only=True,
        help_text="Empty for messages from the citizen and for notes.")

    class Meta:
        model = Message
        fields = ["id", "direction", "kind", "visibility", "author", "author_user", "text", "sent_at", "delivery_status"]
        read_only_fields = fields

    def get_author(self, obj) -> str:
        if obj.author_contact is not None:
            return obj.author_contact.display
        if obj.author_user is not None:
            return obj.author_user.get_full_name() or obj.author_user.get_username()
        return gettext("Automatic reply")


class ReplyCollisionSerializer(serializers.Serializer):
    """The 409 answer: the reply was not sent because the conversation moved on."""

    detail = serializers.CharField()
    last_message_id = serializers.IntegerField(
        help_text="Send the reply again with this `last_seen_message_id` to confirm it still fits."
    )
    newer_messages = CollidingMessageSerializer(many=True, help_text="Oldest first.")


class NoteInputSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=limits.NOTE_MAX_LENGTH,
        help_text="`@username` mentions an officer of the conversation's team, who is told live; "
                  "naming anyone else is a 400.",
    )


class StatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=list(limits.SETTABLE_STATUSES.items()),
        help_text="What an officer may set (inbox/limits.py): `new` is the ingest's, `snoozed` comes with a "
                  "wake-up time (`POST .../snooze/`).",
    )


class SnoozeInputSerializer(serializers.Serializer):
    until = serializers.ChoiceField(
        choices=["later_today", "tomorrow", "next_week", "custom"],
        help_text="`later_today` (3 hours), `tomorrow` (8:00 in the account's calendar), `next_week` "
                  "(Monday 8:00 there) or `custom` (then `at`).",
    )
    at = serializers.DateTimeField(required=False, help_text="With `custom`: when it wakes (ISO 8601).")

    def validate(self, data):
        if data["until"] == "custom" and not data.get("at"):
            raise serializers.ValidationError({"at": ["Say when it wakes."]})
        return data


class PriorityInputSerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Conversation.Priority.choices)


class TagsInputSerializer(serializers.Serializer):
    add = serializers.SlugRelatedField(slug_field="slug", queryset=Tag.objects.all(), many=True, required=False,
                                       help_text="Slugs of tags to add.")
    remove = serializers.SlugRelatedField(slug_field="slug", queryset=Tag.objects.all(), many=True, required=False,
                                          help_text="Slugs of tags to remove.")


class BulkInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["assign", "tag", "resolve", "spam", "reply"])
    conversations = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=limits.BULK_MAX_CONVERSATIONS,
        help_text="Conversation ids; those you cannot see come back as `not_found`.",
    )
    assignee = serializers.CharField(required=False, help_text="`assign`: `me` or a user id (supervisors).")
    tag = serializers.SlugRelatedField(slug_field="slug", queryset=Tag.objects.all(), required=False,
                                       help_text="`tag`: the tag's slug.")
    saved_reply = serializers.IntegerField(required=False, min_value=1, help_text="`reply`: the saved reply's id.")
    seen_at = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="`reply`: when you last read the conversations; one in which anything arrived or was sent "
                  "after it is held back. Omitted: no such check.",
    )
    bulk_token = serializers.CharField(required=False, max_length=32, allow_blank=True,
                                       help_text="Idempotency key: the same selection sent again sends nothing twice.")

    def validate(self, data):
        needs = {"assign": "assignee", "tag": "tag", "reply": "saved_reply"}.get(data["action"])
        if needs and not data.get(needs):
            raise serializers.ValidationError({needs: ["Required for this action."]})
        return data


class BulkResultSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    outcome = serializers.ChoiceField(
        choices=["done", "unchanged", "sent", "held_for_approval", "held_back", "refused", "not_found"])
    reason = serializers.CharField(allow_blank=True)
    message = serializers.IntegerField(allow_null=True, help_text="The queued reply (outcome `sent`).")
    draft = serializers.IntegerField(allow_null=True, help_text="The draft waiting (outcome `held_for_approval`).")


class BulkSummarySerializer(serializers.Serializer):
    action = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Conversations per outcome.")
    results = BulkResultSerializer(many=True)


class ReplySentSerializer(MessageSerializer):
    """The queued reply; ``conversation_reopened`` when the conversation was resolved and
    answering it opened it again."""

    conversation_reopened = serializers.SerializerMethodField()

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "conversation_reopened"]
        read_only_fields = fields

    def get_conversation_reopened(self, obj) -> bool:
        return bool(getattr(obj, "reopened_conversation", False))


class TagFullSerializer(serializers.ModelSerializer):
    """Tags (``/api/v1/tags/``): everyone reads; admins create and change them."""

    class Meta:
        model = Tag
        fields = ["id", "name", "slug", "color", "requires_approval"]


class ChannelAccountApprovalSerializer(serializers.ModelSerializer):
    """Which replies through the account wait for a supervisor (admins write)."""

    class Meta:
        model = ChannelAccount
        fields = ["id", "reply_approval"]
        read_only_fields = ["id"]


class AssignInputSerializer(serializers.Serializer):
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), allow_null=True,
        help_text="The officer to assign, or null to unassign.",
    )
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False,
        help_text="Move the conversation to this team as well (you must supervise both teams).",
    )


class DetailSerializer(serializers.Serializer):
    """The shape of an error answer."""

    detail = serializers.CharField()



# --- Replies held for approval (docs/approvals.md) ---------------------------------------------


class ReplyDraftSerializer(serializers.ModelSerializer):
    """A reply waiting for (or past) a supervisor's approval; nothing of it was sent unless
    ``status`` is ``approved`` (then ``message`` is the queued reply's id)."""

    author = UserBriefSerializer(read_only=True)
    reviewer = UserBriefSerializer(read_only=True, allow_null=True)
    conversation = serializers.IntegerField(source="conversation_id", read_only=True)
    message = serializers.IntegerField(source="message_id", read_only=True, allow_null=True)
    reasons = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="Why it waits: `account` (every public reply on the account), `officer` (the author lacks "
                  "the publish-without-approval permission on the account), `tag:<slug>` (a tag that needs approval).",
    )

    class Meta:
        model = ReplyDraft
        fields = [
            "id", "conversation", "author", "text", "option", "visibility", "reasons", "status",
            "last_seen_message_id", "reviewer", "review_comment", "reviewed_at", "outcome_reason", "message",
            "submitted_at", "updated_at",
        ]
        read_only_fields = fields


class ApproveInputSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=limits.REPLY_MAX_LENGTH, required=False, allow_blank=True, trim_whitespace=False,
        help_text="The supervisor's edit of the reply; omitted or blank: send the author's text.",
    )
    confirm_public = serializers.BooleanField(
        required=False, default=False,
        help_text="Publish even though the reply seems to contain personal data (audited).",
    )


class ReturnInputSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=limits.REVIEW_COMMENT_MAX_LENGTH, help_text="What the author should change.")


class DraftRefusedSerializer(serializers.Serializer):
    """The approved draft could not be sent (409): it is closed, and says why."""

    detail = serializers.CharField()
    draft = ReplyDraftSerializer()
