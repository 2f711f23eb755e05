"""API of service calendars, SLA policies and an account's calendar; SLA fields of conversations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from inbox.models import AuditEvent, ChannelAccount, Conversation
from routing.models import ServiceCalendar, SlaPolicy
from tests.conftest import login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

TELEGRAM = {
    "name": "012 Telegram",
    "timezone": "Europe/Madrid",
    "periods": [{"weekday": d, "opens": "08:00", "closes": "22:00"} for d in range(5)],
    "holidays": {"country": "ES", "subdivision": "CT"},
    "closed_days": ["2026-09-24"],
}


def test_admin_creates_a_calendar_as_the_issue_shows_it(dave):
    response = login(dave).post("/api/v1/service-calendars/", TELEGRAM, content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["holidays"] == {"country": "ES", "subdivision": "CT"}
    assert body["closed_days"] == ["2026-09-24"] and body["version"] == 1
    calendar = ServiceCalendar.objects.get()
    assert (calendar.holidays_country, calendar.holidays_subdivision, len(calendar.periods)) == ("ES", "CT", 5)
    assert AuditEvent.objects.filter(verb="service_calendar.create").count() == 1

    response = login(dave).patch(f"/api/v1/service-calendars/{calendar.id}/", {"closed_days": ["2026-09-24", "2026-05-25"]},
                                 content_type="application/json")
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["closed_days"] == ["2026-05-25", "2026-09-24"]


@pytest.mark.parametrize("change, field", [
    ({"timezone": "Europe/Barcelona"}, "timezone"),
    ({"periods": [{"weekday": 0, "opens": "22:00", "closes": "08:00"}]}, "periods"),
    ({"periods": [{"weekday": 7, "opens": "08:00", "closes": "17:00"}]}, "periods"),
    ({"periods": [{"weekday": 0, "opens": "8h", "closes": "17:00"}]}, "periods"),
    ({"holidays": {"country": "ES", "subdivision": "XX"}}, "holidays"),
    ({"holidays": {"country": "QQ"}}, "holidays"),
    ({"closed_days": ["24/09/2026"]}, "closed_days"),
])
def test_calendar_validation(dave, change, field):
    response = login(dave).post("/api/v1/service-calendars/", {**TELEGRAM, **change}, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ServiceCalendar.objects.exists()


def test_supervisors_read_calendars_and_policies_officers_and_anonymous_do_not(alice, carol, dave):
    calendar = ServiceCalendar.objects.create(name="24/7", always_open=True)
    SlaPolicy.objects.create(name="Default")
    for url in ("/api/v1/service-calendars/", "/api/v1/sla-policies/"):
        assert login(carol).get(url).status_code == 200
        assert login(alice).get(url).status_code == 403
        assert Client().get(url).status_code in (401, 403)
    assert login(carol).post("/api/v1/service-calendars/", TELEGRAM, content_type="application/json").status_code == 403
    assert login(carol).patch(f"/api/v1/service-calendars/{calendar.id}/", {"name": "x"},
                              content_type="application/json").status_code == 403
    assert login(carol).post("/api/v1/sla-policies/", {"name": "p"}, content_type="application/json").status_code == 403
    assert ServiceCalendar.objects.get().name == "24/7" and SlaPolicy.objects.count() == 1


def test_admin_writes_policies_and_a_change_is_a_new_version(dave, team_a, team_b):
    payload = {"name": "Mobility", "team": team_a.id, "first_response_minutes": 90, "warn_at": [90, 75],
               "escalations": [{"at": 100, "action": "notify_supervisors"},
                               {"at": 150, "action": "reassign", "team": team_b.slug}]}
    response = login(dave).post("/api/v1/sla-policies/", payload, content_type="application/json")
    assert response.status_code == 201, response.json()
    assert response.json()["warn_at"] == [75, 90]
    policy = SlaPolicy.objects.get()
    assert policy.escalations[1] == {"at": 150, "action": "reassign", "team": team_b.slug}
    response = login(dave).patch(f"/api/v1/sla-policies/{policy.id}/", {"first_response_minutes": 60},
                                 content_type="application/json")
    assert response.json()["version"] == 2
    bad = login(dave).post("/api/v1/sla-policies/", {**payload, "name": "x", "escalations": [{"at": 100, "action": "reassign"}]},
                           content_type="application/json")
    assert bad.status_code == 400
    bad = login(dave).post("/api/v1/sla-policies/", {**payload, "name": "y", "escalations": [{"at": 100, "action": "dance"}]},
                           content_type="application/json")
    assert bad.status_code == 400


def test_admin_gives_an_account_its_calendar(dave, carol, sim_account):
    calendar = ServiceCalendar.objects.create(name="012 X", periods=[{"weekday": 0, "opens": "08:00", "closes": "17:00"}])
    url = f"/api/v1/channel-accounts/{sim_account.id}/"
    assert login(carol).patch(url, {"calendar": calendar.id}, content_type="application/json").status_code == 403
    assert ChannelAccount.objects.get().calendar is None
    response = login(dave).patch(url, {"calendar": calendar.id}, content_type="application/json")
    assert response.status_code == 200 and response.json()["calendar"] == calendar.id
    assert ChannelAccount.objects.get().calendar == calendar
    assert login(dave).patch(url, {"calendar": 9999}, content_type="application/json").status_code == 400
    assert login(dave).patch("/api/v1/channel-accounts/9999/", {"calendar": None},
                             content_type="application/json").status_code == 404
    assert login(dave).patch(url, {"calendar": None}, content_type="application/json").json()["calendar"] is None


def test_conversations_carry_their_due_time_state_and_kind(alice, sim_account):
    madrid = ZoneInfo("Europe/Madrid")
    calendar = ServiceCalendar.objects.create(
        name="012 Telegram", timezone="Europe/Madrid", holidays_country="ES", holidays_subdivision="CT",
        periods=TELEGRAM["periods"],
    )
    ChannelAccount.objects.filter(id=sim_account.id).update(calendar=calendar)
    post_sim(Client(), sim_body([sim_event(1, at=datetime(2026, 10, 16, 21, 30, tzinfo=madrid))]))
    item = login(alice).get("/api/v1/conversations/").json()["results"][0]
    due = datetime.fromisoformat(item["first_response_due_at"])
    assert due.utcoffset() is not None
    assert due == datetime(2026, 10, 19, 9, 30, tzinfo=madrid)
    assert (item["sla_state"], item["first_response_kind"]) == ("running", "")
    # Resolving through the API stops the clock: closed without response, no state left.
    conversation = Conversation.objects.get()
    response = login(alice).post(f"/api/v1/conversations/{conversation.id}/status/", {"status": "resolved"},
                                 content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["sla_state"] == ""
