"""Notifications in headless Chromium (Debian's): a mention written while the officer was away
is in the top bar's panel after she signs in; following it marks it read, and so does "Mark
all read"; a mention made while she has a page open arrives over the WebSocket (daphne) and
is kept with its id. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from inbox.models import Conversation, Notification
from inbox.services.conversations import conversation_note_add
from tests.conftest import committed
from tests.test_browser import (  # noqa: F401
    ARTIFACTS,
    browser,
    citizen,
    deliver,
    off_the_event_loop,
    page,
    sign_in,
)
from tests.test_browser_presence import asgi_server  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stored_mention_is_in_the_panel_after_sign_in_and_is_marked_read(live_server, sim_account, alice, carol,
                                                                           page):  # noqa: F811
    def before():
        deliver([
            citizen(1, "Marta Puig", "martapuig", "<b>La farola</b> del carrer Verdi", minutes_ago=30),
            citizen(2, "Jordi Vila", "jordiv", "Quan passa la brossa?", minutes_ago=20, channel="dm"),
        ])
        first, second = Conversation.objects.order_by("id")
        for conversation in (first, second):
            committed(conversation_note_add, conversation=conversation, user=carol, text="@alice can you look?")
        return first.pk, second.pk

    first, second = off_the_event_loop(before)
    sign_in(page, live_server.url)
    toggle = page.get_by_role("button", name=re.compile("Notifications"))
    expect(toggle).to_contain_text("2")
    expect(page.locator("[data-notices-count-label]")).to_have_text("unread: 2")  # said, not only coloured
    toggle.click()
    panel = page.locator("#notices-panel")
    expect(panel).to_be_visible()
    entries = panel.locator("li[data-notification-id]")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text(f"carol mentioned you in conversation #{second}")
    expect(entries.nth(1)).to_contain_text(f"carol mentioned you in conversation #{first}")
    expect(panel).not_to_contain_text("farola")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "notifications-panel.png"), full_page=False)

    # Following one opens the conversation and marks it read (the other stays unread).
    entries.nth(1).get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/inbox/c/{first}/")
    expect(page.locator("[data-notices-count]")).to_have_text("1")

    def unread():
        return list(Notification.objects.filter(recipient=alice, read_at__isnull=True)
                    .values_list("conversation_id", flat=True))

    assert off_the_event_loop(unread) == [second]
    page.get_by_role("button", name=re.compile("Notifications")).click()
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("[data-notices-count]")).to_be_hidden()
    expect(page.locator("#notices-panel")).to_contain_text("No unread notification.")
    page.screenshot(path=str(ARTIFACTS / "notifications-all-read.png"), full_page=False)
    assert off_the_event_loop(unread) == []
    page.reload()
    expect(page.locator("[data-notices-count]")).to_be_hidden()


def test_a_live_mention_arrives_over_the_socket_and_is_kept_with_its_id(
        asgi_server, sim_account, alice, carol, browser):  # noqa: F811 - fixtures
    """daphne and the Redis channel layer (tests/test_browser_presence.py's server): the mention
    toasts, its line shows at once, and the panel's refetch gives it its stored id."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from tests.test_browser_presence import sign_in as sign_in_at

    def setup():
        deliver([citizen(1, "Marta Puig", "martapuig", "La farola del carrer Verdi", minutes_ago=5)])
        hashed = PBKDF2PasswordHasher().encode("correct-horse-battery-staple", "browser-salt", iterations=1000)
        type(alice).objects.filter(pk=alice.pk).update(password=hashed)  # the server hashes for real
        return Conversation.objects.get().pk

    conversation = off_the_event_loop(setup)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    try:
        page = sign_in_at(context, asgi_server, "alice", "/inbox/")
        expect(page.locator("[data-notices-count]")).to_be_hidden()
        page.wait_for_function("() => window.CitizenInbox && window.CitizenInbox.socket"
                               " && window.CitizenInbox.socket.readyState === 1")

        def mention():
            note = committed(conversation_note_add, conversation=Conversation.objects.get(pk=conversation),
                             user=carol, text="@alice the lamp post, please")
            return Notification.objects.get(recipient=alice, kind="mention").pk, note.pk

        notification, _note = off_the_event_loop(mention)
        expect(page.locator("[data-toast]")).to_contain_text(f"carol mentioned you in conversation #{conversation}")
        expect(page.locator("[data-notices-count]")).to_have_text("1")
        expect(page.locator(f'#notices-panel li[data-notification-id="{notification}"]')).to_have_count(1)
        page.get_by_role("button", name=re.compile("Notifications")).click()
        page.screenshot(path=str(ARTIFACTS / "notifications-live.png"), full_page=False)
    finally:
        context.close()
