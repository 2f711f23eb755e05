"""The "Take" button in a real browser: two officers have the same queue open; one takes a
conversation, the other (whose page still offers it) is told who took it; "Take" on the
conversation page. Headless Debian Chromium; screenshots in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from inbox.models import AuditEvent, Conversation, Team
from inbox.permissions import OFFICER, team_member_add
from tests.conftest import PASSWORD, make_available, sim_event
from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS, deliver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in(browser: Browser, base: str, username: str, path: str) -> Page:
    page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB").new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    return page


def test_two_officers_click_take_one_gets_it_the_other_is_told_who(
        live_server, browser, sim_account, team_a, alice, django_user_model):
    ARTIFACTS.mkdir(exist_ok=True)
    Team.objects.filter(pk=team_a.pk).update(assignment=Team.Assignment.MANUAL)  # officers take
    erin = django_user_model.objects.create_user("erin", password=PASSWORD, first_name="Erin", last_name="Puig")
    team_member_add(team_a, erin, OFFICER)
    make_available(erin)
    alice.first_name = "Alice"
    alice.save(update_fields=["first_name"])
    now = timezone.now()
    deliver([sim_event(1, text="El bus 24 no ha passat", at=now),
             sim_event(2, text="La parada de Gràcia no té pantalla", at=now)])
    first, second = Conversation.objects.order_by("id")
    assert first.assignee is None and second.assignee is None

    alice_page = signed_in(browser, live_server.url, "alice", "/inbox/?view=team")
    erin_page = signed_in(browser, live_server.url, "erin", "/inbox/?view=team")
    row = f'.qrow[data-id="{first.pk}"]'
    expect(alice_page.locator(row).get_by_role("button", name="Take")).to_be_visible()
    expect(erin_page.locator(row).get_by_role("button", name="Take")).to_be_visible()
    alice_page.screenshot(path=ARTIFACTS / "take-queue.png", full_page=True)

    alice_page.locator(row).get_by_role("button", name="Take").click()
    alice_page.wait_for_load_state("load")
    expect(alice_page.get_by_text("Conversation assigned to you.")).to_be_visible()
    expect(alice_page.locator(row)).to_contain_text("Alice")
    expect(alice_page.locator(row).get_by_role("button", name="Take")).to_have_count(0)

    # Erin's page still offers it: her click is refused, and she learns who took it.
    erin_page.locator(row).get_by_role("button", name="Take").click()
    erin_page.wait_for_load_state("load")
    expect(erin_page.locator(".flash")).to_contain_text("Alice took this conversation first.")
    expect(erin_page.locator(row).get_by_role("button", name="Take")).to_have_count(0)
    erin_page.screenshot(path=ARTIFACTS / "take-refused.png", full_page=True)
    first.refresh_from_db()
    assert first.assignee == alice
    assert AuditEvent.objects.filter(verb="conversation.take").count() == 1

    # On the conversation page.
    erin_page.goto(f"{live_server.url}/inbox/c/{second.pk}/")
    erin_page.get_by_test_id("take").click()
    erin_page.wait_for_load_state("load")
    expect(erin_page).to_have_url(re.compile(rf"/inbox/c/{second.pk}/$"))
    expect(erin_page.get_by_text("Conversation assigned to you.")).to_be_visible()
    expect(erin_page.get_by_test_id("take")).to_have_count(0)
    second.refresh_from_db()
    assert second.assignee == erin
