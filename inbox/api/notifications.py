"""The caller's own notifications (docs/working-faster.md, "Notifications"; docs/api.md).

Nobody reads or marks anyone else's: the queryset is the caller's, so another user's id is
simply not there (ignored when marking read).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.models import Notification
from inbox.services.notifications import notifications_for_user, notifications_mark_read


class NotificationSerializer(serializers.ModelSerializer):
    text = serializers.CharField(read_only=True, help_text="The line to show, in the caller's language: made "
                                 "from ids, names and figures, never from citizen text.")
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "conversation", "actor", "percent", "text", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, obj) -> bool:
        return obj.read_at is None


class NotificationReadInputSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=500,
                                help_text="Your notifications to mark read (others' ids are ignored).")
    all = serializers.BooleanField(required=False, default=False, help_text="Mark all your notifications read.")

    def validate(self, attrs):
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError("Give `ids`, or `all: true`.")
        return attrs


class NotificationReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread and are now read.")
    unread = serializers.IntegerField(help_text="How many of yours are still unread.")


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


@extend_schema(
    summary="Your notifications, newest first",
    parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only the unread ones.")],
)
class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer
    pagination_class = NewestFirst
    filter_backends = []

    def get_queryset(self) -> QuerySet[Notification]:
        notifications = notifications_for_user(self.request.user)
        if self.request.query_params.get("unread") in ("1", "true", "yes"):
            notifications = notifications.filter(read_at__isnull=True)
        return notifications


class NotificationReadView(APIView):
    @extend_schema(summary="Mark your notifications read (some, or all)",
                   request=NotificationReadInputSerializer, responses={200: NotificationReadResultSerializer})
    def post(self, request):
        data = NotificationReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = None if data.validated_data.get("all") else data.validated_data["ids"]
        marked = notifications_mark_read(request.user, ids=ids)
        unread = notifications_for_user(request.user).filter(read_at__isnull=True).count()
        return Response({"marked": marked, "unread": unread})
