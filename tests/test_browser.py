"""An officer's morning in headless Chromium: sign in, work the queue, answer, resolve.

Debian's Chromium, never a downloaded browser. The live server speaks HTTP only (no
WebSockets), so these pages run on their polling fallback, as they would behind a proxy
that drops WebSockets. Screenshots go to test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from inbox.models import Conversation, Message, SavedReply, Tag
from tests.conftest import PASSWORD, post_sim, sim_body, sim_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def off_the_event_loop(func, *args):
    """Run Django work (webhooks, queries) in a plain thread while the browser is open.

    Playwright's sync API keeps an event loop in the test's thread: async_to_sync (used to
    publish live updates) may not run there, and a database connection opened there lives
    in that loop's context, where the test teardown cannot close it.
    """
    def call():
        try:
            return func(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def citizen(n: int, name: str, handle: str, text: str, *, minutes_ago: int, channel: str = "mention") -> dict:
    event = sim_event(n, author=handle, text=text, channel=channel, at=timezone.now() - timedelta(minutes=minutes_ago))
    event["from"].update(name=name, handle=handle, location="Barcelona")
    return event


def deliver(events: list[dict]) -> None:
    off_the_event_loop(lambda: post_sim(Client(), sim_body(events)))


@pytest.fixture
def morning(sim_account, alice, team_a):
    """Three citizens wrote: one three hours ago (overdue), one in Persian, one privately."""
    deliver([
        citizen(1, "Marta Puig", "martapuig", "El bus 24 no ha pasado en 40 minutos y la pantalla de la parada "
                "de Gran de Gràcia no funciona. ¿Hay alguna incidencia?", minutes_ago=185),
        citizen(2, "رضا کریمی", "reza_k", "سلام، چراغ‌های خیابان ما از دوشنبه خاموش است و شب‌ها خیلی تاریک است.",
                minutes_ago=42),
        citizen(3, "Claire Martin", "clairem", "Bonjour, comment payer la taxe touristique pour mon appartement ?",
                minutes_ago=6, channel="dm"),
    ])
    buses = Tag.objects.create(name="Buses", slug="buses")
    marta = Conversation.objects.get(thread_key="mention:t1")
    marta.tags.add(buses)
    SavedReply.objects.create(title="Bus incident acknowledged", team=team_a, language="es",
                              body="Gracias por avisar. Hemos trasladado la incidencia a TMB.")
    return marta


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/inbox/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/inbox/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/inbox/")
    page.wait_for_load_state("load")  # the shortcuts script is deferred


def test_officer_answers_and_resolves_from_the_queue(live_server, morning, page):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server.url)

    rows = page.locator("li.qrow")
    expect(rows).to_have_count(3)
    # Newest citizen activity first; Marta waited three hours without an answer.
    expect(rows.nth(0)).to_contain_text("Claire Martin")
    expect(rows.nth(1)).to_contain_text("رضا کریمی")
    expect(rows.nth(2)).to_contain_text("Marta Puig")
    expect(rows.nth(2)).to_contain_text("Overdue")
    expect(rows.nth(2)).to_contain_text(re.compile(r"3 h \d+ min ago"))
    expect(rows.nth(2)).to_contain_text("Buses")
    expect(rows.nth(1).locator(".q-subject")).to_have_attribute("dir", "auto")
    expect(page.locator(".qrow.is-overdue")).to_have_count(1)
    expect(page.get_by_role("link", name=re.compile(r"Mine\s+3"))).to_be_visible()
    page.screenshot(path=ARTIFACTS / "queue.png", full_page=True)

    # The keyboard: j moves down the queue, Enter opens.
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(2)).to_have_class(re.compile(r"is-selected"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/inbox/c/{morning.pk}/")
    page.wait_for_load_state("load")
    expect(page.locator("h1")).to_contain_text("El bus 24 no ha pasado")
    expect(page.locator(".sla-badge")).to_contain_text("First answer overdue")

    # r goes to the composer; the counter follows the channel's limit.
    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    page.select_option("#saved-reply", label="Bus incident acknowledged (ES)")
    page.get_by_role("button", name="Insert").click()
    page.keyboard.type(" Disculpe las molestias.")
    answer = "Gracias por avisar. Hemos trasladado la incidencia a TMB. Disculpe las molestias."
    expect(page.locator("#reply-text")).to_have_value(answer)
    expect(page.locator("#reply-counter")).to_have_text(f"{len(answer)} / 2000 characters")
    page.get_by_role("button", name="Send reply").click()

    expect(page.locator(".flash")).to_contain_text("Reply queued for sending.")
    page.reload()
    sent = page.locator("li.msg-out")
    expect(sent).to_contain_text(answer)
    expect(sent.locator(".delivery")).to_have_text("Sent")
    expect(page.locator(".sla-badge")).to_have_count(0)  # answered: the clock stopped
    page.screenshot(path=ARTIFACTS / "conversation.png", full_page=True)

    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".conv-sub .status")).to_have_text("Resolved")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()

    status, reply = off_the_event_loop(lambda: (
        Conversation.objects.get(pk=morning.pk).status,
        morning.messages.get(direction=Message.Direction.OUTBOUND),
    ))
    assert status == Conversation.Status.RESOLVED
    assert reply.delivery_status == Message.Delivery.SENT and reply.external_id == f"sim-out-{reply.uuid}"


def test_queue_updates_without_websockets_by_polling(live_server, morning, page):
    page.clock.install()
    sign_in(page, live_server.url)
    expect(page.locator("li.qrow")).to_have_count(3)

    deliver([citizen(4, "Jordi Ferrer", "jferrer", "Els contenidors del carrer Verdi fa tres dies que no es buiden.",
                     minutes_ago=1)])
    page.clock.run_for(21_000)  # one polling interval

    expect(page.locator("li.qrow")).to_have_count(4)
    expect(page.locator("li.qrow").first).to_contain_text("Jordi Ferrer")
    expect(page.locator("li.qrow.is-new")).to_have_count(1)
    expect(page.locator("#queue-live")).to_have_text("1 new")

    # An open conversation picks up the citizen's follow-up the same way.
    page.locator("li.qrow").first.get_by_role("link").click()
    expect(page.locator("li.msg")).to_have_count(1)
    follow_up = citizen(5, "Jordi Ferrer", "jferrer", "Avui tampoc han passat.", minutes_ago=0)
    follow_up["thread_id"] = "t4"
    deliver([follow_up])
    page.clock.run_for(21_000)
    expect(page.locator("li.msg")).to_have_count(2)
    expect(page.locator("li.msg").last).to_contain_text("Avui tampoc han passat.")


def test_keyboard_help_and_refused_reply(live_server, morning, page):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server.url)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()

    # Persian is laid out right to left wherever citizen text appears.
    page.get_by_role("link", name=re.compile("رضا کریمی")).click()
    persian = page.locator("li.msg-in .msg-text")
    expect(persian).to_contain_text("چراغ‌های خیابان")
    assert persian.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert page.locator(".citizen-name").evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.screenshot(path=ARTIFACTS / "conversation-rtl.png", full_page=True)

    page.goto(f"{live_server.url}/inbox/c/{morning.pk}/")
    page.get_by_label("Private message").check()
    too_long = "x" * 2001
    page.locator("#reply-text").fill(too_long)
    expect(page.locator("#reply-counter")).to_contain_text("1 too many")
    page.get_by_role("button", name="Send reply").click()

    expect(page.get_by_role("alert")).to_contain_text("the limit is 2000")
    expect(page.locator("#reply-text")).to_have_value(too_long)
    expect(page.get_by_label("Private message")).to_be_checked()
    page.screenshot(path=ARTIFACTS / "reply-refused.png", full_page=True)
    assert not off_the_event_loop(morning.messages.filter(direction=Message.Direction.OUTBOUND).exists)


def test_composer_counts_as_the_platform_does(live_server, alice, team_a, page):
    """X weighs a link as 23 and a wide character as 2: the live counter says so before sending."""
    from datetime import UTC, datetime

    from inbox.inbound import InboundAuthor, InboundMessage
    from inbox.models import ChannelAccount
    from inbox.services import messages_ingest
    from routing.services import conversations_route

    def x_conversation() -> int:
        ChannelAccount.objects.create(platform="x", external_id="1590000000000000001", name="Ajuntament",
                                      handle="ajuntament", default_team=team_a, simulated=True)
        result = messages_ingest([(InboundMessage(
            platform="x", account_external_id="1590000000000000001", external_id="1860000000000000001",
            thread_key="post:1860000000000000001", kind="mention", visibility="public",
            author=InboundAuthor("42", handle="marta", name="Marta"), text="@ajuntament 公交车?",
            sent_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        ), None)])
        conversations_route(result.new_conversation_ids)
        return result.new_conversation_ids[0]

    conversation_id = off_the_event_loop(x_conversation)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/inbox/c/{conversation_id}/")

    page.fill("#reply-text", "公交" * 50 + " https://www.barcelona.cat/mobilitat/ca/una-adreca-molt-llarga")
    expect(page.locator("#reply-counter")).to_have_text(re.compile(r"^224 / 280 characters as X counts them"))
    page.fill("#reply-text", "公交" * 71)
    expect(page.locator("#reply-counter")).to_contain_text("4 too many")
