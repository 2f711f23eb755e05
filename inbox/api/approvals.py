"""The approvals API: drafts waiting for a supervisor, approve, return (docs/approvals.md).

A draft of a team the caller cannot see is a 404; one they see but do not supervise is a
403 on acting (officers cannot approve, not even their own).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from channels_adapters.approvals import reply_draft_approve
from channels_adapters.base import ReplyRefused
from inbox.api.serializers import (
    ApproveInputSerializer,
    DetailSerializer,
    DraftRefusedSerializer,
    MessageSerializer,
    ReplyDraftSerializer,
    ReturnInputSerializer,
)
from inbox.models import ReplyDraft
from inbox.services.approvals import (
    DraftNotPending,
    DraftNotSendable,
    draft_for_approver,
    drafts_to_approve,
    reply_draft_return,
    user_may_approve,
)

DRAFT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The draft's id.")
NOT_FOUND = OpenApiResponse(DetailSerializer, description="No such draft, or not one of your teams'.")
FORBIDDEN = OpenApiResponse(DetailSerializer, description="You see the team but do not supervise it.")
NOT_PENDING = OpenApiResponse(DetailSerializer, description="Someone approved, returned or withdrew it first.")


class WaitingLongestFirst(CursorPagination):
    ordering = ("submitted_at", "id")
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_view(
    list=extend_schema(summary="Replies waiting for your approval, longest wait first"),
    retrieve=extend_schema(summary="One draft", parameters=[DRAFT_ID],
                           responses={200: ReplyDraftSerializer, 404: NOT_FOUND}),
)
class ApprovalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReplyDraftSerializer
    pagination_class = WaitingLongestFirst
    filter_backends: list = []
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[ReplyDraft]:
        if getattr(self, "swagger_fake_view", False):
            return ReplyDraft.objects.none()
        return drafts_to_approve(self.request.user).select_related("author", "reviewer")

    def get_object(self) -> ReplyDraft:
        try:
            return draft_for_approver(self.request.user, int(self.kwargs["pk"]))
        except ReplyDraft.DoesNotExist:
            raise Http404 from None

    def _approver_object(self) -> ReplyDraft:
        draft = self.get_object()
        if not user_may_approve(self.request.user, draft.conversation):
            raise PermissionDenied("Only a supervisor of the team can approve or return its drafts.")
        return draft

    @extend_schema(
        summary="Approve a draft (optionally edited): it is queued and sent once",
        description=(
            "The reply goes out through the normal once-only path. If the citizen wrote or someone "
            "answered after the message the draft was written against, or the platform's reply window "
            "closed meanwhile, nothing is sent: 409, and the draft is closed with the reason."
        ),
        parameters=[DRAFT_ID], request=ApproveInputSerializer,
        responses={201: MessageSerializer, 403: FORBIDDEN, 404: NOT_FOUND,
                   409: OpenApiResponse(DraftRefusedSerializer, description="Not sent: superseded or window closed."),
                   412: NOT_PENDING,
                   422: OpenApiResponse(DetailSerializer, description="The platform would refuse the text.")},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        draft = self._approver_object()
        data = _valid(ApproveInputSerializer, request)
        try:
            message = reply_draft_approve(draft=draft, user=request.user, text=data.get("text") or None,
                                          confirm_public=data["confirm_public"])
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc) or None) from exc
        except DraftNotPending as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_412_PRECONDITION_FAILED)
        except DraftNotSendable as exc:
            body = {"detail": exc.draft.outcome_reason, "draft": exc.draft}
            return Response(DraftRefusedSerializer(body).data, status=status.HTTP_409_CONFLICT)
        except ReplyRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Return a draft to its author with a comment; nothing is sent",
        parameters=[DRAFT_ID], request=ReturnInputSerializer,
        responses={200: ReplyDraftSerializer, 403: FORBIDDEN, 404: NOT_FOUND, 412: NOT_PENDING},
    )
    @action(detail=True, methods=["post"], url_path="return")
    def return_draft(self, request, pk=None):
        draft = self._approver_object()
        data = _valid(ReturnInputSerializer, request)
        try:
            draft = reply_draft_return(draft=draft, user=request.user, comment=data["comment"])
        except DraftNotPending as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_412_PRECONDITION_FAILED)
        except ValueError as exc:
            raise ValidationError({"comment": [str(exc)]}) from exc
        return Response(ReplyDraftSerializer(draft).data)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
