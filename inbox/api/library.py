"""The reply library's API: ``/api/v1/saved-replies/`` (docs/library.md).

Everyone reads the saved replies of the teams whose queue they see and the shared ones;
admins and supervisors write them through ``inbox.services.library`` (supervisors for their
teams only: another team's reply is a 404 to read, a 403 to write when they can read it).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission

from inbox.models import SavedReply, SavedReplyVersion, Team
from inbox.services.library import (
    VersionInput,
    can_manage_library,
    saved_replies_manageable,
    saved_replies_visible,
    saved_reply_delete,
    saved_reply_save,
)


class SavedReplyVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = SavedReplyVersion
        fields = ["language", "body"]


class SavedReplySerializer(serializers.ModelSerializer):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), allow_null=True, required=False)
    versions = SavedReplyVersionSerializer(many=True, required=False)

    class Meta:
        model = SavedReply
        fields = ["id", "title", "kind", "team", "language", "body", "versions", "usage_count", "last_used_at",
                  "created_at", "updated_at"]
        read_only_fields = ["usage_count", "last_used_at", "created_at", "updated_at"]


class ManagesLibrary(BasePermission):
    """Writes are for those who manage the library, settled before the input is read (an officer
    is told 403 whatever the body, never a validation error): creating needs to manage some
    team's replies, changing one to manage its team's (another team's reply was a 404 already)."""

    message = "Only admins and the team's supervisors can change its saved replies."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or view.action != "create" or can_manage_library(request.user)

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in SAFE_METHODS or saved_replies_manageable(request.user).filter(pk=obj.pk).exists()


class ByIdPagination(CursorPagination):
    ordering = "id"
    page_size = 100


_FILTERS = [
    OpenApiParameter("kind", str, enum=SavedReply.Kind.values),
    OpenApiParameter("language", str, description="Has a text in this language (main or version)"),
    OpenApiParameter("team", str, description="A team id, or 'global' for the shared replies"),
    OpenApiParameter("search", str, description="Words in the title or any text"),
]


@extend_schema_view(
    list=extend_schema(summary="Saved replies you may use", parameters=_FILTERS),
    retrieve=extend_schema(summary="One saved reply with its versions"),
    create=extend_schema(summary="Create a saved reply (admins; supervisors for their teams)"),
    update=extend_schema(summary="Replace a saved reply and its versions"),
    partial_update=extend_schema(summary="Change a saved reply (versions, when given, are replaced)"),
    destroy=extend_schema(summary="Delete a saved reply"),
)
class SavedReplyViewSet(viewsets.ModelViewSet):
    serializer_class = SavedReplySerializer
    permission_classes = [ManagesLibrary]
    pagination_class = ByIdPagination
    filter_backends = []

    def get_queryset(self) -> QuerySet[SavedReply]:
        qs = saved_replies_visible(self.request.user)
        params = self.request.query_params
        if params.get("kind"):
            qs = qs.filter(kind=params["kind"])
        if params.get("language"):
            qs = qs.filter(Q(language=params["language"]) | Q(versions__language=params["language"]))
        if params.get("team") == "global":
            qs = qs.filter(team__isnull=True)
        elif (params.get("team") or "").isdigit():
            qs = qs.filter(team_id=int(params["team"]))
        for word in (params.get("search") or "").split()[:5]:
            qs = qs.filter(Q(title__icontains=word) | Q(body__icontains=word) | Q(versions__body__icontains=word))
        return qs.distinct().prefetch_related("versions")

    def _save(self, serializer, instance=None):
        data = serializer.validated_data
        versions = data.get("versions")
        if versions is None:
            versions = [{"language": v.language, "body": v.body} for v in instance.versions.all()] if instance else []
        try:
            saved = saved_reply_save(
                self.request.user, saved_reply=instance,
                title=data.get("title", instance.title if instance else ""),
                body=data.get("body", instance.body if instance else ""),
                kind=data.get("kind", instance.kind if instance else SavedReply.Kind.OTHER),
                team=data.get("team", instance.team if instance else None),
                language=data.get("language", instance.language if instance else ""),
                versions=[VersionInput(v["language"], v["body"]) for v in versions],
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied() from exc
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from exc
        return SavedReply.objects.prefetch_related("versions").get(pk=saved.pk)

    def perform_create(self, serializer):
        serializer.instance = self._save(serializer)

    def perform_update(self, serializer):
        serializer.instance = self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        try:
            saved_reply_delete(self.request.user, instance)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied() from exc
