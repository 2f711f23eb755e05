"""Working faster in headless Chromium (Debian's, never a downloaded browser): a bulk reply
to five conversations sends four and holds one with personal data; search; snooze and wake;
a reply to a resolved conversation reopens it. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inbox.models import Conversation, Message, SavedReply
from inbox.services.snooze import conversations_wake
from tests.test_browser import (  # noqa: F401
    ARTIFACTS,
    browser,
    citizen,
    deliver,
    off_the_event_loop,
    page,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def five(sim_account, alice, team_a):
    deliver([
        citizen(1, "Marta Puig", "martapuig", "Quan obre l'oficina del padró?", minutes_ago=50, channel="dm"),
        citizen(2, "Jordi Vila", "jordiv", "Necessito un volant d'empadronament", minutes_ago=40, channel="dm"),
        citizen(3, "Anna Roca", "annar", "Com demano cita per al padró?", minutes_ago=30, channel="dm"),
        citizen(4, "Pau Serra", "paus", "El padró es pot fer en línia?", minutes_ago=20, channel="dm"),
        citizen(5, "Laia Font", "laiaf", "Consulta pública: horaris del padró", minutes_ago=10),
    ])
    SavedReply.objects.create(title="Padró: truqueu-nos", team=team_a,
                              body="Gràcies! Truqueu-nos al 612 345 678 i us donem cita per al padró.")
    return list(Conversation.objects.order_by("id"))


def test_bulk_reply_to_five_sends_four_and_holds_one_with_personal_data(live_server, five, page):  # noqa: F811
    sign_in(page, live_server.url)
    # Search: by name, then back to everything.
    page.get_by_label("Search").fill("Jordi")
    page.get_by_label("Search").press("Enter")
    expect(page.locator(".qrow")).to_have_count(1)
    expect(page.locator(".qrow .q-name")).to_have_text("Jordi Vila")
    page.get_by_label("Search").fill("")
    page.get_by_label("Search").press("Enter")
    expect(page.locator(".qrow")).to_have_count(5)
    # Select with the keyboard (j, x) and the select-all box.
    page.locator("main").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("[data-selected-count]")).to_have_text("1 selected")
    page.get_by_label("Select all on this page").check()
    expect(page.locator("[data-selected-count]")).to_have_text("5 selected")
    page.get_by_label("Action").select_option("reply")
    page.get_by_label("Saved reply").select_option(label="Padró: truqueu-nos")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "queue-bulk-bar-search.png"), full_page=True)
    page.get_by_role("button", name="Apply to selected").click()
    summary = page.locator("#bulk-summary")
    expect(summary).to_contain_text("4 replies sent")
    expect(summary).to_contain_text("1 held back")
    expect(summary).to_contain_text("personal data")
    page.screenshot(path=str(ARTIFACTS / "queue-bulk-summary.png"), full_page=True)
    sent = off_the_event_loop(lambda: list(
        Message.objects.filter(direction="out").values_list("conversation_id", "visibility", "delivery_status")))
    assert sorted(sent) == sorted((c.pk, "private", "sent") for c in five[:4])


def test_snooze_wake_and_reopen_on_reply(live_server, five, page):  # noqa: F811
    laia = five[4]
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/inbox/c/{laia.pk}/")
    page.wait_for_load_state("load")
    page.keyboard.press("s")
    page.get_by_label("Tomorrow at 8:00").check()
    page.locator(".snooze-form").get_by_role("button", name="Snooze").click()
    expect(page.locator(".flash")).to_contain_text("Snoozed until")
    page.goto(f"{live_server.url}/inbox/")
    expect(page.locator(f'.qrow[data-id="{laia.pk}"]')).to_have_count(0)
    woke = off_the_event_loop(lambda: conversations_wake(now=timezone.now() + timedelta(days=8)))
    assert woke == [laia.pk]
    page.reload()
    expect(page.locator(".qrow").first).to_have_attribute("data-id", str(laia.pk))
    expect(page.locator(".qrow").first.locator(".woken")).to_have_text("Back from snooze")
    # Resolve with the keyboard, then answer: the conversation opens again and says so.
    page.goto(f"{live_server.url}/inbox/c/{laia.pk}/")
    page.wait_for_load_state("load")
    page.keyboard.press("e")
    expect(page.locator(".flash")).to_contain_text("resolved")
    page.locator("#reply-text").fill("Podeu consultar els horaris al web de l'ajuntament.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("it is open again")
    assert off_the_event_loop(lambda: Conversation.objects.get(pk=laia.pk).status) == "open"
