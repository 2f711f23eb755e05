"""The supervisor's dashboard: its figures, as reads (see docs/sla.md, "Rollups and the dashboard").

Everything comes from the rollups (``SlaResponseFact``, ``VolumeHour``, ``OfficerHour``), the
stored clocks and the conversations' denormalised SLA columns — never from the messages — so
the number of queries is fixed (about twenty) and none of them reads more than the period's
rollup rows or the open conversations.

``dashboard_scope`` decides what a user may see (403 for officers, 404 for a team that is not
theirs); ``dashboard_figures`` computes; ``dashboard_tables`` flattens the figures into the
rows that the page's tables, the CSV and the API share, so they cannot disagree.

Units: durations are minutes with one decimal (business minutes unless the name says
calendar); shares are percentages with one decimal, or None when there is nothing to share.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, Q, Sum
from django.http import Http404
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from guardian.models import UserObjectPermission

from inbox.models import ChannelAccount, Conversation, Team
from inbox.permissions import REPLY, SUPERVISE, sees_unrouted, teams_for_user
from routing import sla_rollups as rollups
from routing.calendars import calendar_for
from routing.models import OfficerHour, SlaClock, SlaResponseFact, SlaRollup, VolumeHour
from routing.sla_rollups import bucket_of, histogram_percentile

PERIODS = {"today": 1, "7d": 7, "30d": 30}
PERIOD_LABELS = {
    "today": gettext_lazy("Today"),
    "7d": gettext_lazy("Last 7 days"),
    "30d": gettext_lazy("Last 30 days"),
}
DEFAULT_PERIOD = "7d"
LIST_SIZE = 20

# First-response distribution, in business minutes: [from, to) — around the usual 120.
BUCKETS = ((0, 15), (15, 30), (30, 60), (60, 90), (90, 120), (120, 240), (240, 480), (480, None))

ACTIVE = list(Conversation.ACTIVE_STATUSES)
RESPONSE_KINDS = (SlaClock.Kind.FIRST_RESPONSE, SlaClock.Kind.NEXT_RESPONSE, SlaClock.Kind.SUBSTANTIVE)
ANSWERED = (SlaResponseFact.Kind.HOLDING, SlaResponseFact.Kind.SUBSTANTIVE)
HOLDING, SUBSTANTIVE = SlaResponseFact.Kind.HOLDING, SlaResponseFact.Kind.SUBSTANTIVE
CLOSED_WITHOUT_RESPONSE = SlaResponseFact.Kind.CLOSED_WITHOUT_RESPONSE


# --- scope -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What one request of the dashboard covers."""

    teams: tuple[Team, ...]  # the teams in scope (one when filtered)
    all_teams: tuple[Team, ...]  # every team the user supervises (for the filter)
    team: Team | None  # the team filter, if any
    account: ChannelAccount | None
    accounts: tuple[ChannelAccount, ...]  # every channel account (for the filter and the tiles)
    unrouted: bool  # conversations without a team are included (global supervisors, no filter)
    period: str
    start_day: date
    end_day: date
    start: datetime  # midnight of start_day in the administration's zone
    now: datetime
    tz: ZoneInfo

    @property
    def team_ids(self) -> list[int]:
        return [t.id for t in self.teams]

    @property
    def days(self) -> int:
        return PERIODS[self.period]

    @property
    def everything(self) -> bool:
        """Every team and the unrouted: no team condition at all (admins, global supervisors),
        which lets the indexes answer alone."""
        return self.unrouted

    def team_q(self, field: str = "team_id") -> Q:
        if self.everything:
            return Q()
        q = Q(**{f"{field}__in": self.team_ids})
        if self.unrouted:
            q |= Q(**{f"{field}__isnull": True})
        return q

    def filters(self, team_field: str = "team_id", account_field: str = "account_id") -> Q:
        q = self.team_q(team_field)
        if self.account is not None:
            q &= Q(**{account_field: self.account.id})
        return q


def _now() -> datetime:
    """The dashboard's clock (a function, so that tests can fix it)."""
    return timezone.now()


def may_see_dashboard(user) -> bool:
    return bool(user.is_authenticated and teams_for_user(user, SUPERVISE).exists())


def dashboard_scope(user, *, team: str | None = None, account: str | int | None = None,
                    period: str | None = None, now: datetime | None = None) -> Scope:
    """The scope of ``user``'s dashboard. Raises PermissionDenied for those who supervise no
    team (officers) and Http404 for a team slug they do not supervise or an unknown account;
    an unknown period falls back to the default."""
    if not user.is_authenticated:
        raise PermissionDenied
    all_teams = tuple(teams_for_user(user, SUPERVISE).only("id", "name", "slug").order_by("name", "id"))
    if not all_teams:
        raise PermissionDenied(_("The dashboard is for supervisors and admins."))
    chosen = None
    if team:
        chosen = next((t for t in all_teams if t.slug == team), None)
        if chosen is None:
            raise Http404(_("No such team."))
    accounts = tuple(
        ChannelAccount.objects.exclude(status=ChannelAccount.Status.DISABLED)
        .select_related("calendar").order_by("platform", "name", "id")
    )
    chosen_account = None
    if account not in (None, ""):
        try:
            account_id = int(account)
        except (TypeError, ValueError):
            raise Http404(_("No such channel account.")) from None
        chosen_account = next((a for a in accounts if a.id == account_id), None)
        if chosen_account is None:
            raise Http404(_("No such channel account."))
    period = period if period in PERIODS else DEFAULT_PERIOD
    now = now or _now()
    tz = ZoneInfo(settings.TIME_ZONE)
    end_day = now.astimezone(tz).date()
    start_day = end_day - timedelta(days=PERIODS[period] - 1)
    return Scope(
        teams=(chosen,) if chosen else all_teams, all_teams=all_teams, team=chosen,
        account=chosen_account, accounts=accounts,
        unrouted=chosen is None and sees_unrouted(user),
        period=period, start_day=start_day, end_day=end_day,
        start=datetime.combine(start_day, time(0), tz), now=now, tz=tz,
    )


# --- figures ---------------------------------------------------------------------------------


@dataclass
class Attainment:
    """First responses of a group in the period."""

    key: object = None
    label: str = ""
    answered: int = 0
    within: int = 0
    holding: int = 0
    holding_within: int = 0
    substantive: int = 0
    substantive_within: int = 0
    closed_without_response: int = 0
    median_business: float | None = None
    p90_business: float | None = None
    median_calendar: float | None = None
    p90_calendar: float | None = None

    @property
    def within_share(self) -> float | None:
        return share(self.within, self.answered)

    @property
    def holding_share(self) -> float | None:
        return share(self.holding_within, self.holding)

    @property
    def substantive_share(self) -> float | None:
        return share(self.substantive_within, self.substantive)

    @property
    def closed_share(self) -> float | None:
        return share(self.closed_without_response, self.answered + self.closed_without_response)


@dataclass
class OfficerRow:
    id: int
    name: str = ""
    assigned: int = 0
    answered: int = 0
    replies: int = 0
    median_business: float | None = None
    open_now: int = 0


@dataclass
class Channel:
    account: ChannelAccount
    open_now: bool
    always_open: bool
    next_change: datetime | None  # when it closes (open) or opens (closed)
    label: str


@dataclass
class Figures:
    scope: Scope
    # tiles
    open: int = 0
    unassigned: int = 0
    at_risk: int = 0
    breached: int = 0
    oldest_wait: float | None = None  # business minutes
    oldest_wait_conversation: int | None = None
    channels: list[Channel] = field(default_factory=list)
    # the period
    total: Attainment = field(default_factory=Attainment)
    after_holding_answered: int = 0
    after_holding_waiting: int = 0
    after_holding_median: float | None = None
    by_team: list[Attainment] = field(default_factory=list)
    by_channel: list[Attainment] = field(default_factory=list)
    distribution: list[dict] = field(default_factory=list)
    volume: list[dict] = field(default_factory=list)
    messages_in: int = 0
    messages_out: int = 0
    officers: list[OfficerRow] = field(default_factory=list)
    about_to_breach: list[Conversation] = field(default_factory=list)
    breached_list: list[Conversation] = field(default_factory=list)
    officers_by_team: dict[int, list] = field(default_factory=dict)


def share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def percentile_cont(values: Sequence[float], p: float) -> float | None:
    """The same interpolation as PostgreSQL's ``percentile_cont``, for other databases."""
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    lower, upper = math.floor(position), math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _from_rollups() -> bool:
    """Read the period's figures from the window rollups (PostgreSQL), else from the facts."""
    return connection.vendor == "postgresql"


def _bucketed(seconds: int | None) -> int:
    """A duration as the rollups count it: the lower bound of its bucket, in seconds."""
    return bucket_of(seconds) * 60


def _facts_grouped(facts, group: str | None) -> dict[object, Attainment]:
    """Counts and percentiles of first responses, by ``group`` (None: one total row); the
    percentiles over the same buckets as the rollups', so that both paths agree."""
    answered = Q(kind__in=ANSWERED)
    aggregates = {
        "answered": Count("id", filter=answered),
        "within": Count("id", filter=answered & Q(within_target=True)),
        "holding": Count("id", filter=Q(kind=HOLDING)),
        "holding_within": Count("id", filter=Q(kind=HOLDING, within_target=True)),
        "substantive": Count("id", filter=Q(kind=SUBSTANTIVE)),
        "substantive_within": Count("id", filter=Q(kind=SUBSTANTIVE, within_target=True)),
        "closed_without_response": Count("id", filter=Q(kind=CLOSED_WITHOUT_RESPONSE)),
    }
    rows = facts.values(group).annotate(**aggregates).order_by() if group else [facts.aggregate(**aggregates)]
    out: dict[object, Attainment] = {}
    for row in rows:
        key = row.get(group) if group else None
        out[key] = Attainment(key=key, **{k: row[k] or 0 for k in aggregates})
    values: dict[object, dict[str, list[int]]] = defaultdict(lambda: {"business_seconds": [], "calendar_seconds": []})
    for key, business, calendar in facts.filter(answered).values_list(group or "kind", "business_seconds",
                                                                       "calendar_seconds"):
        bucket = values[key if group else None]
        bucket["business_seconds"].append(_bucketed(business))
        bucket["calendar_seconds"].append(_bucketed(calendar))
    for key, item in out.items():
        for name, (column, p) in _PERCENTILES.items():
            setattr(item, name, minutes(percentile_cont(values[key][column], p)))
    return out


def _tiles(figures: Figures, scope: Scope) -> dict[int | None, int]:
    """Open, unassigned, at risk and breached now; and each officer's open conversations."""
    rows = (
        Conversation.objects.filter(scope.filters(), status__in=ACTIVE)
        .values("assignee_id", "sla_state").annotate(n=Count("*")).order_by()  # COUNT(*): from the index alone
    )
    open_by_officer: dict[int | None, int] = defaultdict(int)
    for row in rows:
        figures.open += row["n"]
        open_by_officer[row["assignee_id"]] += row["n"]
        if row["assignee_id"] is None:
            figures.unassigned += row["n"]
        if row["sla_state"] == "at_risk":
            figures.at_risk += row["n"]
        elif row["sla_state"] == "breached":
            figures.breached += row["n"]
    return open_by_officer


def _oldest_wait(figures: Figures, scope: Scope) -> None:
    """The longest business wait among running response clocks: per calendar, the clock that
    started first (one query: a ``UNION ALL`` of one index walk per calendar, whatever the
    backlog), then its business time less its pauses."""
    calendars = {a.calendar_id: a.calendar for a in scope.accounts}
    calendars.setdefault(None, None)
    base = SlaClock.objects.filter(
        scope.filters("conversation__team_id", "conversation__account_id"),
        state__in=[SlaClock.State.RUNNING, SlaClock.State.BREACHED], kind__in=RESPONSE_KINDS,
        conversation__status__in=ACTIVE,
    )
    parts = [
        (base.filter(calendar_id=calendar_id) if calendar_id is not None else base.filter(calendar__isnull=True))
        .order_by("started_at").values_list("conversation_id", "calendar_id", "started_at", "paused_seconds")[:1]
        for calendar_id in sorted(calendars, key=lambda i: (i is None, i or 0))
    ]
    best = None
    for conversation_id, calendar_id, started_at, paused in parts[0].union(*parts[1:], all=True):
        cal = calendar_for(calendars.get(calendar_id))
        waited = max(0, cal.business_seconds(started_at, scope.now) - paused)
        if best is None or waited > best[0]:
            best = (waited, conversation_id)
    if best:
        figures.oldest_wait, figures.oldest_wait_conversation = minutes(best[0]), best[1]


def channel_service(account: ChannelAccount, now: datetime) -> Channel:
    """Whether the account's channel is in service now, and when that changes."""
    cal = calendar_for(account.calendar)
    if cal.always_open:
        return Channel(account, True, True, None, _("Open around the clock"))
    if cal.is_open(now):
        closes = cal.next_closing(now)
        label = _("Open · closes %(when)s") % {"when": _when(closes, cal.tz, now)} if closes else _("Open")
        return Channel(account, True, False, closes, label)
    opens = cal.next_opening(now)
    if opens is None:
        return Channel(account, False, False, None, _("Closed · no opening hours"))
    return Channel(account, False, False, opens, _("Closed · opens %(when)s") % {"when": _when(opens, cal.tz, now)})


def _when(at: datetime, tz: ZoneInfo, now: datetime) -> str:
    """"Mon 8:00" in the calendar's zone (with the date when it is more than a week away)."""
    local = at.astimezone(tz)
    if local - now.astimezone(tz) > timedelta(days=6):
        return formats.date_format(local, "D j M G:i")
    return formats.date_format(local, "D G:i")


def _volume(figures: Figures, scope: Scope) -> None:
    """Messages in and out, and officers who answered, per hour of the day (local time),
    averaged per day of the period (exact for today)."""
    rows = (
        VolumeHour.objects.filter(scope.filters(), hour__gte=scope.start)
        .values("hour").annotate(n_in=Sum("messages_in"), n_out=Sum("messages_out")).order_by()
    )
    officer_rows = (
        OfficerHour.objects.filter(scope.filters(), hour__gte=scope.start)
        .values("hour").annotate(officers=Count("officer_id", distinct=True)).order_by()
    )
    totals = {h: [0, 0, 0] for h in range(24)}
    for row in rows:
        local = row["hour"].astimezone(scope.tz).hour
        totals[local][0] += row["n_in"] or 0
        totals[local][1] += row["n_out"] or 0
        figures.messages_in += row["n_in"] or 0
        figures.messages_out += row["n_out"] or 0
    for row in officer_rows:
        totals[row["hour"].astimezone(scope.tz).hour][2] += row["officers"]
    days = scope.days
    figures.volume = [
        {"hour": h, "messages_in": round(t[0] / days, 1), "messages_out": round(t[1] / days, 1),
         "officers_answered": round(t[2] / days, 1)}
        for h, t in sorted(totals.items())
    ]


def _distribution(facts) -> list[dict]:
    aggregates = {}
    for index, (low, high) in enumerate(BUCKETS):
        span = Q(business_seconds__gte=low * 60)
        if high is not None:
            span &= Q(business_seconds__lt=high * 60)
        aggregates[f"h{index}"] = Count("id", filter=span & Q(kind=HOLDING))
        aggregates[f"s{index}"] = Count("id", filter=span & Q(kind=SUBSTANTIVE))
    row = facts.aggregate(**aggregates)
    return [
        {"from_minutes": low, "to_minutes": high, "holding": row[f"h{i}"] or 0, "substantive": row[f"s{i}"] or 0}
        for i, (low, high) in enumerate(BUCKETS)
    ]


def _officers(figures: Figures, scope: Scope, by_officer: dict[object, Attainment],
              open_by_officer: dict[int | None, int]) -> None:
    rows: dict[int, OfficerRow] = {}

    def row(officer_id: int) -> OfficerRow:
        if officer_id not in rows:
            rows[officer_id] = OfficerRow(id=officer_id)
        return rows[officer_id]

    # Who may answer the teams' conversations (directly granted, as team_member_add does): one query.
    team_type = ContentType.objects.get_for_model(Team)
    for user_id, team_pk in UserObjectPermission.objects.filter(
        content_type=team_type, permission__codename=REPLY, object_pk__in=[str(i) for i in scope.team_ids],
    ).values_list("user_id", "object_pk"):
        figures.officers_by_team.setdefault(int(team_pk), []).append(user_id)
        row(user_id)
    for officer_id, n in open_by_officer.items():
        if officer_id is not None:
            row(officer_id).open_now = n
    assigned = (
        Conversation.objects.filter(scope.filters(), assignee__isnull=False, first_inbound_at__gte=scope.start)
        .values("assignee_id").annotate(n=Count("*")).order_by()
    )
    for item in assigned:
        row(item["assignee_id"]).assigned = item["n"]
    for officer_id, attainment in by_officer.items():
        officer = row(officer_id)
        officer.answered = attainment.answered
        officer.median_business = attainment.median_business
    for item in (
        OfficerHour.objects.filter(scope.filters(), hour__gte=scope.start)
        .values("officer_id").annotate(n=Sum("replies")).order_by()
    ):
        row(item["officer_id"]).replies = item["n"] or 0
    users = get_user_model().objects.filter(id__in=list(rows)).only("id", "username", "first_name", "last_name")
    names = {u.id: (u.get_full_name() or u.get_username()) for u in users}
    for officer in rows.values():
        officer.name = names.get(officer.id, f"#{officer.id}")
    figures.officers = sorted(rows.values(), key=lambda o: (-o.open_now, -o.answered, o.name.lower(), o.id))


def _lists(figures: Figures, scope: Scope) -> None:
    """The about-to-breach and breached lists: their ids first, from the due-time index alone,
    then those rows with what the page shows (four queries; one query with the joins misled
    the planner into joining every open conversation before sorting)."""
    due = Conversation.objects.filter(scope.filters(), status__in=ACTIVE, sla_due_at__isnull=False).order_by(
        "sla_due_at", "id"
    )
    # Not yet breached: due from an hour ago on (a running conversation past its due time is
    # one the scan has not reached yet, a minute at most), which skips the breached ones in the
    # index instead of reading past them.
    soon = list(due.filter(sla_state__in=["running", "at_risk"], sla_due_at__gte=scope.now - timedelta(hours=1))
                .values_list("id", flat=True)[:LIST_SIZE])
    late = list(due.filter(sla_state="breached").values_list("id", flat=True)[:LIST_SIZE])
    rows = (
        Conversation.objects.select_related("team", "account", "assignee", "contact")
        .only("id", "subject", "status", "sla_state", "sla_due_at", "priority", "team__name", "team__slug",
              "account__name", "account__platform", "assignee__username", "assignee__first_name",
              "assignee__last_name", "contact__name", "contact__handle")
    )
    by_id = {c.id: c for c in rows.filter(id__in=soon + late)}
    figures.about_to_breach = [by_id[i] for i in soon if i in by_id]
    figures.breached_list = [by_id[i] for i in late if i in by_id]


@dataclass
class FactFigures:
    total: Attainment
    by_team: dict[object, Attainment]
    by_account: dict[object, Attainment]
    by_officer: dict[object, Attainment]
    after_answered: int = 0
    after_waiting: int = 0
    after_median: float | None = None
    distribution: list[dict] = field(default_factory=list)


_PERCENTILES = {
    "median_business": ("business_seconds", 0.5), "p90_business": ("business_seconds", 0.9),
    "median_calendar": ("calendar_seconds", 0.5), "p90_calendar": ("calendar_seconds", 0.9),
}


def _facts_rollup(scope: Scope) -> FactFigures:
    """The period's facts from the window rollups (``routing.sla_rollups``): one index range
    of the windows ending today — a few thousand rows of (measure, team, account, officer,
    bucket, count) for a month of every team — summed here into the total and each group,
    percentiles from the buckets. (Percentiles over the facts themselves, by grouping sets,
    cost 350 ms for a month on the bench.) With a channel filter, the officers' figures come
    from the facts: officer rows are kept per team, not per channel."""
    where = ["end_day = %s", "days = %s"]
    params: list = [scope.end_day, scope.days]
    if not scope.everything:
        where.append("team_key = ANY(%s)")
        params.append(scope.team_ids + ([0] if scope.unrouted else []))
    if scope.account is not None:
        where.append("account_key = %s")
        params.append(scope.account.id)
    # Summed here into the total, each team, each account and each officer: one pass, a few
    # dictionary updates per row. (Summing them in PostgreSQL by grouping sets cost more than
    # it saved: 100 ms of sorting on the loaded bench against 20 ms of Python.)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT measure, team_key, account_key, officer_key, bucket, n FROM {SlaRollup._meta.db_table} "  # noqa: S608
            f"WHERE {' AND '.join(where)}",
            params,
        )
        rows = cursor.fetchall()
    result = FactFigures(total=Attainment(), by_team={}, by_account={}, by_officer={})
    # measure → group (None: total, ("team", id), ("account", id)) → bucket → count
    data: dict[str, dict[object, dict[int, int]]] = defaultdict(dict)
    officers: dict[int, dict[int, int]] = defaultdict(dict)
    for measure, team_key, account_key, officer_key, bucket, n in rows:
        if measure == rollups.OFFICER:
            if scope.account is None:
                histogram = officers[officer_key]
                histogram[bucket] = histogram.get(bucket, 0) + n
            continue
        groups = data[measure]
        for key in (None, ("team", team_key or None), ("account", account_key)):
            histogram = groups.get(key)
            if histogram is None:
                histogram = groups[key] = {}
            histogram[bucket] = histogram.get(bucket, 0) + n

    def attainment(key) -> Attainment:
        item = Attainment(key=key[1] if key else None)
        for code, n in data[rollups.OUTCOME].get(key, {}).items():
            if code == rollups.CLOSED_WITHOUT_RESPONSE:
                item.closed_without_response += n
                continue
            within = code in (rollups.SUBSTANTIVE_WITHIN, rollups.HOLDING_WITHIN)
            item.answered += n
            item.within += n if within else 0
            if code in (rollups.HOLDING_LATE, rollups.HOLDING_WITHIN):
                item.holding += n
                item.holding_within += n if within else 0
            else:
                item.substantive += n
                item.substantive_within += n if within else 0
        business = dict(data[rollups.BUSINESS_SUBSTANTIVE].get(key, {}))
        for bucket, n in data[rollups.BUSINESS_HOLDING].get(key, {}).items():
            business[bucket] = business.get(bucket, 0) + n
        calendar = data[rollups.CALENDAR].get(key, {})
        item.median_business = minutes_of(histogram_percentile(business, 0.5))
        item.p90_business = minutes_of(histogram_percentile(business, 0.9))
        item.median_calendar = minutes_of(histogram_percentile(calendar, 0.5))
        item.p90_calendar = minutes_of(histogram_percentile(calendar, 0.9))
        return item

    groups = set(data[rollups.OUTCOME]) | set(data[rollups.BUSINESS_HOLDING]) | set(data[rollups.BUSINESS_SUBSTANTIVE])
    result.total = attainment(None)
    for key in groups:
        if key is not None:
            (result.by_team if key[0] == "team" else result.by_account)[key[1]] = attainment(key)
    after = data[rollups.AFTER_HOLDING].get(None, {})
    result.after_answered = sum(after.values())
    result.after_waiting = max(0, result.total.holding - result.after_answered)
    result.after_median = minutes_of(histogram_percentile(after, 0.5))
    edges = [high for _low, high in BUCKETS if high is not None]
    result.distribution = [
        {"from_minutes": low, "to_minutes": high, "holding": 0, "substantive": 0} for low, high in BUCKETS
    ]
    for measure, kind in ((rollups.BUSINESS_HOLDING, HOLDING), (rollups.BUSINESS_SUBSTANTIVE, SUBSTANTIVE)):
        for bucket, n in data[measure].get(None, {}).items():
            result.distribution[sum(1 for edge in edges if bucket >= edge)][kind] += n
    if scope.account is None:
        for officer_id, histogram in officers.items():
            result.by_officer[officer_id] = Attainment(
                key=officer_id, answered=sum(histogram.values()),
                median_business=minutes_of(histogram_percentile(histogram, 0.5)),
            )
    else:
        facts = SlaResponseFact.objects.filter(scope.filters(), day__gte=scope.start_day, day__lte=scope.end_day)
        result.by_officer = _facts_grouped(facts.filter(officer__isnull=False), "officer_id")
    return result


def minutes_of(value: float | None) -> float | None:
    """A percentile of bucket minutes, rounded as the other durations (one decimal)."""
    return None if value is None else round(value, 1)


def _facts_orm(scope: Scope) -> FactFigures:
    """The same figures with the ORM and percentiles in Python, for databases other than
    PostgreSQL (the SQLite demo): several queries, and the period's values read."""
    facts = SlaResponseFact.objects.filter(scope.filters(), day__gte=scope.start_day, day__lte=scope.end_day)
    result = FactFigures(
        total=_facts_grouped(facts, None)[None], by_team=_facts_grouped(facts, "team_id"),
        by_account=_facts_grouped(facts, "account_id"),
        by_officer=_facts_grouped(facts.filter(officer__isnull=False), "officer_id"),
    )
    after = facts.filter(kind=HOLDING).aggregate(
        answered=Count("id", filter=Q(substantive_at__isnull=False)),
        waiting=Count("id", filter=Q(substantive_at__isnull=True)),
    )
    result.after_answered, result.after_waiting = after["answered"], after["waiting"]
    result.after_median = minutes(percentile_cont([
        _bucketed(v) for v in facts.filter(kind=HOLDING, substantive_business_seconds__isnull=False)
        .values_list("substantive_business_seconds", flat=True)], 0.5))
    result.distribution = _distribution(facts)
    return result


def dashboard_figures(scope: Scope) -> Figures:
    """Every figure of the dashboard for ``scope``: a fixed number of queries."""
    figures = Figures(scope=scope)
    open_by_officer = _tiles(figures, scope)
    _oldest_wait(figures, scope)
    figures.channels = [
        channel_service(a, scope.now) for a in scope.accounts if scope.account is None or a.id == scope.account.id
    ]
    facts = _facts_rollup(scope) if _from_rollups() else _facts_orm(scope)
    figures.total = facts.total
    figures.after_holding_answered, figures.after_holding_waiting = facts.after_answered, facts.after_waiting
    figures.after_holding_median = facts.after_median
    figures.distribution = facts.distribution
    teams = {t.id: t for t in scope.teams}
    for team_id, item in facts.by_team.items():
        item.label = teams[team_id].name if team_id in teams else _("No team yet")
    figures.by_team = sorted(facts.by_team.values(), key=lambda a: a.label.lower())
    accounts = {a.id: a for a in scope.accounts}
    for account_id, item in facts.by_account.items():
        item.label = str(accounts[account_id]) if account_id in accounts else f"#{account_id}"
    figures.by_channel = sorted(facts.by_account.values(), key=lambda a: a.label.lower())
    _volume(figures, scope)
    _officers(figures, scope, facts.by_officer, open_by_officer)
    _lists(figures, scope)
    return figures


# --- the tables the page, the CSV and the API share --------------------------------------------


@dataclass
class Table:
    name: str
    title: str
    columns: list[tuple[str, str]]  # (key, heading)
    rows: list[dict]


def _attainment_row(item: Attainment, key_name: str) -> dict:
    return {
        key_name: item.label, "answered": item.answered, "within_target": item.within,
        "within_target_share": item.within_share, "holding": item.holding,
        "holding_within_target": item.holding_within, "holding_share": item.holding_share,
        "substantive": item.substantive, "substantive_within_target": item.substantive_within,
        "substantive_share": item.substantive_share, "closed_without_response": item.closed_without_response,
        "median_business_minutes": item.median_business, "p90_business_minutes": item.p90_business,
        "median_calendar_minutes": item.median_calendar, "p90_calendar_minutes": item.p90_calendar,
    }


def _attainment_columns(first: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        first,
        ("answered", _("Answered")),
        ("within_target", _("Within target")),
        ("within_target_share", _("Within target (%)")),
        ("holding", _("Holding replies")),
        ("holding_within_target", _("Holding within target")),
        ("holding_share", _("Holding within target (%)")),
        ("substantive", _("Substantive answers")),
        ("substantive_within_target", _("Substantive within target")),
        ("substantive_share", _("Substantive within target (%)")),
        ("closed_without_response", _("Closed without response")),
        ("median_business_minutes", _("Median (business min)")),
        ("p90_business_minutes", _("90th percentile (business min)")),
        ("median_calendar_minutes", _("Median (calendar min)")),
        ("p90_calendar_minutes", _("90th percentile (calendar min)")),
    ]


def _conversation_row(c: Conversation) -> dict:
    return {
        "conversation": c.id, "subject": c.subject, "team": c.team.name if c.team else "",
        "channel": str(c.account), "assignee": (c.assignee.get_full_name() or c.assignee.get_username())
        if c.assignee else "", "sla_state": c.sla_state, "due_at": c.sla_due_at.isoformat() if c.sla_due_at else "",
    }


def _conversation_columns() -> list[tuple[str, str]]:
    return [
        ("conversation", _("Conversation")), ("subject", _("Subject")), ("team", _("Team")),
        ("channel", _("Channel")), ("assignee", _("Assignee")), ("sla_state", _("SLA state")),
        ("due_at", _("Due at")),
    ]


def dashboard_tables(figures: Figures) -> dict[str, Table]:
    """The dashboard's tables, in the order of the page. Each exports as one CSV."""
    t = figures.total
    summary = [
        ("open", _("Open conversations"), figures.open),
        ("unassigned", _("Unassigned"), figures.unassigned),
        ("at_risk", _("At risk"), figures.at_risk),
        ("breached", _("Breached now"), figures.breached),
        ("oldest_wait_business_minutes", _("Oldest wait (business min)"), figures.oldest_wait),
        ("first_responses", _("First responses"), t.answered),
        ("median_business_minutes", _("First response, median (business min)"), t.median_business),
        ("p90_business_minutes", _("First response, 90th percentile (business min)"), t.p90_business),
        ("median_calendar_minutes", _("First response, median (calendar min)"), t.median_calendar),
        ("p90_calendar_minutes", _("First response, 90th percentile (calendar min)"), t.p90_calendar),
        ("within_target_share", _("Answered within target (%)"), t.within_share),
        ("holding", _("Holding replies"), t.holding),
        ("holding_share", _("Holding replies within target (%)"), t.holding_share),
        ("substantive", _("Substantive answers"), t.substantive),
        ("substantive_share", _("Substantive answers within target (%)"), t.substantive_share),
        ("closed_without_response", _("Closed without response"), t.closed_without_response),
        # xgettext:no-python-format
        ("closed_without_response_share", _("Closed without response (% of first messages settled)"),
         t.closed_share),
        ("after_holding_answered", _("Real answers after a holding reply"), figures.after_holding_answered),
        ("after_holding_waiting", _("Still waiting for the real answer after a holding reply"),
         figures.after_holding_waiting),
        ("after_holding_median_business_minutes", _("Real answer after a holding reply, median (business min)"),
         figures.after_holding_median),
        ("messages_in", _("Messages in"), figures.messages_in),
        ("messages_out", _("Messages out"), figures.messages_out),
    ]
    tables = [
        Table("summary", _("Summary"), [("figure", _("Figure")), ("label", _("Label")), ("value", _("Value"))],
              [{"figure": key, "label": label, "value": value} for key, label, value in summary]),
        Table("channels", _("Channels in service"),
              [("channel", _("Channel")), ("open_now", _("In service now")), ("next_change", _("Next change")),
               ("status", _("Status"))],
              [{"channel": str(c.account), "open_now": c.open_now,
                "next_change": c.next_change.isoformat() if c.next_change else "", "status": c.label}
               for c in figures.channels]),
        Table("attainment_by_team", _("Attainment by team"), _attainment_columns(("team", _("Team"))),
              [_attainment_row(a, "team") for a in figures.by_team]),
        Table("attainment_by_channel", _("Attainment by channel"), _attainment_columns(("channel", _("Channel"))),
              [_attainment_row(a, "channel") for a in figures.by_channel]),
        Table("distribution", _("First-response distribution (business minutes)"),
              [("from_minutes", _("From (min)")), ("to_minutes", _("Up to (min)")), ("holding", _("Holding")),
               ("substantive", _("Substantive"))],
              [{**d, "to_minutes": d["to_minutes"] if d["to_minutes"] is not None else ""}
               for d in figures.distribution]),
        Table("volume", _("Volume per hour of the day (average per day)"),
              [("hour", _("Hour")), ("messages_in", _("Messages in")), ("messages_out", _("Messages out")),
               ("officers_answered", _("Officers who answered"))],
              figures.volume),
        Table("officers", _("Officers"),
              [("officer", _("Officer")), ("assigned", _("Assigned")), ("answered", _("First responses")),
               ("replies", _("Replies sent")), ("median_first_response_business_minutes",
                                                _("Median first response (business min)")),
               ("open_now", _("Open now"))],
              [{"officer": o.name, "assigned": o.assigned, "answered": o.answered, "replies": o.replies,
                "median_first_response_business_minutes": o.median_business, "open_now": o.open_now}
               for o in figures.officers]),
        Table("about_to_breach", _("About to breach"), _conversation_columns(),
              [_conversation_row(c) for c in figures.about_to_breach]),
        Table("breached", _("Breached"), _conversation_columns(),
              [_conversation_row(c) for c in figures.breached_list]),
    ]
    return {table.name: table for table in tables}


TABLE_NAMES = (
    "summary", "channels", "attainment_by_team", "attainment_by_channel", "distribution", "volume", "officers",
    "about_to_breach", "breached",
)


def csv_value(value) -> str:
    """A cell as the CSV and the page's ``data-value`` write it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
