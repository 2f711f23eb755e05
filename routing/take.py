""""Take" (assign to me) from the web and the API: a conditional claim (``routing.assignment
.conversation_take``) — of two officers who click at once, one wins and the other is told
who took it.

- ``POST /conversations/<id>/take/`` (the queue's and the conversation page's button):
  redirects back (``next``) with a message;
- ``POST /api/v1/conversations/{id}/take/``: 200 with the conversation's assignment, 409
  when it is already taken (with who holds it), closed or the taker is at capacity, 403
  when the caller may not answer for its team; another team's conversation is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.models import Conversation
from inbox.selectors import conversation_for_user
from routing.assignment import TakeRefused, conversation_take


def _conversation(user, pk: int) -> Conversation:
    try:
        return conversation_for_user(user, pk)
    except Conversation.DoesNotExist as exc:
        raise Http404 from exc


@login_required
@require_POST
def conversation_take_view(request, pk: int):
    conversation = _conversation(request.user, pk)
    target = request.POST.get("next") or request.headers.get("referer") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = ""
    try:
        conversation_take(conversation=conversation, user=request.user)
    except TakeRefused as exc:
        if exc.code == "forbidden":
            raise DjangoPermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Conversation assigned to you."))
    return redirect(target or "inbox:conversation", *([] if target else [conversation.pk]))


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()


class TakenSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=gettext_lazy("The conversation."))
    team = serializers.IntegerField(help_text=gettext_lazy("Its team (id)."))
    assignee = UserRefSerializer(help_text=gettext_lazy("The caller, who now holds it."))
    assigned_at = serializers.DateTimeField()


class TakeConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=["taken", "closed", "capacity"], help_text=gettext_lazy(
        "taken: someone else holds it (assignee says who); closed: resolved, spam or moved to another "
        "team; capacity: the caller already holds the team's capacity of open conversations of its kind."))
    assignee = UserRefSerializer(allow_null=True, help_text=gettext_lazy("Who holds it (code taken)."))


def _user_ref(user) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user.get_full_name() or user.get_username()}


class ConversationTakeView(APIView):
    @extend_schema(
        summary="Take a conversation (assign it to me) if nobody holds it",
        description=(
            "A conditional claim: the conversation is assigned to the caller only if it is still "
            "unassigned, open and in the same team, so of two officers taking it at once one gets it "
            "and the other a 409 saying who holds it. Within the team's capacity for the conversation's "
            "kind; audited as conversation.take."),
        request=None,
        responses={
            200: TakenSerializer,
            403: OpenApiResponse(description="The caller may not answer for the conversation's team."),
            404: OpenApiResponse(description="No such conversation among those the caller sees."),
            409: OpenApiResponse(response=TakeConflictSerializer,
                                 description="Already taken (by whom), closed, or the caller is at capacity."),
        },
    )
    def post(self, request, pk: int):
        conversation = _conversation(request.user, pk)
        try:
            conversation_take(conversation=conversation, user=request.user)
        except TakeRefused as exc:
            if exc.code == "forbidden":
                raise PermissionDenied(exc.message) from exc
            return Response({"detail": exc.message, "code": exc.code, "assignee": _user_ref(exc.holder)},
                            status=status.HTTP_409_CONFLICT)
        return Response({"id": conversation.pk, "team": conversation.team_id,
                         "assignee": _user_ref(request.user), "assigned_at": conversation.assigned_at})
