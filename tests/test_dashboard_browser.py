"""The supervisor's dashboard in headless Chromium (Debian's, never a downloaded one): the
page as a supervisor sees it, a conversation turning breached without a reload, and a
reassignment from the about-to-breach list. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from inbox.models import Conversation
from routing.sla_scan import sla_scan
from tests.conftest import PASSWORD
from tests.test_browser import ARTIFACTS, browser, off_the_event_loop, page  # noqa: F401 - fixtures
from tests.test_dashboard import NOW, accounts, fixed_now, week, x_calendar  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base: str, username: str) -> None:  # noqa: F811
    page.goto(f"{base}/login/?next=/dashboard/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/dashboard/")
    page.wait_for_load_state("load")


def test_supervisor_watches_a_conversation_breach_live_and_reassigns(live_server, week, page, bob):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    page.add_init_script("window.DASHBOARD_POLL_MS = 700;")
    page.set_viewport_size({"width": 1440, "height": 2400})
    sign_in(page, live_server.url, "carol")

    expect(page.locator('[data-tile="breached"]')).to_have_text("1")
    expect(page.locator('[data-tile="at_risk"]')).to_have_text("2")
    expect(page.get_by_text("Open · closes Wed 17:00")).to_be_visible()
    about = page.locator('[data-list="about_to_breach"] tbody tr')
    expect(about).to_have_count(3)
    expect(about.nth(0)).to_contain_text(f"#{week[8].id}")
    expect(page.locator("svg.chart")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    # The live region is replaced every 700 ms here: an element screenshot can find its element
    # detached half-way; a page screenshot clipped to where the charts are cannot.
    page.screenshot(path=str(ARTIFACTS / "dashboard-charts.png"), clip=page.locator(".dash-charts").bounding_box())

    # Twenty minutes later the scan finds c8 past its due time and c7 past 75 %: no reload.
    off_the_event_loop(lambda: sla_scan(now=NOW + timedelta(minutes=20)))
    expect(page.locator('[data-tile="breached"]')).to_have_text("2", timeout=10_000)
    expect(page.locator('[data-list="breached"] tbody tr')).to_have_count(2)

    # Reassign c7 (unassigned, at risk now) from the list, without leaving the dashboard.
    row = page.locator(f'[data-list="about_to_breach"] tr[data-conversation="{week[7].id}"]')
    row.get_by_label(f"Reassign conversation #{week[7].id} to").select_option(label="alice")
    row.get_by_role("button", name="Reassign").click()
    expect(page.locator('[data-tile="unassigned"]')).to_have_text("0", timeout=10_000)
    assert page.url.endswith("/dashboard/")
    assert off_the_event_loop(lambda: Conversation.objects.get(pk=week[7].id).assignee.username) == "alice"
    page.screenshot(path=str(ARTIFACTS / "dashboard-after.png"), full_page=True)
