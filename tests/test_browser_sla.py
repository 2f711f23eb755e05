"""Service hours as a supervisor who also administers them would use the pages, in headless
Chromium: give the Telegram-like calendar to a channel account, see that a Friday 21:30
message is due on Monday at 9:30, and watch a conversation's countdown in service time.

Debian's Chromium, never a downloaded browser; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from inbox.models import Conversation, SavedReply
from inbox.permissions import ADMIN, SUPERVISOR, team_member_add
from routing.calendars import calendar_for
from routing.models import ServiceCalendar, SlaPolicy
from tests.conftest import PASSWORD
from tests.test_browser import ARTIFACTS, browser, citizen, deliver, page  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TELEGRAM_LIKE = [{"weekday": d, "opens": "08:00", "closes": "22:00"} for d in range(5)]


@pytest.fixture
def silvia(db, django_user_model, team_a):
    """Supervises the Mobility team and administers the service hours (admins write)."""
    user = django_user_model.objects.create_user(username="silvia", first_name="Sílvia", password=PASSWORD)
    team_member_add(team_a, user, SUPERVISOR)
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    return user


@pytest.fixture
def telegram(db):
    return ServiceCalendar.objects.create(
        name="012 · Telegram (8:00–22:00)", timezone="Europe/Madrid", periods=TELEGRAM_LIKE,
        holidays_country="ES", holidays_subdivision="CT", closed_days=["2026-09-24"],
    )


def sign_in(page: Page, base: str, username: str) -> None:  # noqa: F811 - not the fixture
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/inbox/")
    page.wait_for_load_state("load")


def test_supervisor_gives_the_telegram_calendar_and_sees_business_time(
    live_server, page, silvia, telegram, sim_account, team_a,  # noqa: F811 - the imported fixture
):
    ARTIFACTS.mkdir(exist_ok=True)
    SlaPolicy.objects.create(name="Default (012)", first_response_minutes=120)
    SavedReply.objects.create(title="Working on it", body="Ho estem mirant.", team=team_a, kind=SavedReply.Kind.HOLDING)
    sign_in(page, live_server.url, "silvia")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Service hours").click()
    expect(page.get_by_role("heading", name="Service hours")).to_be_visible()
    expect(page.locator("table.calendars")).to_contain_text("Mon 08:00–22:00")
    page.get_by_role("link", name="012 · Telegram (8:00–22:00)").click()

    # The preview: a Friday 21:30 message is due on Monday at 9:30 (30 + 90 minutes of service).
    page.get_by_label("A message at").fill("2026-11-20T21:30")
    expect(page.locator("#preview-result")).to_contain_text("is due Mon 23 Nov, 09:30")
    expect(page.locator(".preview-days li")).to_have_count(4)
    # When Monday is a holiday (12 October 2026), Tuesday.
    page.get_by_label("A message at").fill("2026-10-09T21:30")
    expect(page.locator("#preview-result")).to_contain_text("is due Tue 13 Oct, 09:30")
    expect(page.locator("#preview-result")).to_contain_text("public holiday")
    # The preview follows the form as typed, before saving: Monday until 17:00 only.
    page.get_by_label("A message at").fill("2026-11-20T21:30")
    page.get_by_label("with a target of").fill("600")
    page.get_by_label("Monday closes").first.fill("17:00")
    expect(page.locator("#preview-result")).to_contain_text("is due Tue 24 Nov, 08:30")
    page.get_by_label("Monday closes").first.fill("22:00")
    page.get_by_label("with a target of").fill("120")
    page.get_by_label("A message at").fill("2026-11-20T21:30")
    expect(page.locator("#preview-result")).to_contain_text("is due Mon 23 Nov, 09:30")

    # Give it to the account.
    page.get_by_role("button", name="Use for City (simulated)").click()
    expect(page.locator(".flash")).to_contain_text("now follows “012 · Telegram (8:00–22:00)”")
    expect(page.locator("tr.is-current")).to_contain_text("City (simulated)")
    page.screenshot(path=ARTIFACTS / "sla-calendar.png", full_page=True)
    sim_account.refresh_from_db()
    assert sim_account.calendar_id == telegram.id

    # A citizen writes now: the countdown is in the calendar's service time.
    deliver([citizen(40, "Jordi Vidal", "jordivi", "Bon dia, la parada de Tetuan no té marquesina.", minutes_ago=3)])
    conversation = Conversation.objects.get(thread_key="mention:t40")
    cal = calendar_for(telegram)
    due = cal.add_business(conversation.first_inbound_at, 120 * 60)
    assert conversation.first_response_due_at == due
    page.goto(f"{live_server.url}/inbox/c/{conversation.id}/")
    countdown = page.locator("[data-countdown]")
    expect(countdown).to_contain_text("of service time")
    expect(countdown).to_contain_text(re.compile(r"First answer due in (1 h 5\d min|1 h 5\d min|2 h)"))
    local_due = timezone.localtime(due)
    expect(countdown.locator("time")).to_have_attribute("datetime", re.compile(re.escape(local_due.isoformat()[:16])))
    expect(countdown.locator("time")).to_contain_text(local_due.strftime("%H:%M"))
    page.screenshot(path=ARTIFACTS / "sla-conversation.png", full_page=True)

    # Due soonest first, in the queue.
    page.goto(f"{live_server.url}/inbox/?ordering=due")
    expect(page.locator("li.qrow").first).to_contain_text("Jordi Vidal")
    expect(page.locator("li.qrow .q-due").first).to_contain_text(local_due.strftime("%H:%M"))

    # A live notification: one toast for the batch, and the top bar's list.
    page.evaluate(f"""window.CitizenInbox.notify([
        {{conversation: {conversation.id}, event: "warning", percent: 75, due_at: "x"}},
        {{conversation: {conversation.id}, event: "breach", percent: 100, due_at: "x"}}])""")
    toast = page.locator("[data-toast]")
    expect(toast).to_have_attribute("aria-live", "polite")
    expect(toast).to_contain_text("2 conversations need attention")
    expect(page.locator("[data-notices-count]")).to_have_text("2")
    page.screenshot(path=ARTIFACTS / "sla-queue-toast.png", full_page=False)
    page.get_by_role("button", name=re.compile("Notifications")).click()
    expect(page.locator(".notices-list a").first).to_have_attribute("href", f"/inbox/c/{conversation.id}/")
    expect(page.locator(".notices-list")).to_contain_text(f"Conversation #{conversation.id}: response time exceeded")
    page.screenshot(path=ARTIFACTS / "sla-notifications.png", full_page=False)


def test_policies_pages_render(live_server, page, silvia, team_a):  # noqa: F811 - the imported fixture
    policy = SlaPolicy.objects.create(name="Default (012)", first_response_minutes=120, next_response_minutes=120,
                                      escalations=[{"at": 100, "action": "notify_supervisors"},
                                                   {"at": 150, "action": "reassign", "team": "mobility"}])
    sign_in(page, live_server.url, "silvia")
    page.goto(f"{live_server.url}/sla-policies/")
    expect(page.locator("table.policies")).to_contain_text("Default (012)")
    page.screenshot(path=ARTIFACTS / "sla-policies.png", full_page=True)
    page.get_by_role("link", name="Default (012)").click()
    page.get_by_label("First response (minutes of service time)").fill("90")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash")).to_contain_text("version 2")
    page.screenshot(path=ARTIFACTS / "sla-policy.png", full_page=True)
    policy.refresh_from_db()
    assert policy.first_response_minutes == 90 and len(policy.escalations) == 2
    page.goto(f"{live_server.url}/calendars/new/")
    page.screenshot(path=ARTIFACTS / "sla-calendar-new.png", full_page=True)
