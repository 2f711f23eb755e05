"""The service-hours pages (calendars and SLA policies), for the standard cast: admins
write, supervisors read, officers get a 403; the preview's arithmetic through the view."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox.models import AuditEvent
from routing.models import ServiceCalendar, SlaPolicy
from tests.conftest import login

pytestmark = pytest.mark.django_db

TELEGRAM_PERIODS = [{"weekday": d, "opens": "08:00", "closes": "22:00"} for d in range(5)]


@pytest.fixture
def telegram(db):
    return ServiceCalendar.objects.create(
        name="012 · Telegram", timezone="Europe/Madrid", periods=TELEGRAM_PERIODS,
        holidays_country="ES", holidays_subdivision="CT", closed_days=["2026-09-24"],
    )


def calendar_post(**overrides) -> dict:
    """The edit form as a browser posts it: Telegram-like hours, Catalonia's holidays."""
    data = {
        "name": "Telegram-like", "timezone": "Europe/Madrid", "holidays_country": "ES",
        "holidays_subdivision": "CT", "closed_days": "2026-09-24\n2025-09-24",
    }
    for day in range(7):
        rows = [("08:00", "22:00")] if day < 5 else []
        rows.append(("", ""))  # the blank row every weekday shows
        data.update({f"day{day}-TOTAL_FORMS": str(len(rows)), f"day{day}-INITIAL_FORMS": "0",
                     f"day{day}-MIN_NUM_FORMS": "0", f"day{day}-MAX_NUM_FORMS": "8"})
        for i, (opens, closes) in enumerate(rows):
            data[f"day{day}-{i}-opens"], data[f"day{day}-{i}-closes"] = opens, closes
    data.update(overrides)
    return data


# --- who may see and change what -------------------------------------------------------------


def test_officers_and_anonymous_cannot_see_the_pages(alice, telegram):
    pages = [reverse("routing:calendars"), reverse("routing:calendar", args=[telegram.id]),
             reverse("routing:calendar_preview", args=[telegram.id]), reverse("routing:policies"),
             reverse("routing:calendar_new"), reverse("routing:policy_new")]
    for path in pages:
        assert login(alice).get(path).status_code == 403, path
        response = login(alice).__class__().get(path)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), path
    response = login(alice).post(reverse("routing:calendar", args=[telegram.id]), calendar_post())
    assert response.status_code == 403
    telegram.refresh_from_db()
    assert telegram.name == "012 · Telegram" and telegram.version == 1


def test_supervisors_read_but_cannot_change(carol, telegram, sim_account):
    client = login(carol)
    listing = client.get(reverse("routing:calendars"))
    assert listing.status_code == 200
    assert "012 · Telegram" in listing.content.decode() and "New calendar" not in listing.content.decode()
    page = client.get(reverse("routing:calendar", args=[telegram.id])).content.decode()
    assert "<fieldset class=\"plain\" disabled>" in page
    assert "Save changes" not in page and "Use for" not in page
    assert client.get(reverse("routing:policies")).status_code == 200
    assert client.get(reverse("routing:calendar_new")).status_code == 403

    before = AuditEvent.objects.count()
    assert client.post(reverse("routing:calendar", args=[telegram.id]), calendar_post()).status_code == 403
    assert client.post(reverse("routing:calendar_accounts", args=[telegram.id]),
                       {"account": sim_account.id, "action": "assign"}).status_code == 403
    assert client.post(reverse("routing:policy_new"), {"name": "x"}).status_code == 403
    sim_account.refresh_from_db()
    assert sim_account.calendar_id is None and AuditEvent.objects.count() == before
    assert not SlaPolicy.objects.exists()


def test_top_bar_links_to_service_hours_for_supervisors_and_admins_only(alice, carol, dave):
    assert 'href="/calendars/"' not in login(alice).get(reverse("inbox:queue")).content.decode()
    assert 'href="/calendars/"' in login(carol).get(reverse("inbox:queue")).content.decode()
    assert 'href="/calendars/"' in login(dave).get(reverse("inbox:queue")).content.decode()


# --- calendars -------------------------------------------------------------------------------


def test_admin_creates_a_calendar_with_several_periods_a_day(dave):
    data = calendar_post(**{"day5-TOTAL_FORMS": "3", "day5-0-opens": "09:00", "day5-0-closes": "13:00",
                            "day5-1-opens": "16:00", "day5-1-closes": "24:00", "day5-2-opens": "", "day5-2-closes": ""})
    response = login(dave).post(reverse("routing:calendar_new"), data)

    calendar = ServiceCalendar.objects.get()
    assert response.status_code == 302 and response.url == reverse("routing:calendar", args=[calendar.id])
    assert calendar.periods[:1] == [{"weekday": 0, "opens": "08:00", "closes": "22:00"}]
    assert {"weekday": 5, "opens": "16:00", "closes": "24:00"} in calendar.periods
    assert len(calendar.periods) == 7
    assert (calendar.holidays_country, calendar.holidays_subdivision) == ("ES", "CT")
    assert calendar.closed_days == ["2025-09-24", "2026-09-24"]
    event = AuditEvent.objects.get(verb="service_calendar.create")
    assert event.actor == dave and event.target_id == str(calendar.id)


def test_admin_edits_a_calendar_and_its_version_goes_up(dave, telegram):
    page = login(dave).get(reverse("routing:calendar", args=[telegram.id])).content.decode()
    assert 'value="22:00"' in page and "Cataluña (CT)" in page

    data = calendar_post(name="012 · Telegram", **{"day0-0-opens": "09:00", "day0-0-closes": "14:00",
                                                   "day0-1-opens": "15:00", "day0-1-closes": "20:00"})
    response = login(dave).post(reverse("routing:calendar", args=[telegram.id]), data)

    assert response.status_code == 302
    telegram.refresh_from_db()
    assert telegram.version == 2
    monday = [p for p in telegram.periods if p["weekday"] == 0]
    assert monday == [{"weekday": 0, "opens": "09:00", "closes": "14:00"},
                      {"weekday": 0, "opens": "15:00", "closes": "20:00"}]
    assert AuditEvent.objects.filter(verb="service_calendar.change", target_id=str(telegram.id)).count() == 1


@pytest.mark.parametrize("change, message", [
    ({"day0-0-opens": "22:00", "day0-0-closes": "08:00"}, "must close after it opens"),
    ({"day0-0-opens": "8h"}, "HH:MM"),
    ({"holidays_subdivision": "XX"}, "Select a valid choice"),
    ({"holidays_country": "FR", "holidays_subdivision": "CT"}, "Select a valid choice"),
    ({"closed_days": "24/09/2026"}, "Not dates as YYYY-MM-DD: 24/09/2026"),
    ({"timezone": "Mars/Olympus"}, "Select a valid choice"),
])
def test_calendar_errors_are_shown_and_nothing_is_saved(dave, telegram, change, message):
    response = login(dave).post(reverse("routing:calendar", args=[telegram.id]), calendar_post(**change))
    assert response.status_code == 422
    assert message in response.content.decode()
    telegram.refresh_from_db()
    assert telegram.version == 1 and not AuditEvent.objects.exists()


def test_regions_follow_the_country(dave):
    html = login(dave).get(reverse("routing:calendar_regions"), {"country": "ES", "selected": "CT"}).content.decode()
    assert '<option value="CT" selected>Cataluña (CT)</option>' in html
    assert login(dave).get(reverse("routing:calendar_regions"), {"country": "ZZ"}).content.decode().count("<option") == 1


def test_admin_gives_an_account_the_calendar_and_takes_it_back(dave, telegram, sim_account):
    url = reverse("routing:calendar_accounts", args=[telegram.id])
    response = login(dave).post(url, {"account": sim_account.id, "action": "assign"})
    assert response.status_code == 302 and response.url.endswith("#accounts")
    sim_account.refresh_from_db()
    assert sim_account.calendar_id == telegram.id
    page = login(dave).get(reverse("routing:calendar", args=[telegram.id])).content.decode()
    assert "this calendar" in page and "Serve City (simulated) 24/7" in page
    assert "City (simulated)" in login(dave).get(reverse("routing:calendars")).content.decode()

    login(dave).post(url, {"account": sim_account.id, "action": "remove"})
    sim_account.refresh_from_db()
    assert sim_account.calendar_id is None
    verbs = list(AuditEvent.objects.filter(verb="channel_account.calendar").order_by("id").values_list("data", flat=True))
    assert verbs == [{"previous": None, "calendar": telegram.id}, {"previous": telegram.id, "calendar": None}]


# --- the preview -----------------------------------------------------------------------------


def preview(client, calendar, at: str, minutes: int = 120) -> str:
    response = client.get(reverse("routing:calendar_preview", args=[calendar.id]),
                          {"preview-at": at, "preview-minutes": minutes})
    assert response.status_code == 200
    return response.content.decode()


def test_preview_friday_evening_is_due_monday_morning(carol, telegram):
    html = preview(login(carol), telegram, "2026-11-20T21:30")
    assert "A message at <strong>Fri 20 Nov, 21:30</strong> is due <strong class=\"preview-due\">Mon 23 Nov, 09:30</strong>" in html
    assert "30 min counted" in html and "1 h 30 min counted" in html


def test_preview_skips_a_monday_holiday(carol, telegram):
    html = preview(login(carol), telegram, "2026-10-09T21:30")  # Monday 12 October: a public holiday
    assert "is due <strong class=\"preview-due\">Tue 13 Oct, 09:30</strong>" in html
    assert "public holiday" in html and "National Day" in html


def test_preview_of_the_form_as_typed_before_saving(dave, telegram):
    data = calendar_post(**{"day0-0-closes": "17:00", "preview-at": "2026-11-20T21:30", "preview-minutes": "600"})
    html = login(dave).post(reverse("routing:calendar_preview", args=[telegram.id]), data).content.decode()
    # 30 min on Friday, 9 h on Monday (8:00–17:00 as typed), the last 30 min on Tuesday.
    assert "is due <strong class=\"preview-due\">Tue 24 Nov, 08:30</strong>" in html
    telegram.refresh_from_db()
    assert telegram.version == 1  # a preview saves nothing

    broken = login(dave).post(reverse("routing:calendar_new_preview"),
                              calendar_post(**{"day0-0-opens": "xx", "preview-at": "2026-11-20T21:30"}))
    assert "Correct the calendar" in broken.content.decode()


def test_calendar_page_shows_the_default_preview_without_javascript(carol, telegram):
    page = login(carol).get(reverse("routing:calendar", args=[telegram.id]),
                            {"preview-at": "2026-11-20T21:30", "preview-minutes": "120"}).content.decode()
    assert "Mon 23 Nov, 09:30" in page


# --- SLA policies ----------------------------------------------------------------------------


def policy_post(**overrides) -> dict:
    data = {
        "name": "Mobility urgent", "is_active": "on", "team": "", "account": "", "priority": "3",
        "first_response_minutes": "30", "next_response_minutes": "60", "substantive_minutes": "",
        "resolution_minutes": "", "warn_at": "50, 75", "esc-TOTAL_FORMS": "2", "esc-INITIAL_FORMS": "0",
        "esc-MIN_NUM_FORMS": "0", "esc-MAX_NUM_FORMS": "10",
        "esc-0-at": "100", "esc-0-action": "notify_supervisors", "esc-0-team": "",
        "esc-1-at": "", "esc-1-action": "", "esc-1-team": "",
    }
    data.update(overrides)
    return data


def test_admin_creates_and_changes_a_policy_with_an_escalation_ladder(dave, team_a):
    response = login(dave).post(reverse("routing:policy_new"), policy_post(**{
        "team": team_a.id, "esc-1-at": "150", "esc-1-action": "reassign", "esc-1-team": "mobility",
    }))
    policy = SlaPolicy.objects.get()
    assert response.status_code == 302
    assert (policy.team_id, policy.priority, policy.first_response_minutes, policy.warn_at) == (team_a.id, 3, 30, [50, 75])
    assert policy.escalations == [{"at": 100, "action": "notify_supervisors"},
                                  {"at": 150, "action": "reassign", "team": "mobility"}]
    assert AuditEvent.objects.filter(verb="sla_policy.create").count() == 1

    login(dave).post(reverse("routing:policy", args=[policy.id]), policy_post(**{
        "team": team_a.id, "first_response_minutes": "45", "esc-0-DELETE": "on"}))
    policy.refresh_from_db()
    assert policy.version == 2 and policy.first_response_minutes == 45 and policy.escalations == []
    listing = login(dave).get(reverse("routing:policies")).content.decode()
    assert "Mobility urgent" in listing and "45 min" in listing


@pytest.mark.parametrize("change, message", [
    ({"warn_at": "75, 120"}, "between 1 and 99"),
    ({"esc-0-action": "reassign"}, "Reassigning needs a team"),
    ({"first_response_minutes": "", "next_response_minutes": ""}, "needs at least one target"),
    ({"first_response_minutes": "0"}, "greater than or equal to 1"),
])
def test_policy_errors(dave, change, message):
    response = login(dave).post(reverse("routing:policy_new"), policy_post(**change))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not SlaPolicy.objects.exists()


def test_supervisor_reads_a_policy_with_its_version(carol):
    policy = SlaPolicy.objects.create(name="Default (012)", version=3)
    page = login(carol).get(reverse("routing:policy", args=[policy.id])).content.decode()
    assert "version 3" in page and "<fieldset class=\"plain\" disabled>" in page


