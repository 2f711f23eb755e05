"""Two officers of one team on the same conversation, in two browser contexts (headless Chromium).

The defect this guards against: alice answered and resolved; erin's open page showed the new
reply but still said "New · First answer due", and erin's reply went out too — the citizen
got two public answers. Now erin's page follows the status live, and her send is stopped
with alice's reply shown until she confirms.

The live server speaks HTTP only, so the pages run on their polling fallback; the fake clock
moves one polling interval at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from inbox.models import Conversation, Message
from inbox.permissions import OFFICER, team_member_add
from tests.conftest import PASSWORD
from tests.test_browser import ARTIFACTS, browser, citizen, deliver, off_the_event_loop  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL = 21_000  # one polling interval of static/js/inbox.js, and a little more


@pytest.fixture
def marta(sim_account, alice, team_a, django_user_model):
    """Marta wrote ten minutes ago; the conversation went to alice. Erin joined the team since."""
    deliver([citizen(1, "Marta Puig", "martapuig", "La parada de Gran de Gràcia no té pantalla des d'ahir.",
                     minutes_ago=10)])

    def erin():
        user = django_user_model.objects.create_user(username="erin", password=PASSWORD, first_name="Erin",
                                                     last_name="Vidal")
        team_member_add(team_a, user, OFFICER)
        conversation = Conversation.objects.get()
        assert conversation.assignee_id == alice.id
        return conversation

    return off_the_event_loop(erin)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext]]:  # noqa: F811 - the fixture
    first = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    second = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    yield first, second
    first.close()
    second.close()


def open_as(context: BrowserContext, base: str, username: str, conversation: Conversation) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/login/?next=/inbox/c/{conversation.pk}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/inbox/c/{conversation.pk}/")
    page.wait_for_load_state("load")  # the page's script is deferred
    return page


def outbound(conversation: Conversation) -> list[tuple[str, str]]:
    return off_the_event_loop(lambda: list(
        Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND)
        .order_by("id").values_list("author_user__username", "text")
    ))


def test_a_colleagues_answer_shows_live_and_stops_a_second_answer_until_confirmed(live_server, marta, contexts):
    ARTIFACTS.mkdir(exist_ok=True)
    alice_ctx, erin_ctx = contexts
    erin_ctx.clock.install()
    erin = open_as(erin_ctx, live_server.url, "erin", marta)
    alice = open_as(alice_ctx, live_server.url, "alice", marta)
    expect(erin.locator(".conv-sub .status")).to_have_text("New")
    expect(erin.locator(".sla-due")).to_contain_text("First answer due")
    expect(erin.locator(".composer .form-note")).to_contain_text("Assigned to alice")
    erin.evaluate("window.__samePage = true")  # gone if the page reloads

    # Erin starts writing; meanwhile alice answers and resolves.
    erin_text = "Bon dia, Marta. Ho traslladem a TMB."
    erin.locator("#reply-text").fill(erin_text)
    alice_text = "Gràcies, Marta. TMB ja hi treballa; la pantalla tornarà a funcionar avui."
    alice.locator("#reply-text").fill(alice_text)
    alice.get_by_role("button", name="Send reply").click()
    expect(alice.locator(".flash")).to_contain_text("Reply queued for sending.")
    alice.get_by_role("button", name="Resolve").click()
    expect(alice.locator(".conv-sub .status")).to_have_text("Resolved")

    # Erin's page follows without a reload: status, first-answer clock, actions, timeline.
    erin.clock.run_for(POLL)
    expect(erin.locator(".conv-sub .status")).to_have_text("Resolved")
    expect(erin.locator(".sla-due, .sla-badge")).to_have_count(0)
    expect(erin.get_by_role("button", name="Reopen")).to_be_visible()
    expect(erin.get_by_role("button", name="Resolve")).to_have_count(0)
    answered = erin.locator("li.msg-out")
    expect(answered).to_contain_text(alice_text)
    expect(answered.locator(".new-badge")).to_have_text("New")
    expect(erin.locator("#composer-news")).to_be_visible()
    expect(erin.locator("#reply-text")).to_have_value(erin_text)  # her draft is untouched
    assert erin.evaluate("window.__samePage") is True
    erin.screenshot(path=ARTIFACTS / "collision-live.png", full_page=True)

    # Her send is stopped: alice's answer is shown, her text kept.
    erin.get_by_role("button", name="Send reply").click()
    collision = erin.locator("#reply-collision")
    expect(collision).to_contain_text("Not sent: a new message arrived while you were writing.")
    expect(collision).to_contain_text(alice_text)
    expect(collision).to_contain_text("alice")
    expect(erin.locator("#reply-text")).to_have_value(erin_text)
    erin.screenshot(path=ARTIFACTS / "collision-stopped.png", full_page=True)
    assert outbound(marta) == [("alice", alice_text)]

    # She decides it still adds something, and confirms.
    erin.get_by_role("button", name="Send anyway").click()
    expect(erin.locator(".flash")).to_contain_text("Reply queued for sending.")
    expect(erin.locator("li.msg-out")).to_have_count(2)
    assert outbound(marta) == [("alice", alice_text), ("erin", erin_text)]
    expect(erin).to_have_url(re.compile(rf"/inbox/c/{marta.pk}/$"))
