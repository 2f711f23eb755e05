"""The supervisor's dashboard: figures checked against values computed by hand on a fixed
week (business and calendar minutes), the CSV equal to the page, permissions, and a query
count that does not grow with the data.

The week (Europe/Madrid, October 2026, before the clocks change on the 25th). Mobility's
channel is served on weekdays 8:00–17:00; Waste's is served around the clock. "Now" is
Wednesday the 21st at 12:00. Policy: first response 120 business minutes, the real answer
after a holding reply 480.

  #   team      citizen wrote     answer                          business  calendar
  c1  Mobility  Mon 19  9:00      alice Mon 9:30 substantive           30         30
  c2  Mobility  Fri 16 16:30      alice Mon 9:00 substantive           90       3870   (30 Fri + 60 Mon; 64.5 h;
                                                                                      3840 in the rollups' hour bucket)
  c3  Mobility  Tue 20  9:00      alice 12:00 holding, 15:00 real     180        180   (over 120: late)
  c4  Mobility  Tue 20 14:00      alice 14:45 holding, none yet        45         45
  c5  Mobility  Mon 19 16:00      resolved without an answer           —          —    (closed without response)
  c6  Mobility  Wed 21  9:30      none (alice)                         150 now: breached (due 11:30)
  c7  Mobility  Wed 21 10:45      none (unassigned)                    75 now: running (due 12:45)
  c8  Mobility  Wed 21 10:15      none (alice)                         105 now: at risk (due 12:15)
  c9  Waste     Mon 19 22:00      bob Tue 0:30 substantive            150        150   (24/7; late)
  c10 Waste     Tue 20 10:00      bob 10:20 substantive                20         20
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inbox.models import ChannelAccount, Conversation, DeliveryAttempt, Message, SavedReply
from inbox.services import conversation_status_set, message_mark_sent
from routing import dashboard, sla
from routing.dashboard import channel_service, dashboard_figures, dashboard_scope, dashboard_tables
from routing.models import OfficerHour, ServiceCalendar, SlaPolicy, SlaResponseFact
from routing.sla_scan import sla_scan
from tests.conftest import login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 10, 21, 12, 0, tzinfo=MADRID)
API = "/api/v1/dashboard/"


def at(d, h, mi=0):
    return datetime(2026, 10, d, h, mi, tzinfo=MADRID)


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch):
    monkeypatch.setattr(dashboard, "_now", lambda: NOW)


@pytest.fixture
def x_calendar(db):
    return ServiceCalendar.objects.create(
        name="012 X", timezone="Europe/Madrid",
        periods=[{"weekday": d, "opens": "08:00", "closes": "17:00"} for d in range(5)],
    )


@pytest.fixture
def accounts(sim_account, team_b, x_calendar):
    sim_account.calendar = x_calendar
    sim_account.save(update_fields=["calendar"])
    waste = ChannelAccount.objects.create(
        platform="simulator", external_id="city-waste", name="Waste (simulated)", handle="waste", default_team=team_b,
    )
    return sim_account, waste


def deliver(n: int, when: datetime, account: str = "city-sim") -> Conversation:
    post_sim(Client(), sim_body([sim_event(n, at=when, text=f"Pregunta {n}")], account_id=account))
    return Conversation.objects.get(thread_key=f"mention:t{n}", account__external_id=account)


def reply(conversation: Conversation, user, when: datetime, *, saved_reply=None) -> Message:
    """An officer's reply as outbound delivery leaves it: queued, claimed, sent."""
    message = Message.objects.create(
        conversation=conversation, account=conversation.account, direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.REPLY, visibility=Message.Visibility.PUBLIC, author_user=user, text="Hola",
        sent_at=when, delivery_status=Message.Delivery.SENDING, saved_reply=saved_reply,
    )
    attempt = DeliveryAttempt.objects.create(message=message)
    message_mark_sent(message, attempt, external_id=f"ext-{message.id}", sent_at=when)
    sla.replies_sent([message.id])
    return message


def resolve(conversation: Conversation, user) -> None:
    conversation.refresh_from_db()
    conversation_status_set(conversation=conversation, user=user, status=Conversation.Status.RESOLVED)
    sla.conversations_sync([conversation.id])


@pytest.fixture
def week(accounts, team_a, team_b, alice, bob, carol):
    SlaPolicy.objects.create(name="Default", first_response_minutes=120, substantive_minutes=480)
    holding = SavedReply.objects.create(title="Working on it", body="Ho estem mirant.", kind=SavedReply.Kind.HOLDING)
    c = {}
    c[1] = deliver(1, at(19, 9))
    c[2] = deliver(2, at(16, 16, 30))
    c[3] = deliver(3, at(20, 9))
    c[4] = deliver(4, at(20, 14))
    c[5] = deliver(5, at(19, 16))
    c[9] = deliver(9, at(19, 22), "city-waste")
    c[10] = deliver(10, at(20, 10), "city-waste")
    c[6] = deliver(6, at(21, 9, 30))
    c[7] = deliver(7, at(21, 10, 45))
    c[8] = deliver(8, at(21, 10, 15))
    # Round robin gave them all to alice, Mobility's only officer; c5 and c7 are put back.
    Conversation.objects.filter(pk__in=[c[5].pk, c[7].pk]).update(assignee=None)
    for n in (1, 2, 3, 4, 6, 8):
        Conversation.objects.filter(pk=c[n].pk).update(assignee=alice)
    for n in (9, 10):
        Conversation.objects.filter(pk=c[n].pk).update(assignee=bob)
    reply(c[2], alice, at(19, 9))
    reply(c[1], alice, at(19, 9, 30))
    reply(c[3], alice, at(20, 12), saved_reply=holding)
    reply(c[4], alice, at(20, 14, 45), saved_reply=holding)
    reply(c[3], alice, at(20, 15))
    reply(c[9], bob, at(20, 0, 30))
    reply(c[10], bob, at(20, 10, 20))
    resolve(c[5], alice)
    for n in (1, 2, 3):
        resolve(c[n], alice)
    for n in (9, 10):
        resolve(c[n], bob)
    sla_scan(now=NOW)
    return {n: Conversation.objects.get(pk=conv.pk) for n, conv in c.items()}


# --- the figures, by hand ----------------------------------------------------------------------


def test_rollups_hold_the_hand_computed_minutes(week):
    facts = {f.conversation_id: f for f in SlaResponseFact.objects.all()}
    minutes = {n: (facts[week[n].id].business_seconds // 60, facts[week[n].id].calendar_seconds // 60)
               for n in (1, 2, 3, 4, 9, 10)}
    assert minutes == {1: (30, 30), 2: (90, 3870), 3: (180, 180), 4: (45, 45), 9: (150, 150), 10: (20, 20)}
    assert facts[week[5].id].kind == "closed_without_response"
    assert facts[week[3].id].substantive_business_seconds == 360 * 60
    assert [w[n].sla_state for w in [week] for n in (4, 6, 7, 8)] == ["at_risk", "breached", "running", "at_risk"]
    # Officers who answered, per hour: alice twice in Monday's 9:00 hour is one officer-hour.
    assert OfficerHour.objects.get(hour=at(19, 9)).replies == 2


def test_tiles_and_channels_now(week, carol):
    figures = dashboard_figures(dashboard_scope(carol))
    assert (figures.open, figures.unassigned, figures.at_risk, figures.breached) == (4, 1, 2, 1)
    # The longest running wait: c4's real answer, owed since Tuesday 14:45 (135 + 240 business minutes).
    assert (figures.oldest_wait, figures.oldest_wait_conversation) == (375.0, week[4].id)
    labels = {c.account.external_id: c.label for c in figures.channels}
    assert labels == {"city-sim": "Open · closes Wed 17:00", "city-waste": "Open around the clock"}


def test_closed_channel_says_when_it_opens(accounts):
    mobility, _waste = accounts
    mobility.refresh_from_db()
    saturday = datetime(2026, 10, 24, 11, 0, tzinfo=MADRID)
    channel = channel_service(ChannelAccount.objects.select_related("calendar").get(pk=mobility.pk), saturday)
    assert (channel.open_now, channel.label) == (False, "Closed · opens Mon 8:00")
    assert channel.next_change == at(26, 8)


def test_first_response_figures_of_the_week(week, carol):
    figures = dashboard_figures(dashboard_scope(carol, period="7d"))
    t = figures.total
    assert (t.answered, t.within, t.within_share) == (6, 4, 66.7)
    assert (t.holding, t.holding_within, t.holding_share) == (2, 1, 50.0)
    assert (t.substantive, t.substantive_within, t.substantive_share) == (4, 3, 75.0)
    assert (t.closed_without_response, t.closed_share) == (1, 14.3)
    # Business 20, 30, 45, 90, 150, 180; calendar 20, 30, 45, 150, 180, 3870 (interpolated percentiles).
    # Percentiles come from the rollups' buckets (routing/sla_rollups.py): every value here is
    # on a bucket's lower bound except 3870 calendar minutes (64.5 h), counted in the hour
    # bucket from 3840 — so the 90th percentile is 180 + 0.5 × (3840 − 180) = 2010, not the
    # exact 2025.
    assert (t.median_business, t.p90_business) == (67.5, 165.0)
    assert (t.median_calendar, t.p90_calendar) == (97.5, 2010.0)
    assert (figures.after_holding_answered, figures.after_holding_waiting, figures.after_holding_median) == (1, 1, 360.0)
    by_team = {a.label: (a.answered, a.within, a.closed_without_response) for a in figures.by_team}
    assert by_team == {"Mobility": (4, 3, 1), "Waste & cleaning": (2, 1, 0)}
    by_channel = {a.label: (a.answered, a.within) for a in figures.by_channel}
    assert by_channel == {"Simulator · City (simulated)": (4, 3), "Simulator · Waste (simulated)": (2, 1)}
    assert [(b["from_minutes"], b["substantive"], b["holding"]) for b in figures.distribution] == [
        (0, 0, 0), (15, 1, 0), (30, 1, 1), (60, 0, 0), (90, 1, 0), (120, 1, 1), (240, 0, 0), (480, 0, 0),
    ]


def test_volume_per_hour_is_an_average_per_day(week, carol):
    figures = dashboard_figures(dashboard_scope(carol, period="7d"))
    assert (figures.messages_in, figures.messages_out) == (10, 7)
    hours = {row["hour"]: row for row in figures.volume}
    assert len(hours) == 24
    # In: 9:00 c1, c3, c6; 10:00 c7, c8, c10; 16:00 c2, c5 — over seven days.
    assert (hours[9]["messages_in"], hours[10]["messages_in"], hours[16]["messages_in"]) == (0.4, 0.4, 0.3)
    # Out at 9:00: c2 and c1 by alice on Monday — one officer in that hour on one day of seven.
    assert (hours[9]["messages_out"], hours[9]["officers_answered"]) == (0.3, 0.1)
    assert hours[3] == {"hour": 3, "messages_in": 0.0, "messages_out": 0.0, "officers_answered": 0.0}


def test_officer_table(week, carol):
    figures = dashboard_figures(dashboard_scope(carol, period="7d"))
    rows = {o.name: (o.assigned, o.answered, o.replies, o.median_business, o.open_now) for o in figures.officers}
    assert rows == {
        "alice": (6, 4, 5, 67.5, 3),
        "bob": (2, 2, 2, 85.0, 0),
        "carol": (0, 0, 0, None, 0),
    }
    assert figures.officers[0].name == "alice"  # most open first


def test_about_to_breach_sorted_by_due_time(week, carol):
    figures = dashboard_figures(dashboard_scope(carol))
    assert [(c.id, c.sla_due_at) for c in figures.about_to_breach] == [
        (week[8].id, at(21, 12, 15)), (week[7].id, at(21, 12, 45)), (week[4].id, at(21, 13, 45)),
    ]
    assert [c.id for c in figures.breached_list] == [week[6].id]


def test_today_and_a_team_filter(week, carol, team_a):
    today = dashboard_figures(dashboard_scope(carol, period="today"))
    assert today.total.answered == 0 and today.messages_in == 3
    mobility = dashboard_figures(dashboard_scope(carol, team="mobility", period="7d"))
    t = mobility.total
    assert (t.answered, t.within, t.median_business, t.p90_business) == (4, 3, 67.5, 153.0)
    assert [o.name for o in mobility.officers] == ["alice", "carol"]


# --- permissions -------------------------------------------------------------------------------


@pytest.fixture
def mobility_supervisor(db, django_user_model, team_a):
    from inbox.permissions import SUPERVISOR, team_member_add

    user = django_user_model.objects.create_user(username="marta")
    team_member_add(team_a, user, SUPERVISOR)
    return user


def test_supervisor_of_one_team_sees_only_it(week, mobility_supervisor):
    client = login(mobility_supervisor)
    body = client.get(API).json()
    assert [t["slug"] for t in body["teams"]] == ["mobility"]
    assert body["first_response"]["answered"] == 4
    assert {row["name"] for row in body["attainment_by_team"]} == {"Mobility"}
    assert client.get(API, {"team": "waste"}).status_code == 404
    assert client.get(API, {"team": "no-such-team"}).status_code == 404
    assert client.get("/dashboard/", {"team": "waste"}).status_code == 404


def test_officers_and_anonymous_are_refused(week, alice, bob):
    for user in (alice, bob):
        assert login(user).get(API).status_code == 403
        assert login(user).get("/dashboard/").status_code == 403
    assert Client().get(API).status_code == 403
    assert Client().get("/dashboard/").status_code == 302


def test_admin_sees_every_team(week, dave):
    body = login(dave).get(API, {"period": "7d"}).json()
    assert {t["slug"] for t in body["teams"]} == {"mobility", "waste"}
    assert body["tiles"] == {"open": 4, "unassigned": 1, "at_risk": 2, "breached": 1,
                             "oldest_wait_business_minutes": 375.0, "oldest_wait_conversation": week[4].id}


def test_unknown_account_is_404_and_an_account_filters(week, carol, accounts):
    client = login(carol)
    assert client.get(API, {"account": 99999}).status_code == 404
    body = client.get(API, {"account": accounts[1].id}).json()
    assert body["first_response"]["answered"] == 2 and body["tiles"]["open"] == 0


# --- the API, the CSV and the page agree --------------------------------------------------------


def test_api_json_carries_the_figures(week, carol):
    body = login(carol).get(API, {"period": "7d"}).json()
    fr = body["first_response"]
    assert (fr["answered"], fr["within_target_share"], fr["median_business_minutes"], fr["p90_calendar_minutes"]) == \
        (6, 66.7, 67.5, 2010.0)  # 3870 calendar minutes counted as 3840: see above
    assert fr["holding"] == {"count": 2, "within_target": 1, "share": 50.0}
    assert fr["closed_without_response"] == {"count": 1, "share": 14.3}
    assert body["period"] == {"key": "7d", "label": "Last 7 days", "days": 7, "start": "2026-10-15",
                              "end": "2026-10-21", "timezone": "Europe/Madrid"}
    assert [c["id"] for c in body["about_to_breach"]] == [week[8].id, week[7].id, week[4].id]
    assert body["about_to_breach"][0]["due_at"] == "2026-10-21T12:15:00+02:00"


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_by_format_and_by_accept_header(week, carol):
    client = login(carol)
    response = client.get(API, {"format": "csv", "table": "officers", "period": "7d"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="dashboard-7d-officers.csv"' in response["Content-Disposition"]
    rows = csv_rows(response.content.decode())
    assert rows[0] == ["officer", "assigned", "answered", "replies", "median_first_response_business_minutes",
                       "open_now"]
    assert rows[1] == ["alice", "6", "4", "5", "67.5", "3"]
    by_header = client.get(API, {"table": "officers", "period": "7d"}, HTTP_ACCEPT="text/csv")
    assert by_header["Content-Type"].startswith("text/csv") and by_header.content == response.content
    everything = client.get(API, {"format": "csv"}).content.decode()
    sections = re.findall(r"^# (\w+)\r$", everything, re.M)
    assert sections == list(dashboard.TABLE_NAMES)
    assert client.get(API, {"format": "csv", "table": "nope"}).status_code == 400


class _Tables(HTMLParser):
    """data-table → rows of data-value, and data-figure → text, from the page."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current = None
        self.figures: dict[str, str] = {}
        self._figure = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-table" in attrs:
            self.current = self.tables.setdefault(attrs["data-table"], [])
        elif tag == "tr" and self.current is not None:
            self.current.append([])
        elif tag in ("td", "th") and self.current is not None and "data-value" in attrs:
            self.current[-1].append(attrs["data-value"])
        elif "data-figure" in attrs:
            self._figure = attrs["data-figure"]

    def handle_endtag(self, tag):
        if tag == "table":
            self.current = None

    def handle_data(self, data):
        if self._figure:
            self.figures[self._figure] = data.strip()
            self._figure = None


def test_csv_equals_the_page(week, carol):
    client = login(carol)
    page = client.get("/dashboard/", {"period": "7d"})
    assert page.status_code == 200
    parsed = _Tables()
    parsed.feed(page.content.decode())
    for name in ("officers", "attainment_by_team", "attainment_by_channel", "distribution", "volume"):
        rows = csv_rows(client.get(API, {"format": "csv", "table": name, "period": "7d"}).content.decode())
        on_page = [row for row in parsed.tables[name] if row]
        assert on_page == rows[1:], name
        assert len(on_page) > 0, name
    summary = {row[0]: row[2] for row in csv_rows(client.get(API, {"format": "csv", "table": "summary",
                                                                    "period": "7d"}).content.decode())[1:]}
    for key in ("median_business_minutes", "p90_business_minutes", "median_calendar_minutes", "p90_calendar_minutes",
                "within_target_share", "holding_share", "substantive_share", "closed_without_response",
                "messages_in", "messages_out"):
        assert parsed.figures[key] == summary[key], key


def test_page_renders_tiles_lists_charts_and_links(week, carol):
    page = login(carol).get("/dashboard/", {"period": "7d"}).content.decode()
    assert 'data-tile="breached">1<' in page and 'data-tile="at_risk">2<' in page
    assert "Open · closes Wed 17:00" in page
    assert f'action="/inbox/c/{week[8].id}/assign/"' in page
    assert f'href="/inbox/c/{week[6].id}/"' in page
    assert page.count('<svg class="chart"') == 4 and page.count("<title id=") == 4
    assert "url(#chart-volume-hatch)" in page  # a pattern, not only a colour
    assert "/api/v1/dashboard/?period=7d&amp;format=csv&amp;table=officers" in page
    fragment = login(carol).get("/dashboard/", {"period": "7d", "fragment": 1}).content.decode()
    assert "<html" not in fragment and 'data-tile="open">4<' in fragment


def test_top_bar_links_the_dashboard_for_supervisors_only(week, carol, alice):
    assert 'href="/dashboard/"' in login(carol).get("/inbox/").content.decode()
    assert 'href="/dashboard/"' not in login(alice).get("/inbox/").content.decode()


# --- queries do not grow with the data -----------------------------------------------------------


def _more(n0: int, count: int, alice) -> None:
    for i in range(count):
        conv = deliver(n0 + i, at(20, 9) + timedelta(minutes=7 * i))
        if i % 2:
            reply(conv, alice, at(20, 9) + timedelta(minutes=7 * i + 20))


def _queries(user, **params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        dashboard_tables(dashboard_figures(dashboard_scope(user, **params)))
    return len(ctx.captured_queries)


def test_query_count_is_constant_in_data_size(week, carol, alice, django_assert_max_num_queries):
    _queries(carol)  # content types and calendars are cached per process after the first call
    small = [_queries(carol), _queries(carol, team="mobility", period="30d")]
    client = login(carol)
    with CaptureQueriesContext(connection) as ctx:
        client.get(API)
    api_small = len(ctx.captured_queries)
    _more(100, 30, alice)
    large = [_queries(carol), _queries(carol, team="mobility", period="30d")]
    assert small == large
    with django_assert_max_num_queries(api_small):
        client.get(API)
    with django_assert_max_num_queries(30):
        client.get("/dashboard/")


def test_the_portable_path_agrees_with_postgresqls(week, carol, monkeypatch):
    """The SQLite demo computes the same figures with the ORM and Python percentiles."""
    def figures():
        f = dashboard_figures(dashboard_scope(carol, period="7d"))
        return (f.total, f.by_team, f.by_channel, f.distribution, f.officers, f.after_holding_answered,
                f.after_holding_waiting, f.after_holding_median)

    in_sql = figures()
    monkeypatch.setattr(dashboard, "_from_rollups", lambda: False)
    assert figures() == in_sql
