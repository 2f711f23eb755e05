"""The reply library and the citizen card in headless Chromium (Debian's, never downloaded):
an officer searches saved replies by keystroke and inserts one in Catalan with the citizen's
name filled in, sends it (usage counted); the citizen card links a suggested contact; an admin
manages the library. Screenshots go to test-artifacts/ for a human to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from inbox.models import ChannelAccount, Contact, Conversation, Message, Person, SavedReply
from tests.conftest import PASSWORD, post_sim, sim_body, sim_event
from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS, off_the_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/inbox/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/inbox/$"))
    page.wait_for_load_state("load")


@pytest.fixture
def marta(sim_account, alice, team_a):
    """Marta wrote in Catalan on the simulated network; she also wrote on Telegram and Facebook."""
    alice.first_name = "Alícia"
    alice.save(update_fields=["first_name"])
    event = sim_event(1, author="marta-sim", text="Bon dia, el bus 24 no passa des de fa 40 minuts.",
                      at=timezone.now())
    event["from"].update(name="Marta Puig", handle="martapuig")
    off_the_event_loop(lambda: post_sim(Client(), sim_body([event])))
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(language="ca")
    thanks = SavedReply.objects.create(
        title="Thanks, we are on it", kind=SavedReply.Kind.ACKNOWLEDGEMENT, team=team_a, language="en",
        body="Hello {citizen_name}, thank you for writing. I am {officer_first_name}, from {team}.",
    )
    thanks.versions.create(language="ca", body="Hola {citizen_name}, gràcies per escriure'ns. "
                                                "Soc {officer_first_name}, de {team}.")
    thanks.versions.create(language="es", body="Hola {citizen_name}, gracias por escribirnos.")
    SavedReply.objects.create(title="Opening hours", kind=SavedReply.Kind.SIGNPOSTING,
                              body="We answer {service_hours}.", language="en")
    # The same citizen elsewhere: linked on Telegram, suggested on Facebook (same name).
    person = Person.objects.create(display_name="Marta Puig", notes="Prefers answers in Catalan.")
    Contact.objects.filter(pk=conversation.contact_id).update(person=person)
    telegram = ChannelAccount.objects.create(platform="telegram", external_id="bot-1", name="City bot", default_team=team_a)
    facebook = ChannelAccount.objects.create(platform="facebook", external_id="page-1", name="City page",
                                             default_team=team_a)
    on_tg = Contact.objects.create(platform="telegram", external_id="5501", name="Marta P.", person=person)
    on_fb = Contact.objects.create(platform="facebook", external_id="6512345678901234", name="Marta Puig")
    for i, (account, contact) in enumerate([(telegram, on_tg), (telegram, on_tg), (facebook, on_fb)]):
        Conversation.objects.create(account=account, contact=contact, kind="private", thread_key=f"t{i}",
                                    team=team_a, subject=["Targeta rosa", "Soroll nocturn", "Multa zona verda"][i],
                                    status="resolved")
    return conversation


def test_a_saved_reply_is_inserted_in_catalan_with_the_citizen_s_name(live_server, marta, page):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/inbox/c/{marta.pk}/")
    page.wait_for_load_state("load")

    search = page.get_by_role("combobox", name="Search saved replies")
    search.click()
    search.press_sequentially("gràc", delay=40)  # the Catalan version's text, by keystroke
    listbox = page.get_by_role("listbox", name="Saved replies")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Thanks, we are on it")
    expect(options.first).to_contain_text("CA")
    expect(search).to_have_attribute("aria-expanded", "true")
    search.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", options.first.get_attribute("id"))
    page.screenshot(path=ARTIFACTS / "library-composer-search.png", full_page=False)
    search.press("Enter")

    reply = page.locator("#reply-text")
    expect(reply).to_have_value("Hola Marta Puig, gràcies per escriure'ns. Soc Alícia, de Mobility.")
    expect(reply).to_be_focused()
    expect(listbox).to_be_hidden()
    expect(page.locator("#reply-form input[name=saved_reply]")).to_have_value(
        str(SavedReply.objects.get(title="Thanks, we are on it").pk))
    expect(page.locator("#reply-counter")).to_contain_text("66")

    page.get_by_role("button", name="Send reply").click()
    page.wait_for_load_state("load")
    sent = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert sent.text == "Hola Marta Puig, gràcies per escriure'ns. Soc Alícia, de Mobility."
    expect(page.locator(".timeline")).to_contain_text("Soc Alícia, de Mobility.")
    assert SavedReply.objects.get(title="Thanks, we are on it").usage_count == 1

    # The citizen card: the Person on every channel, notes, a suggested link.
    card = page.locator("#citizen-card")
    expect(card).to_contain_text("Marta P.")
    expect(card).to_contain_text("Possibly the same person")
    history = page.get_by_role("region", name="Conversations on every channel")
    expect(history).to_contain_text("Targeta rosa")
    expect(history).not_to_contain_text("Multa zona verda")  # Facebook: not linked yet
    expect(page.locator("#person-notes")).to_have_value("Prefers answers in Catalan.")
    page.locator(".conv-side").screenshot(path=ARTIFACTS / "citizen-card.png")
    card.get_by_role("button", name=re.compile(r"^Link")).click()
    page.wait_for_load_state("load")
    expect(page.locator("#citizen-card")).not_to_contain_text("Possibly the same person")
    expect(page.locator("#citizen-card")).to_contain_text("Undo the last link")
    expect(page.get_by_role("region", name="Conversations on every channel")).to_contain_text("Multa zona verda")
    page.locator(".conv-side").screenshot(path=ARTIFACTS / "citizen-card-linked.png")
    assert Contact.objects.get(external_id="6512345678901234").person_id == marta.contact.person_id


def test_an_admin_manages_the_library(live_server, marta, dave, page):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, live_server.url, "dave")
    page.get_by_role("link", name="Reply library").click()
    expect(page.get_by_role("heading", name="Reply library")).to_be_visible()
    row = page.locator("tr", has_text="Thanks, we are on it")
    expect(row).to_contain_text("Acknowledgement")
    expect(row).to_contain_text("CA")
    page.screenshot(path=ARTIFACTS / "library.png", full_page=True)

    page.get_by_role("link", name="New saved reply").click()
    page.get_by_label("Title").fill("Bus diversion")
    page.get_by_label("Kind").select_option(label="Signposting")
    page.get_by_label("Text", exact=True).first.fill("Hello {citizen}, see tmb.cat")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#library-error")).to_contain_text("Unknown variable(s): {citizen}")
    page.get_by_label("Text", exact=True).first.fill("Hello {citizen_name}, see tmb.cat")
    page.locator("#id_versions-0-language").select_option("ca")
    page.locator("#id_versions-0-body").fill("Hola {citizen_name}, mireu tmb.cat")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("tr", has_text="Bus diversion")).to_contain_text("Signposting")
    page.get_by_label("Kind").select_option(label="Signposting")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    page.screenshot(path=ARTIFACTS / "library-filtered.png", full_page=True)
