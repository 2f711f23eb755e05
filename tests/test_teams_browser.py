"""Teams and people in headless Chromium, as a new admin would: create a team, add a
Catalan-speaking officer in one step, set automatic replies; a supervisor moves a
misrouted conversation; presence from the top bar. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from inbox.models import AutoReplySetting, Conversation, OfficerProfile, SavedReply, Team
from tests.conftest import PASSWORD, make_available
from tests.test_browser import ARTIFACTS, browser, citizen, deliver, off_the_event_loop, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_as(page: Page, base: str, username: str) -> None:  # noqa: F811 - the page fixture
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/inbox/")
    page.wait_for_load_state("load")


def test_admin_creates_a_team_and_adds_an_officer_in_one_step(live_server, page, dave, sim_account, team_a):  # noqa: F811 - the page fixture
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in_as(page, live_server.url, "dave")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Teams").click()
    expect(page.locator("h1")).to_have_text("Teams and people")
    page.get_by_role("link", name="New team").click()
    page.get_by_label("Name", exact=True).fill("Waste & cleaning")
    page.get_by_label("Assignment").select_option("least_loaded")
    page.get_by_label("capacity, private messages").fill("4")
    page.screenshot(path=ARTIFACTS / "team-new.png", full_page=True)
    page.get_by_role("button", name="Create team").click()
    expect(page.locator(".flash")).to_contain_text("Team “Waste & cleaning” saved.")
    team = Team.objects.get(name="Waste & cleaning")
    assert (team.assignment, team.capacity_private) == ("least_loaded", 4)

    page.get_by_label("New person's user name").fill("marta")
    page.get_by_label("First name").fill("Marta")
    page.get_by_label("Role in the team").select_option("officer")
    page.get_by_label("Languages").fill("ca, es")
    page.get_by_role("button", name="Add to team").click()
    expect(page.locator(".flash")).to_contain_text("Marta works in Waste & cleaning as officer.")
    expect(page.locator(".members-table")).to_contain_text("ca, es")
    page.screenshot(path=ARTIFACTS / "team-edit.png", full_page=True)
    marta = get_user_model().objects.get(username="marta")
    assert marta.officer_profile.languages == ["ca", "es"]

    page.get_by_role("link", name="People").click()
    expect(page.locator(".people-table")).to_contain_text("Marta")
    page.screenshot(path=ARTIFACTS / "people.png", full_page=True)
    page.get_by_role("link", name="Marta").click()
    expect(page.locator(".crumbs")).to_contain_text("Offline")
    page.screenshot(path=ARTIFACTS / "person.png", full_page=True)

    SavedReply.objects.create(title="Fora d'horari", language="ca", body="Tornem a obrir {next_opening}.")
    page.get_by_role("link", name="Automatic replies").click()
    page.screenshot(path=ARTIFACTS / "autoreplies.png", full_page=True)
    page.get_by_role("link", name=re.compile("City")).click()
    page.get_by_label("Out-of-hours message").select_option(label="Fora d'horari")
    page.get_by_label("delay (minutes)").fill("5")
    page.screenshot(path=ARTIFACTS / "autoreply-edit.png", full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".autoreplies-table")).to_contain_text("Fora d'horari")
    assert AutoReplySetting.objects.get(account=sim_account).delay_minutes == 5


def test_presence_from_the_top_bar_and_a_heartbeat(live_server, page, alice):  # noqa: F811 - the page fixture
    OfficerProfile.objects.filter(user=alice).update(status=OfficerProfile.Presence.OFFLINE)
    sign_in_as(page, live_server.url, "alice")
    select = page.get_by_label("Your availability")
    expect(select).to_have_value("offline")
    select.select_option("available")
    expect(page.locator("[data-presence-dot]")).to_have_class(re.compile("presence-available"))
    page.screenshot(path=ARTIFACTS / "presence-topbar.png", clip={"x": 0, "y": 0, "width": 1440, "height": 120})
    profile = OfficerProfile.objects.get(user=alice)
    assert profile.status == "available" and profile.last_seen_at is not None


def test_supervisor_moves_a_misrouted_conversation(live_server, page, sim_account, alice, carol, bob, team_b):  # noqa: F811 - the page fixture
    make_available(bob)
    deliver([citizen(1, "Jordi", "jordi", "Els contenidors del carrer Mallorca fa tres dies que no es buiden",
                     minutes_ago=10)])
    conversation = Conversation.objects.get()
    sign_in_as(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/inbox/c/{conversation.id}/")
    page.wait_for_load_state("load")
    page.get_by_label("Move to another team").select_option(label="Waste & cleaning")
    page.screenshot(path=ARTIFACTS / "move-team.png", full_page=True)
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Moved to Waste & cleaning and assigned to bob.")
    conversation = off_the_event_loop(lambda: Conversation.objects.get(pk=conversation.pk))
    assert conversation.team == team_b and conversation.assignee == bob
