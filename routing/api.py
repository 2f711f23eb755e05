"""API of service calendars and SLA policies, and a channel account's calendar.

Admins write; supervisors read. Mounted from ``inbox/api/urls.py`` under ``/api/v1/``.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.api.permissions import sees_channel_accounts
from inbox.api.serializers import ChannelAccountSerializer
from inbox.models import ChannelAccount, Team
from inbox.permissions import can_manage_channels
from routing.calendars import CalendarError, check_holiday_region, parse_periods, zone
from routing.models import ServiceCalendar, SlaPolicy
from routing.services import channel_account_calendar_set, service_calendar_save, sla_policy_save

# --- permissions -----------------------------------------------------------------------------


class AdminsWriteSupervisorsRead(BasePermission):
    message = _("Only admins can change this; admins and supervisors can read it.")

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return sees_channel_accounts(request.user) or can_manage_channels(request.user)
        return can_manage_channels(request.user)


class AdminsOnly(BasePermission):
    message = _("Only admins can give a channel account its calendar.")

    def has_permission(self, request, view) -> bool:
        return can_manage_channels(request.user)


class ById(CursorPagination):
    ordering = ("id",)


# --- service calendars -----------------------------------------------------------------------


class PeriodSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text=_("0 = Monday … 6 = Sunday"))
    opens = serializers.CharField(max_length=5, help_text="HH:MM")
    closes = serializers.CharField(max_length=5, help_text=_("HH:MM; 24:00 closes at midnight"))


class HolidayRegionSerializer(serializers.Serializer):
    country = serializers.CharField(source="holidays_country", max_length=3, allow_blank=True, required=False,
                                    help_text=_("ISO country code the holidays package knows, e.g. ES"))
    subdivision = serializers.CharField(source="holidays_subdivision", max_length=10, allow_blank=True,
                                        required=False, help_text=_("Region of that country, e.g. CT"))


class ServiceCalendarSerializer(serializers.ModelSerializer):
    periods = PeriodSerializer(many=True, required=False)
    holidays = HolidayRegionSerializer(source="*", required=False)
    closed_days = serializers.ListField(child=serializers.DateField(), required=False,
                                        help_text=_("Extra closed days (local holidays), YYYY-MM-DD"))

    class Meta:
        model = ServiceCalendar
        fields = ["id", "name", "timezone", "periods", "holidays", "closed_days", "always_open", "version",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "version", "created_at", "updated_at"]

    def validate_timezone(self, value: str) -> str:
        try:
            zone(value)
        except CalendarError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_periods(self, value: list[dict]) -> list[dict]:
        try:
            parse_periods(value)
        except CalendarError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return [{"weekday": p["weekday"], "opens": p["opens"], "closes": p["closes"]} for p in value]

    def validate_closed_days(self, value) -> list[str]:
        return sorted({d.isoformat() for d in value})

    def validate(self, attrs: dict) -> dict:
        country = attrs.get("holidays_country", getattr(self.instance, "holidays_country", ""))
        subdivision = attrs.get("holidays_subdivision", getattr(self.instance, "holidays_subdivision", ""))
        try:
            check_holiday_region(country, subdivision)
        except CalendarError as exc:
            raise serializers.ValidationError({"holidays": [str(exc)]}) from exc
        return attrs


@extend_schema_view(
    list=extend_schema(summary="Service calendars (admins and supervisors)"),
    retrieve=extend_schema(summary="One service calendar"),
    create=extend_schema(summary="Create a service calendar (admins)"),
    partial_update=extend_schema(summary="Change a service calendar (admins); its version goes up"),
    update=extend_schema(summary="Replace a service calendar (admins); its version goes up"),
)
class ServiceCalendarViewSet(viewsets.ModelViewSet):
    serializer_class = ServiceCalendarSerializer
    permission_classes = [AdminsWriteSupervisorsRead]
    pagination_class = ById
    filter_backends = []
    http_method_names = ["get", "post", "patch", "put", "head", "options"]

    def get_queryset(self) -> QuerySet[ServiceCalendar]:
        return ServiceCalendar.objects.all()

    def perform_create(self, serializer):
        serializer.instance = service_calendar_save(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = service_calendar_save(
            actor=self.request.user, calendar=serializer.instance, **serializer.validated_data
        )


# --- SLA policies ----------------------------------------------------------------------------


class EscalationSerializer(serializers.Serializer):
    at = serializers.IntegerField(min_value=1, max_value=1000, help_text=_("Percent of the target"))
    action = serializers.ChoiceField(choices=SlaPolicy.Action.choices)
    team = serializers.SlugField(required=False, allow_blank=True, help_text=_("For reassign: the team's slug"))

    def validate(self, attrs: dict) -> dict:
        reassign = attrs["action"] == SlaPolicy.Action.REASSIGN
        if reassign and not (attrs.get("team") and Team.objects.filter(slug=attrs["team"]).exists()):
            raise serializers.ValidationError({"team": [_("Reassigning needs an existing team's slug.")]})
        return attrs


class SlaPolicySerializer(serializers.ModelSerializer):
    warn_at = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=99), required=False,
                                    help_text=_("Warning thresholds, percent of the target (default 75, 90)"))
    escalations = EscalationSerializer(many=True, required=False)

    class Meta:
        model = SlaPolicy
        fields = ["id", "name", "team", "account", "priority", "first_response_minutes", "next_response_minutes",
                  "substantive_minutes", "resolution_minutes", "warn_at", "escalations", "notify_outside_hours",
                  "is_active", "version", "created_at", "updated_at"]
        read_only_fields = ["id", "version", "created_at", "updated_at"]
        extra_kwargs = {"priority": {"min_value": 0, "max_value": 3}}

    def validate_warn_at(self, value: list[int]) -> list[int]:
        return sorted(set(value))

    def validate_escalations(self, value: list[dict]) -> list[dict]:
        return [{k: v for k, v in step.items() if v not in ("", None)} for step in value]


@extend_schema_view(
    list=extend_schema(summary="SLA policies (admins and supervisors)"),
    retrieve=extend_schema(summary="One SLA policy"),
    create=extend_schema(summary="Create an SLA policy (admins)"),
    partial_update=extend_schema(summary="Change an SLA policy (admins); running clocks keep their version"),
    update=extend_schema(summary="Replace an SLA policy (admins); running clocks keep their version"),
)
class SlaPolicyViewSet(viewsets.ModelViewSet):
    serializer_class = SlaPolicySerializer
    permission_classes = [AdminsWriteSupervisorsRead]
    pagination_class = ById
    filter_backends = []
    http_method_names = ["get", "post", "patch", "put", "head", "options"]

    def get_queryset(self) -> QuerySet[SlaPolicy]:
        return SlaPolicy.objects.all()

    def perform_create(self, serializer):
        serializer.instance = sla_policy_save(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = sla_policy_save(actor=self.request.user, policy=serializer.instance,
                                              **serializer.validated_data)


# --- a channel account's calendar ------------------------------------------------------------


class ChannelAccountCalendarSerializer(serializers.Serializer):
    calendar = serializers.PrimaryKeyRelatedField(
        queryset=ServiceCalendar.objects.all(), allow_null=True,
        help_text=_("The service calendar's id; null serves the account around the clock"),
    )


class ChannelAccountCalendarView(APIView):
    permission_classes = [AdminsOnly]

    @extend_schema(
        summary="Give a channel account its service calendar (admins)",
        request=ChannelAccountCalendarSerializer,
        responses={200: ChannelAccountSerializer, 404: OpenApiResponse(description="No such channel account.")},
    )
    def patch(self, request, pk: int):
        account = get_object_or_404(ChannelAccount.objects.select_related("default_team"), pk=pk)
        serializer = ChannelAccountCalendarSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel_account_calendar_set(actor=request.user, account=account, calendar=serializer.validated_data["calendar"])
        return Response(ChannelAccountSerializer(account).data, status=status.HTTP_200_OK)
