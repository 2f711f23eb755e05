"""API of a team's assignment settings and of the caller's presence.

Mounted from ``inbox/api/urls.py`` under ``/api/v1/``: ``teams/{slug}/`` (read: whoever sees
the team; PATCH: admins) and ``presence/`` (every signed-in user, about themselves).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.models import OfficerProfile, Team
from inbox.permissions import can_manage_channels, teams_for_user
from routing.presence import presence_heartbeat, presence_of, presence_set
from routing.teams import team_save


class TeamSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "slug", "description", "assignment", "capacity_private", "capacity_public",
                  "reassign_after_minutes"]
        read_only_fields = ["id", "slug"]
        extra_kwargs = {
            "assignment": {"help_text": _("manual: officers take from the queue; round_robin: in turns among "
                                          "available officers; least_loaded: to the available officer with the "
                                          "fewest open conversations of the kind")},
            "capacity_private": {"min_value": 1},
            "capacity_public": {"min_value": 1},
            "reassign_after_minutes": {"min_value": 1, "help_text": _(
                "Take back a conversation whose assignee has not answered within this many minutes; null: never")},
        }


@extend_schema_view(
    get=extend_schema(summary="A team's assignment settings (whoever sees the team)"),
    patch=extend_schema(summary="Change a team's strategy, capacities or take-back (admins)"),
    put=extend_schema(summary="Replace a team's settings (admins)"),
)
class TeamDetailView(generics.RetrieveUpdateAPIView):
    serializer_class = TeamSettingsSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return teams_for_user(self.request.user)

    def check_object_permissions(self, request, obj):
        # Before the body is validated (a refusal must not depend on it); another team is a 404.
        super().check_object_permissions(request, obj)
        if request.method not in SAFE_METHODS and not can_manage_channels(request.user):
            raise PermissionDenied(_("Only admins can change a team."))

    def perform_update(self, serializer):
        if not can_manage_channels(self.request.user):
            raise PermissionDenied(_("Only admins can change a team."))
        stored = Team.objects.get(pk=serializer.instance.pk)
        serializer.instance = team_save(actor=self.request.user, team=stored, **serializer.validated_data)


class PresenceSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=OfficerProfile.Presence.choices, required=False,
        help_text=_("available, away or offline; omit it to send a heartbeat only"),
    )
    available = serializers.BooleanField(read_only=True, help_text=_(
        "Whether new conversations are given to you now: status available and a heartbeat within the timeout"))
    last_seen_at = serializers.DateTimeField(read_only=True, allow_null=True)


class PresenceView(APIView):
    serializer_class = PresenceSerializer

    @extend_schema(summary="Your presence", responses=PresenceSerializer)
    def get(self, request):
        profile = OfficerProfile.objects.filter(user=request.user).first()
        return Response(PresenceSerializer(presence_of(profile)).data)

    @extend_schema(summary="Set your presence, or send a heartbeat (no status)", request=PresenceSerializer,
                   responses=PresenceSerializer)
    def post(self, request):
        serializer = PresenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        status = serializer.validated_data.get("status")
        presence = presence_set(request.user, status) if status else presence_heartbeat(request.user)
        return Response(PresenceSerializer(presence).data)
