"""An admin answers two requests in headless Chromium: everything about one citizen (a
data-subject access export) and one day of one account (a freedom-of-information export),
downloads both archives, checks them, and finds both in the audit trail. Screenshots of the
public record's pages go to test-artifacts/."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, expect, sync_playwright

from inbox.models import Contact, Conversation, Person, RetentionPolicy
from tests.conftest import PASSWORD, post_sim, sim_body, sim_event
from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def records(settings, tmp_path, sim_account, dave):
    settings.RECORDS_EXPORT_DIR = tmp_path / "exports"
    events = [
        sim_event(1, author="marta", text="El bus 24 no ha passat, truqueu-me al 612 345 678", at=DAY),
        sim_event(2, author="pere", text="Hi ha <b>escombraries</b> al carrer Major", at=DAY + timedelta(hours=2)),
        sim_event(3, author="marta", text="Encara res del bus 24?", at=DAY + timedelta(days=3)),
    ]
    for event in events:
        event["from"]["name"] = {"marta": "Marta Puig", "pere": "Pere Soler"}[event["from"]["id"]]
        post_sim(Client(), sim_body([event]))
    marta = Person.objects.create(display_name="Marta Puig")
    Contact.objects.filter(external_id="marta").update(person=marta)
    RetentionPolicy.objects.create(account=sim_account, keep_months=24)
    return marta


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def download_and_check(page: Page) -> zipfile.ZipFile:
    """Download the archive the page offers; every file re-hashes to its manifest entry."""
    sha = page.locator("dd.mono").inner_text().strip()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the archive").click()
    path = info.value.path()
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha
    archive = zipfile.ZipFile(path)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"]
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    return archive


def test_admin_exports_a_person_and_a_day_of_an_account_and_finds_both_in_the_trail(live_server, records, page,
                                                                                     tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    base = live_server.url
    page.goto(f"{base}/records/people/")
    page.get_by_label("Username").fill("dave")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/records/people/")

    # Everything about Marta.
    page.get_by_label("Name, handle or platform id").fill("Marta")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Marta Puig").click()
    expect(page.get_by_role("heading", name=re.compile("Marta Puig"))).to_be_visible()
    page.screenshot(path=ARTIFACTS / "records-person.png", full_page=True)
    page.get_by_role("button", name="Export this person's data").click()
    expect(page.get_by_role("heading", name="Data-subject access export")).to_be_visible()
    expect(page.get_by_role("link", name="Download the archive")).to_be_visible()
    expect(page.locator("progress")).to_have_attribute("value", "3")
    page.screenshot(path=ARTIFACTS / "records-export-ready.png", full_page=True)
    dsar = download_and_check(page)
    marta_conversations = {f"conversations/{c.pk}/messages.json"
                           for c in Conversation.objects.filter(contact__person=records)}
    assert {n for n in dsar.namelist() if n.endswith("messages.json")} == marta_conversations
    assert json.loads(dsar.read("person.json"))["person"]["display_name"] == "Marta Puig"

    # One day of one account.
    page.get_by_role("link", name="Exports").click()
    page.get_by_label("From", exact=True).fill("2026-11-20")
    page.get_by_label("To (included)").fill("2026-11-20")
    page.get_by_label("Channel account").select_option(label="Simulator · City (simulated)")
    page.screenshot(path=ARTIFACTS / "records-exports.png", full_page=True)
    page.get_by_role("button", name="Build the archive").click()
    expect(page.get_by_role("heading", name="Freedom-of-information export")).to_be_visible()
    foi = download_and_check(page)
    transcripts = sorted(n for n in foi.namelist() if n.endswith("transcript.html"))
    assert len(transcripts) == 2  # the day's two conversations, not the one three days later
    pere = next(foi.read(n).decode() for n in transcripts if "Pere Soler" in foi.read(n).decode())
    assert "&lt;b&gt;escombraries&lt;/b&gt;" in pere
    # The transcript opens from the unpacked archive, with nothing fetched from elsewhere.
    unpacked = tmp_path / "foi"
    foi.extractall(unpacked)
    requests: list[str] = []

    def note(request):
        requests.append(request.url)

    page.on("request", note)
    page.goto((unpacked / transcripts[0]).as_uri())
    expect(page.locator(".msg")).to_have_count(1)
    page.screenshot(path=ARTIFACTS / "records-transcript.png", full_page=True)
    assert all(url.startswith("file://") for url in requests), requests
    page.remove_listener("request", note)
    page.goto(f"{base}/records/exports/")

    # Both requests and both downloads are on the record.
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_label("Action").fill("record_export.")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tr[data-verb]")
    expect(page.locator('tr[data-verb="record_export.request"]')).to_have_count(2)
    expect(page.locator('tr[data-verb="record_export.download"]')).to_have_count(2)
    expect(rows.filter(has_text="kind=dsar")).to_have_count(2)
    expect(rows.filter(has_text="kind=foi")).to_have_count(2)
    expect(page.locator('tr[data-verb="record_export.request"]').first).to_contain_text("dave")
    page.screenshot(path=ARTIFACTS / "records-audit-trail.png", full_page=True)

    # The other pages, for a human to look at.
    page.goto(f"{base}/inbox/c/{Conversation.objects.get(thread_key='mention:t1').pk}/")
    page.get_by_label("Reason", exact=True).fill("Ombudsman complaint 2026/118")
    page.get_by_role("button", name="Put on legal hold").click()
    expect(page.get_by_text("This conversation is on legal hold.")).to_be_visible()
    page.locator("[data-legal-hold]").screenshot(path=ARTIFACTS / "records-conversation-hold.png")
    page.goto(f"{base}/records/retention/")
    page.screenshot(path=ARTIFACTS / "records-retention.png", full_page=True)
    page.goto(f"{base}/records/holds/")
    page.screenshot(path=ARTIFACTS / "records-holds.png", full_page=True)
