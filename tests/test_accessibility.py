"""WCAG 2.2 AA on the officer's and the supervisor's pages, in every interface language.

axe-core comes from the npm registry (package.json, installed by `make test` with npm ci)
and is injected by Playwright into the real pages in Debian's Chromium: the queue, a
conversation, the dashboard and the approvals queue, in Catalan, Spanish, English, French,
Polish and Persian (right to left), must show no serious or critical violation. Focus is
visible and follows the page's order; a citizen's new message is read out by a live region.
Screenshots (Persian, Catalan) go to test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from inbox.models import Conversation
from tests.conftest import login, post_sim, sim_body, sim_event
from tests.test_browser import CHROMIUM_ARGS, off_the_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
LANGUAGES = ["ca", "es", "en", "fr", "pl", "fa"]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
POLL = 21_000  # one polling interval of static/js/inbox.js, and a little more


@pytest.fixture(scope="module", autouse=True)
def axe_installed():
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `make test` (it runs npm ci) or `npm ci`")


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in_page(browser: Browser, base: str, user, lang: str) -> Page:
    """A page whose browser asks for ``lang`` (Accept-Language), signed in as ``user``."""
    client: Client = off_the_event_loop(login, user)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=lang, bypass_csp=True)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def serious_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations",
        WCAG_TAGS,
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"][:5]]}
        for v in result if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def conversation(sim_account, alice, carol) -> Conversation:
    at = timezone.now() - timedelta(minutes=30)
    off_the_event_loop(lambda: post_sim(Client(), sim_body([
        sim_event(1, text="La pantalla de la parada de Gran de Gràcia no funciona des de dilluns.", at=at),
        sim_event(2, thread="t1", text="Hi ha alguna incidència?", at=at + timedelta(minutes=2)),
        sim_event(3, text="سلام، چراغ‌های خیابان ما از دوشنبه خاموش است.", author="citizen-2",
                  at=at + timedelta(minutes=5)),
    ])))
    return Conversation.objects.get(thread_key="mention:t1")


def pages_to_check(conversation: Conversation) -> list[tuple[str, str]]:
    pages = [
        ("queue", reverse("inbox:queue")),
        ("conversation", reverse("inbox:conversation", args=[conversation.pk])),
        ("dashboard", reverse("dashboard:page")),
    ]
    with contextlib.suppress(NoReverseMatch):  # the approvals queue, where this build has it
        pages.append(("approvals", reverse("inbox:approvals")))
    return pages


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_serious_or_critical_axe_violation(lang, live_server, browser, conversation, carol):
    found = {}
    page = signed_in_page(browser, live_server.url, carol, lang)
    for name, path in pages_to_check(conversation):
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "fa" else "ltr")
        violations = serious_violations(page)
        if violations:
            found[name] = violations
        if lang in ("fa", "ca"):
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"a11y-{name}-{lang}.png", full_page=True)
    page.context.close()
    assert not found, f"{lang}: " + json.dumps(found, ensure_ascii=False, indent=1)


def test_focus_is_visible_and_follows_the_page_order(live_server, browser, conversation, alice):
    page = signed_in_page(browser, live_server.url, alice, "en")
    page.goto(live_server.url + reverse("inbox:conversation", args=[conversation.pk]))
    page.wait_for_load_state("load")
    assert page.locator("[tabindex]:not([tabindex='0']):not([tabindex='-1'])").count() == 0  # no positive tabindex
    previous, visited = None, []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate_handle("document.activeElement")
        state = page.evaluate(
            """(el) => { const s = getComputedStyle(el);
                 return {tag: el.tagName, visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
                                                     || (s.boxShadow && s.boxShadow !== 'none'),
                         text: (el.textContent || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40)}; }""",
            focused,
        )
        if state["tag"] == "BODY":
            break  # past the last control: the browser's own controls come next
        assert state["visible"], f"no visible focus on {state}"
        if previous is not None:
            # Each Tab moves forward in the document (DOCUMENT_POSITION_FOLLOWING = 4).
            order = page.evaluate("([a, b]) => a.compareDocumentPosition(b)", [previous, focused])
            assert order & 4, f"focus went backwards to {state}"
        previous = focused
        visited.append(state["text"])
    # The skip link first, then the top bar, the conversation's actions and the composer.
    assert visited[0] == "Skip to content"
    assert "Send reply" in visited and len(visited) >= 10, visited
    page.context.close()


def test_a_citizens_new_message_is_read_out_by_the_live_region(live_server, browser, conversation, alice):
    page = signed_in_page(browser, live_server.url, alice, "ca")
    page.clock.install()
    page.goto(live_server.url + reverse("inbox:conversation", args=[conversation.pk]))
    page.wait_for_load_state("load")
    live = page.locator("#timeline-live")
    expect(live).to_have_attribute("aria-live", "polite")
    off_the_event_loop(lambda: post_sim(Client(), sim_body([
        sim_event(4, thread="t1", text="Ja torna a funcionar, gràcies!", at=timezone.now()),
    ])))
    page.clock.run_for(POLL)
    expect(live).to_have_text("Missatge nou del ciutadà: Ja torna a funcionar, gràcies!")
    page.context.close()
