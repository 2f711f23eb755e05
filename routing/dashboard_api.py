"""``GET /api/v1/dashboard/``: the supervisor's dashboard as JSON, or its tables as CSV.

Mounted from ``inbox/api/urls.py``. The figures come from ``routing.dashboard`` (the page
shows the same ones). Supervisors and admins only: an officer gets a 403, a team the user
does not supervise (or that does not exist) a 404.

CSV: ``?format=csv`` or ``Accept: text/csv``. With ``table=<name>`` one plain CSV of that
table (a header row, then the rows: what a spreadsheet opens); without it every table in one
file, each section headed by a ``# <name>`` line and separated by a blank line.
"""

from __future__ import annotations

import csv
import io

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.audit import audit_record
from routing.dashboard import (
    PERIOD_LABELS,
    PERIODS,
    TABLE_NAMES,
    Attainment,
    Figures,
    csv_value,
    dashboard_figures,
    dashboard_scope,
    dashboard_tables,
    may_see_dashboard,
)

# --- output ----------------------------------------------------------------------------------


def _attainment(item: Attainment) -> dict:
    return {
        "answered": item.answered, "within_target": item.within, "within_target_share": item.within_share,
        "holding": {"count": item.holding, "within_target": item.holding_within, "share": item.holding_share},
        "substantive": {"count": item.substantive, "within_target": item.substantive_within,
                        "share": item.substantive_share},
        "closed_without_response": {"count": item.closed_without_response, "share": item.closed_share},
        "median_business_minutes": item.median_business, "p90_business_minutes": item.p90_business,
        "median_calendar_minutes": item.median_calendar, "p90_calendar_minutes": item.p90_calendar,
    }


def _conversation(c) -> dict:
    return {
        "id": c.id, "subject": c.subject, "team": c.team.slug if c.team else None,
        "channel": c.account_id, "assignee": c.assignee_id,
        "assignee_name": (c.assignee.get_full_name() or c.assignee.get_username()) if c.assignee else "",
        "sla_state": c.sla_state, "due_at": c.sla_due_at,
        "url": reverse("inbox:conversation", args=[c.id]),
    }


def dashboard_data(figures: Figures) -> dict:
    """The JSON body: the same figures as the page and the CSV."""
    scope = figures.scope
    return {
        "generated_at": scope.now,
        "period": {"key": scope.period, "label": str(PERIOD_LABELS[scope.period]), "days": scope.days,
                   "start": scope.start_day, "end": scope.end_day, "timezone": scope.tz.key},
        "filters": {"team": scope.team.slug if scope.team else None,
                    "account": scope.account.id if scope.account else None},
        "teams": [{"slug": t.slug, "name": t.name} for t in scope.teams],
        "tiles": {
            "open": figures.open, "unassigned": figures.unassigned, "at_risk": figures.at_risk,
            "breached": figures.breached, "oldest_wait_business_minutes": figures.oldest_wait,
            "oldest_wait_conversation": figures.oldest_wait_conversation,
        },
        "channels": [
            {"id": c.account.id, "name": str(c.account), "platform": c.account.platform, "open_now": c.open_now,
             "always_open": c.always_open, "next_change": c.next_change, "status": c.label}
            for c in figures.channels
        ],
        "first_response": {
            **_attainment(figures.total),
            "after_holding": {"answered": figures.after_holding_answered, "waiting": figures.after_holding_waiting,
                              "median_business_minutes": figures.after_holding_median},
        },
        "attainment_by_team": [
            {"team": next((t.slug for t in scope.teams if t.id == a.key), None), "name": a.label, **_attainment(a)}
            for a in figures.by_team
        ],
        "attainment_by_channel": [
            {"channel": a.key, "name": a.label, **_attainment(a)} for a in figures.by_channel
        ],
        "distribution": figures.distribution,
        "volume": {"messages_in": figures.messages_in, "messages_out": figures.messages_out,
                   "per_hour": figures.volume},
        "officers": [
            {"id": o.id, "name": o.name, "assigned": o.assigned, "answered": o.answered, "replies": o.replies,
             "median_first_response_business_minutes": o.median_business, "open_now": o.open_now}
            for o in figures.officers
        ],
        "about_to_breach": [_conversation(c) for c in figures.about_to_breach],
        "breached": [_conversation(c) for c in figures.breached_list],
    }


# --- the schema (documentation of the JSON above) --------------------------------------------


class DashboardShare(serializers.Serializer):
    count = serializers.IntegerField()
    within_target = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text=_("Percent, one decimal; null when count is 0"))


class DashboardClosed(serializers.Serializer):
    count = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text=_("Percent of first messages settled in the period"))


class DashboardAttainment(serializers.Serializer):
    answered = serializers.IntegerField(help_text=_("First responses (holding or substantive) in the period"))
    within_target = serializers.IntegerField()
    within_target_share = serializers.FloatField(allow_null=True)
    holding = DashboardShare()
    substantive = DashboardShare()
    closed_without_response = DashboardClosed()
    median_business_minutes = serializers.FloatField(allow_null=True)
    p90_business_minutes = serializers.FloatField(allow_null=True)
    median_calendar_minutes = serializers.FloatField(allow_null=True)
    p90_calendar_minutes = serializers.FloatField(allow_null=True)


class DashboardAfterHolding(serializers.Serializer):
    answered = serializers.IntegerField()
    waiting = serializers.IntegerField()
    median_business_minutes = serializers.FloatField(allow_null=True)


class DashboardFirstResponse(DashboardAttainment):
    after_holding = DashboardAfterHolding(help_text=_("The real answer after a holding reply"))


class DashboardTeamAttainment(DashboardAttainment):
    team = serializers.SlugField(allow_null=True, help_text=_("null: conversations without a team"))
    name = serializers.CharField()


class DashboardChannelAttainment(DashboardAttainment):
    channel = serializers.IntegerField(help_text=_("Channel account id"))
    name = serializers.CharField()


class DashboardPeriod(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(PERIODS))
    label = serializers.CharField()
    days = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    timezone = serializers.CharField()


class DashboardFilters(serializers.Serializer):
    team = serializers.SlugField(allow_null=True)
    account = serializers.IntegerField(allow_null=True)


class DashboardTeam(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class DashboardTiles(serializers.Serializer):
    open = serializers.IntegerField()
    unassigned = serializers.IntegerField()
    at_risk = serializers.IntegerField()
    breached = serializers.IntegerField(help_text=_("Breached now (open conversations past their due time)"))
    oldest_wait_business_minutes = serializers.FloatField(allow_null=True)
    oldest_wait_conversation = serializers.IntegerField(allow_null=True)


class DashboardChannel(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    platform = serializers.CharField()
    open_now = serializers.BooleanField()
    always_open = serializers.BooleanField()
    next_change = serializers.DateTimeField(allow_null=True, help_text=_("When it closes (open) or opens (closed)"))
    status = serializers.CharField(help_text=_('E.g. "Closed · opens Mon 8:00", in the calendar\'s zone'))


class DashboardBucket(serializers.Serializer):
    from_minutes = serializers.IntegerField()
    to_minutes = serializers.IntegerField(allow_null=True)
    holding = serializers.IntegerField()
    substantive = serializers.IntegerField()


class DashboardHour(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23, help_text=_("Hour of the day, local time"))
    messages_in = serializers.FloatField(help_text=_("Average per day of the period"))
    messages_out = serializers.FloatField()
    officers_answered = serializers.FloatField(help_text=_("Officers who sent a reply in that hour, per day"))


class DashboardVolume(serializers.Serializer):
    messages_in = serializers.IntegerField()
    messages_out = serializers.IntegerField()
    per_hour = DashboardHour(many=True)


class DashboardOfficer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    assigned = serializers.IntegerField(help_text=_("Conversations of the period now assigned to them"))
    answered = serializers.IntegerField(help_text=_("First responses they gave in the period"))
    replies = serializers.IntegerField(help_text=_("Replies they sent in the period"))
    median_first_response_business_minutes = serializers.FloatField(allow_null=True)
    open_now = serializers.IntegerField()


class DashboardConversation(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    team = serializers.SlugField(allow_null=True)
    channel = serializers.IntegerField()
    assignee = serializers.IntegerField(allow_null=True)
    assignee_name = serializers.CharField()
    sla_state = serializers.CharField()
    due_at = serializers.DateTimeField()
    url = serializers.CharField()


class DashboardSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    period = DashboardPeriod()
    filters = DashboardFilters()
    teams = DashboardTeam(many=True)
    tiles = DashboardTiles()
    channels = DashboardChannel(many=True)
    first_response = DashboardFirstResponse()
    attainment_by_team = DashboardTeamAttainment(many=True)
    attainment_by_channel = DashboardChannelAttainment(many=True)
    distribution = DashboardBucket(many=True)
    volume = DashboardVolume()
    officers = DashboardOfficer(many=True)
    about_to_breach = DashboardConversation(many=True, help_text=_("Running and at-risk conversations, soonest due first"))
    breached = DashboardConversation(many=True, help_text=_("Breached conversations, longest overdue first"))


# --- CSV -------------------------------------------------------------------------------------


def tables_csv(tables: dict, name: str | None = None) -> str:
    """One table as a plain CSV, or every table as sections (``# name`` lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    chosen = [tables[name]] if name else [tables[n] for n in TABLE_NAMES]
    for index, table in enumerate(chosen):
        if not name:
            if index:
                writer.writerow([])
            writer.writerow([f"# {table.name}"])
        writer.writerow([key for key, _heading in table.columns])
        for row in table.rows:
            writer.writerow([csv_value(row.get(key)) for key, _heading in table.columns])
    return out.getvalue()


class DashboardCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        context = renderer_context or {}
        view, response = context.get("view"), context.get("response")
        tables = getattr(view, "tables", None)
        if tables is None or (response is not None and response.status_code >= 400):
            # An error: its detail as a one-column CSV.
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(["detail"])
            items = data.items() if isinstance(data, dict) else [("detail", data)]
            for key, value in items:
                writer.writerow([value if key == "detail" else f"{key}: {value}"])
            return out.getvalue().encode()
        name = getattr(view, "table", None)
        if response is not None:
            stem = f"dashboard-{view.scope.period}" + (f"-{name}" if name else "")
            response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return tables_csv(tables, name).encode()


# --- the view --------------------------------------------------------------------------------


class SupervisorsOnly(BasePermission):
    message = _("The dashboard is for supervisors and admins.")

    def has_permission(self, request, view) -> bool:
        return may_see_dashboard(request.user)


class DashboardView(APIView):
    permission_classes = [SupervisorsOnly]
    renderer_classes = [JSONRenderer, DashboardCSVRenderer]

    @extend_schema(
        summary="The supervisor's dashboard (supervisors and admins)",
        description=(
            "Tiles (open, unassigned, at risk, breached now, oldest wait in business minutes, each channel's "
            "service hours), the period's first-response median and 90th percentile in business and calendar "
            "minutes (interpolated over response times counted in fixed buckets: to the minute under an hour, "
            "5 minutes under 4 hours, 15 under 8 hours, 30 under a day, an hour under a week, a day beyond; "
            "docs/sla.md), the share answered within target (holding and substantive apart), closed without "
            "response, volume per hour, the per-officer table and the about-to-breach list. "
            "`?format=csv` or `Accept: text/csv` returns the tables as CSV: one table with `table=<name>`, "
            "else every table in sections headed `# <name>`."
        ),
        parameters=[
            OpenApiParameter("team", OpenApiTypes.STR, description="A team's slug (default: all the user's teams)"),
            OpenApiParameter("account", OpenApiTypes.INT, description="A channel account's id"),
            OpenApiParameter("period", OpenApiTypes.STR, enum=list(PERIODS), description="Default 7d"),
            OpenApiParameter("table", OpenApiTypes.STR, enum=list(TABLE_NAMES),
                             description="CSV only: one table instead of all of them"),
        ],
        responses={
            (200, "application/json"): DashboardSerializer,
            (200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR, description="The tables as CSV",
                                               examples=[OpenApiExample("officers", value=(
                                                   "officer,assigned,answered,replies,"
                                                   "median_first_response_business_minutes,open_now\r\n"
                                                   "Alice,12,10,14,38.5,2\r\n"))]),
            403: OpenApiResponse(description="Not a supervisor or admin."),
            404: OpenApiResponse(description="No such team among the user's, or no such channel account."),
        },
    )
    def get(self, request):
        table = request.query_params.get("table") or None
        if table is not None and table not in TABLE_NAMES:
            raise ValidationError({"table": [_("Unknown table; one of: %(names)s") % {"names": ", ".join(TABLE_NAMES)}]})
        self.scope = dashboard_scope(
            request.user, team=request.query_params.get("team"), account=request.query_params.get("account"),
            period=request.query_params.get("period"),
        )
        figures = dashboard_figures(self.scope)
        self.table = table
        self.tables = dashboard_tables(figures)
        if request.accepted_renderer.format == "csv":
            # Exports are on the record (the page's own views are not: it refreshes every minute).
            audit_record(request.user, "dashboard.export", request.user, table=table or "all",
                         team=request.query_params.get("team") or "", account=request.query_params.get("account") or "",
                         period=self.scope.period)
        return Response(DashboardSerializer(dashboard_data(figures)).data)
