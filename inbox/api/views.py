"""The REST API: parse input, check who may act, call one service or selector, render.

Every conversation query starts from ``conversations_for_user``, so a conversation of
another team is a 404 whatever the endpoint; what a user who sees it may *do* is checked
against the team permissions (a 403).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from channels_adapters.base import ReplyRefused
from channels_adapters.outbound import reply_options, reply_submit
from inbox.api.filters import ConversationFilter, ConversationOrdering
from inbox.api.permissions import SeesChannelAccounts
from inbox.api.serializers import (
    AssignInputSerializer,
    BulkInputSerializer,
    BulkSummarySerializer,
    ChannelAccountApprovalSerializer,
    ChannelAccountSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    DetailSerializer,
    MessageSerializer,
    NoteInputSerializer,
    PriorityInputSerializer,
    ReplyCollisionSerializer,
    ReplyDraftSerializer,
    ReplyInputSerializer,
    ReplyOptionSerializer,
    ReplySentSerializer,
    SnoozeInputSerializer,
    StatusInputSerializer,
    TagFullSerializer,
    TagsInputSerializer,
    TeamSerializer,
)
from inbox.audit import audit_record
from inbox.models import (
    ChannelAccount,
    Conversation,
    Message,
    MessageRevision,
    ReplyDraft,
    SavedReply,
    Tag,
    Team,
)
from inbox.permissions import (
    REPLY,
    SUPERVISE,
    can_manage_channels,
    team_ids_for_user,
    teams_for_user,
    user_has_team_perm,
)
from inbox.selectors import conversations_for_user
from inbox.services import (
    AssignmentRefused,
    MentionRefused,
    ReplyCollision,
    UnknownLastSeenMessage,
    conversation_assign,
    conversation_note_add,
    conversation_priority_set,
    conversation_status_set,
    conversation_tags_set,
)
from inbox.services.snooze import SnoozeRefused, conversation_snooze, snooze_until
from routing import sla

NOT_FOUND = OpenApiResponse(DetailSerializer, description="No such conversation, or not one of your teams'.")
FORBIDDEN = OpenApiResponse(DetailSerializer, description="You may see the conversation but not do this.")
CONVERSATION_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The conversation's id.")


class ConversationPagination(CursorPagination):
    ordering = ("-last_inbound_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200


class TimelinePagination(CursorPagination):
    ordering = ("sent_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class ByNamePagination(CursorPagination):
    ordering = ("name",)


class ByIdPagination(CursorPagination):
    ordering = ("id",)


@extend_schema_view(
    list=extend_schema(summary="Conversations you may see, newest citizen activity first"),
    retrieve=extend_schema(summary="One conversation", responses={200: ConversationDetailSerializer, 404: NOT_FOUND}),
)
class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    filter_backends = [DjangoFilterBackend, ConversationOrdering]
    pagination_class = ConversationPagination
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Conversation]:
        return (
            conversations_for_user(self.request.user)
            .select_related("account", "contact", "team", "assignee")
            .prefetch_related("tags", "routing_traces")  # routing_trace: latest first (RoutingTrace.Meta)
        )

    def get_serializer_class(self):
        if self.action == "list":
            return ConversationSerializer
        return ConversationDetailSerializer

    def get_object(self) -> Conversation:
        # Query-string filters belong to the list; a detail URL names one conversation.
        conversation = generics.get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, conversation)
        return conversation

    def _detail(self, conversation: Conversation) -> Response:
        return Response(ConversationDetailSerializer(conversation, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="How you can answer now (public reply, private message...), or why not",
        parameters=[CONVERSATION_ID],
        responses={200: ReplyOptionSerializer(many=True), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path="reply-options", pagination_class=None, filter_backends=[])
    def reply_options(self, request, pk=None):
        conversation = self.get_object()
        return Response(ReplyOptionSerializer(reply_options(conversation), many=True).data)

    @extend_schema(
        summary="Answer the citizen through the channel they used",
        description=(
            "Queues the reply; it is sent after the request commits. `option` is the key of one "
            "of the conversation's reply options. A reply the platform would refuse (too long, "
            "outside the messaging window, account disconnected) is a 422 with a `detail`. "
            "With `last_seen_message_id`, a reply written before the citizen wrote again or a "
            "colleague answered is not sent: 409 with the newer messages; repeat the request with "
            "the answer's `last_message_id` to send it anyway. A public reply that needs a "
            "supervisor's approval (docs/approvals.md) is not sent: 202 with the draft that waits."
        ),
        parameters=[CONVERSATION_ID],
        request=ReplyInputSerializer,
        responses={
            201: OpenApiResponse(ReplySentSerializer, description=(
                "Queued. `conversation_reopened`: the conversation was resolved, and answering opened it again.")),
            202: OpenApiResponse(ReplyDraftSerializer, description="Held for a supervisor's approval; nothing sent."),
            400: OpenApiResponse(description="Malformed input."),
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(
                ReplyCollisionSerializer,
                description="Not sent: the citizen wrote or someone replied after `last_seen_message_id`.",
            ),
            422: OpenApiResponse(DetailSerializer, description="The platform would refuse this reply."),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reply(self, request, pk=None):
        conversation = self.get_object()
        # Who may act is settled before the input is read: a refusal never depends on it.
        if not user_has_team_perm(request.user, conversation.team, REPLY):
            raise PermissionDenied(_("You cannot answer this team's conversations."))
        data = _valid(ReplyInputSerializer, request)
        saved_reply = None
        if data.get("saved_reply"):
            saved_reply = SavedReply.objects.filter(
                Q(team_id=conversation.team_id) | Q(team__isnull=True), id=data["saved_reply"]
            ).first()
            if saved_reply is None:
                raise ValidationError({"saved_reply": [_("No such saved reply for this conversation's team.")]})
        try:
            sent = reply_submit(
                conversation=conversation, user=request.user, text=data["text"], option_key=data["option"],
                client_token=data.get("client_token", ""), confirm_public=data["confirm_public"],
                last_seen_message_id=data.get("last_seen_message_id"), saved_reply=saved_reply,
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc) or None) from exc
        except UnknownLastSeenMessage as exc:
            raise ValidationError({"last_seen_message_id": [str(exc)]}) from exc
        except ReplyCollision as exc:
            detail = ngettext(
                "Not sent: %(count)d message arrived or was sent after the last one you saw.",
                "Not sent: %(count)d messages arrived or were sent after the last one you saw.",
                len(exc.newer),
            ) % {"count": len(exc.newer)}
            body = {"detail": detail, "last_message_id": exc.last_message_id, "newer_messages": exc.newer}
            return Response(ReplyCollisionSerializer(body).data, status=status.HTTP_409_CONFLICT)
        except ReplyRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if isinstance(sent, ReplyDraft):
            return Response(ReplyDraftSerializer(sent).data, status=status.HTTP_202_ACCEPTED)
        return Response(ReplySentSerializer(sent).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Add an internal note (never sent to the citizen)",
        parameters=[CONVERSATION_ID],
        request=NoteInputSerializer,
        responses={201: MessageSerializer, 400: OpenApiResponse(description="Too long, or mentions someone "
                   "who is not an officer of the team."), 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def notes(self, request, pk=None):
        conversation = self.get_object()
        data = _valid(NoteInputSerializer, request)
        try:
            message = conversation_note_add(conversation=conversation, user=request.user, text=data["text"])
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc) or None) from exc
        except MentionRefused as exc:
            raise ValidationError({"text": [_("Only officers of the team can be mentioned: %(names)s.") % {
                "names": ", ".join(f"@{n}" for n in exc.names)}]}) from exc
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Snooze until a time: out of the queue, back at the top when it wakes",
        parameters=[CONVERSATION_ID],
        request=SnoozeInputSerializer,
        responses={200: ConversationDetailSerializer, 400: OpenApiResponse(description="A time past or too far."),
                   403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def snooze(self, request, pk=None):
        conversation = self.get_object()
        if not user_has_team_perm(request.user, conversation.team, REPLY):
            raise PermissionDenied(_("You cannot work on this team's conversations."))
        data = _valid(SnoozeInputSerializer, request)
        try:
            until = snooze_until(data["until"], conversation, custom=data.get("at"))
            conversation_snooze(conversation=conversation, user=request.user, until=until)
        except SnoozeRefused as exc:
            raise ValidationError({"at": [str(exc)]}) from exc
        return self._detail(conversation)

    @extend_schema(
        summary="Set the conversation's priority",
        parameters=[CONVERSATION_ID],
        request=PriorityInputSerializer,
        responses={200: ConversationDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def priority(self, request, pk=None):
        conversation = self.get_object()
        if not user_has_team_perm(request.user, conversation.team, REPLY):
            raise PermissionDenied(_("You cannot work on this team's conversations."))
        data = _valid(PriorityInputSerializer, request)
        conversation_priority_set(conversation=conversation, user=request.user, priority=data["priority"])
        return self._detail(conversation)

    @extend_schema(
        summary="Add and remove tags (by slug)",
        parameters=[CONVERSATION_ID],
        request=TagsInputSerializer,
        responses={200: ConversationDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def tags(self, request, pk=None):
        conversation = self.get_object()
        if not user_has_team_perm(request.user, conversation.team, REPLY):
            raise PermissionDenied(_("You cannot work on this team's conversations."))
        data = _valid(TagsInputSerializer, request)
        try:
            conversation_tags_set(conversation=conversation, user=request.user, add=data.get("add", []),
                                  remove=data.get("remove", []))
        except ValueError as exc:
            raise ValidationError({"add": [str(exc)]}) from exc
        conversation = self.get_queryset().get(pk=conversation.pk)  # the tags as they are now
        return self._detail(conversation)

    @extend_schema(
        summary="Act on many conversations: assign, tag, resolve, mark as spam, send a saved reply to each",
        description=(
            "Each conversation goes through the same checks as on its own: a `reply` is sent through each "
            "conversation's own channel with `POST .../reply/`'s guards (personal data in a public reply, the "
            "platform's window, approval, messages after `seen_at`). The answer lists the outcome per "
            "conversation: `sent`, `held_for_approval`, `held_back` (with the reason), `done`, `unchanged`, "
            "`refused`, `not_found`. Audited per conversation and as a whole."
        ),
        request=BulkInputSerializer,
        responses={200: BulkSummarySerializer, 400: OpenApiResponse(description="Malformed input.")},
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request):
        from channels_adapters.bulk import bulk_reply
        from inbox.services.bulk import bulk_apply

        data = _valid(BulkInputSerializer, request)
        if data["action"] == "reply":
            summary = bulk_reply(user=request.user, conversation_ids=data["conversations"],
                                 saved_reply_id=data["saved_reply"], seen_at=data.get("seen_at"),
                                 bulk_token=data.get("bulk_token", ""))
        else:
            assignee = None
            if data["action"] == "assign":
                raw = data["assignee"].strip().lower()
                assignee = request.user if raw == "me" else (
                    get_user_model().objects.filter(pk=int(raw), is_active=True).first() if raw.isdigit() else None)
                if assignee is None:
                    raise ValidationError({"assignee": [_("No such officer.")]})
            summary = bulk_apply(user=request.user, action=data["action"], conversation_ids=data["conversations"],
                                 assignee=assignee, tag=data.get("tag"))
            if data["action"] in ("resolve", "spam") and summary.changed_ids():
                sla.conversations_sync(summary.changed_ids())
        return Response(BulkSummarySerializer(summary.as_dict()).data)

    @extend_schema(
        summary="Change the conversation's status (resolve, reopen, mark as spam...)",
        parameters=[CONVERSATION_ID],
        request=StatusInputSerializer,
        responses={200: ConversationDetailSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], url_path="status", filter_backends=[])
    def set_status(self, request, pk=None):
        conversation = self.get_object()
        data = _valid(StatusInputSerializer, request)
        conversation_status_set(conversation=conversation, user=request.user, status=data["status"])
        sla.conversations_sync([conversation.id])
        conversation.refresh_from_db(fields=["sla_state", "sla_due_at", "first_response_due_at", "first_response_kind"])
        return self._detail(conversation)

    @extend_schema(
        summary="Assign the conversation to an officer of its team (supervisors)",
        parameters=[CONVERSATION_ID],
        request=AssignInputSerializer,
        responses={200: ConversationDetailSerializer, 400: OpenApiResponse(description="Not an officer of the team."),
                   403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def assign(self, request, pk=None):
        conversation = self.get_object()
        # Checked before the input is validated, so that a non-supervisor cannot tell an
        # existing user id (403) from a missing one (400 "invalid pk"): taking the
        # conversation for oneself needs the reply permission, anything else supervision.
        raw = request.data.get("assignee") if hasattr(request.data, "get") else None
        taking = raw is not None and str(raw) == str(request.user.pk) and not request.data.get("team")
        if not user_has_team_perm(request.user, conversation.team, REPLY if taking else SUPERVISE):
            raise PermissionDenied(_("Only a supervisor of the team can assign its conversations."))
        data = _valid(AssignInputSerializer, request)
        new_team: Team | None = data.get("team")
        if data["assignee"] is not None and new_team is None and conversation.team is None:
            raise ValidationError({"team": ["This conversation has no team yet; say which team."]})
        try:
            conversation_assign(conversation=conversation, user=request.user, assignee=data["assignee"], team=new_team)
        except AssignmentRefused as exc:
            raise ValidationError({"assignee": [str(exc)]}) from exc
        return self._detail(conversation)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(
    summary="A conversation's timeline: messages, replies with delivery status, notes, revisions",
    parameters=[CONVERSATION_ID],
    responses={200: MessageSerializer(many=True), 404: NOT_FOUND},
)
class ConversationMessagesView(generics.ListAPIView):
    serializer_class = MessageSerializer
    pagination_class = TimelinePagination
    filter_backends = []

    def get_queryset(self) -> QuerySet[Message]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user, no conversation
            return Message.objects.none()
        conversation = generics.get_object_or_404(conversations_for_user(self.request.user), pk=self.kwargs["pk"])
        return conversation.messages.select_related("author_contact", "author_user").prefetch_related(
            Prefetch("revisions", queryset=MessageRevision.objects.order_by("occurred_at", "id"))
        )


@extend_schema(summary="The teams you may see, with what you may do in each")
class TeamListView(generics.ListAPIView):
    serializer_class = TeamSerializer
    pagination_class = ByNamePagination
    filter_backends = []

    def get_queryset(self) -> QuerySet[Team]:
        return teams_for_user(self.request.user)

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["reply_team_ids"] = set(team_ids_for_user(self.request.user, REPLY))
            context["supervise_team_ids"] = set(team_ids_for_user(self.request.user, SUPERVISE))
        return context


@extend_schema(summary="Channel accounts and their health (admins and supervisors; never credentials)")
class ChannelAccountListView(generics.ListAPIView):
    serializer_class = ChannelAccountSerializer
    permission_classes = [SeesChannelAccounts]
    pagination_class = ByIdPagination
    filter_backends = []
    queryset = ChannelAccount.objects.select_related("default_team")


class AdminsWrite(BasePermission):
    """Everyone signed in reads; admins (who manage channels) write."""

    message = "Only admins can change this."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return can_manage_channels(request.user)


@extend_schema_view(
    list=extend_schema(summary="Tags (everyone reads; admins write)"),
    create=extend_schema(summary="Create a tag (admins)"),
    partial_update=extend_schema(summary="Change a tag, e.g. whether its public replies need approval (admins)"),
)
class TagViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.RetrieveModelMixin,
                 viewsets.GenericViewSet):
    serializer_class = TagFullSerializer
    permission_classes = [AdminsWrite]
    pagination_class = ByNamePagination
    filter_backends = []
    queryset = Tag.objects.all()
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        tag = serializer.save()
        audit_record(self.request.user, "tag.create", tag, requires_approval=tag.requires_approval)

    def perform_update(self, serializer):
        before = serializer.instance.requires_approval
        tag = serializer.save()
        audit_record(self.request.user, "tag.update", tag, fields=sorted(serializer.validated_data),
                     requires_approval=tag.requires_approval, requires_approval_before=before)


@extend_schema(
    summary="Which replies through a channel account wait for approval (admins write)",
    description="`none`, `unpermitted` (officers without the *publish without approval* permission on the "
                "account; grant it per officer in the admin's Object permissions) or `all_public`.",
    request=ChannelAccountApprovalSerializer,
    responses={200: ChannelAccountApprovalSerializer, 403: OpenApiResponse(description="Not an admin."),
               404: OpenApiResponse(description="No such channel account.")},
)
class ChannelAccountApprovalView(generics.RetrieveUpdateAPIView):
    serializer_class = ChannelAccountApprovalSerializer
    permission_classes = [SeesChannelAccounts, AdminsWrite]
    queryset = ChannelAccount.objects.all()
    http_method_names = ["get", "patch", "head", "options"]

    def perform_update(self, serializer):
        before = serializer.instance.reply_approval
        account = serializer.save()
        audit_record(self.request.user, "channel_account.reply_approval", account,
                     previous=before, reply_approval=account.reply_approval)
