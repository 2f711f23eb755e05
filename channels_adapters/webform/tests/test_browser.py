"""A citizen fills the contact form in headless Chromium — in Persian, right to left — and an
officer answers it from the conversation page; the answer is captured by the local SMTP
server. Under attack, the browser solves the proof of work by itself (static/js/webform.js),
which the server checks with the same rule (guard.pow_valid). Screenshots: test-artifacts/."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from channels_adapters.webform.tests.conftest import SLUG
from inbox.models import Conversation, Message
from tests.test_browser import ARTIFACTS, browser, off_the_event_loop, page, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def quick(settings):
    settings.WEBFORM_MIN_SECONDS = 1  # a test fills the form faster than a person


def test_a_citizen_writes_in_persian_and_an_officer_answers_by_e_mail(live_server, form_account, mailbox, smtp,
                                                                       alice, browser, page, quick):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 720, "height": 1100}, locale="fa-IR")
    citizen = context.new_page()
    citizen.set_default_timeout(10_000)
    citizen.goto(f"{live_server.url}/contact/{SLUG}/")
    expect(citizen.locator("html")).to_have_attribute("dir", "rtl")
    expect(citizen.locator("html")).to_have_attribute("lang", "fa")
    # Sent empty first: the errors are announced, listed, and tied to their fields.
    citizen.locator("button[type=submit]").click()
    expect(citizen.locator("#wf-alert")).to_be_focused()
    expect(citizen.locator("#id_name")).to_have_attribute("aria-invalid", "true")
    citizen.screenshot(path=ARTIFACTS / "webform-errors-fa.png", full_page=True)
    # Filled with the keyboard's order of fields, by their labels.
    citizen.locator("#id_name").fill("رضا کریمی")
    citizen.locator("#id_email").fill("reza@example.org")
    citizen.locator("#id_message").fill("سلام، چراغ‌های خیابان ما از دوشنبه خاموش است.")
    citizen.locator("#id_consent").check()
    citizen.wait_for_timeout(1100)
    citizen.screenshot(path=ARTIFACTS / "webform-fa.png", full_page=True)
    citizen.locator("button[type=submit]").click()
    reference = citizen.locator("[data-reference]")
    expect(reference).to_have_text(re.compile(r"^F-\d{4}-[0-9A-Z]{8}$"))
    citizen.screenshot(path=ARTIFACTS / "webform-sent-fa.png", full_page=True)
    number = reference.inner_text()
    context.close()

    conversation = off_the_event_loop(lambda: Conversation.objects.get(account=form_account))
    assert conversation.thread_key == f"email:{number}"
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/inbox/c/{conversation.pk}/")
    expect(page.locator("li.msg-in")).to_contain_text("چراغ‌های خیابان")
    expect(page.get_by_label("E-mail to the citizen")).to_be_checked()
    page.locator("#reply-text").fill("Gràcies, Reza: avui mateix ho revisem.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("Reply queued for sending.")
    page.reload()
    expect(page.locator("li.msg-out .delivery")).to_have_text("Sent")
    page.screenshot(path=ARTIFACTS / "webform-conversation.png", full_page=True)
    mail = smtp.parsed()
    assert mail["To"] == "reza@example.org" and number in mail["Subject"]
    reply = off_the_event_loop(lambda: Message.objects.get(direction=Message.Direction.OUTBOUND))
    assert reply.external_id == mail["Message-ID"].strip("<>")


def test_under_attack_the_browser_solves_the_check_by_itself(live_server, form_account, page, quick,  # noqa: F811
                                                              settings):
    settings.WEBFORM_POW_BITS = 14
    cache.set(f"webform:attack:{SLUG}", 1, timeout=600)
    page.goto(f"{live_server.url}/contact/{SLUG}/?lang=en")
    expect(page.locator("[data-pow-status]")).to_have_text("Check done: you can send the form.", timeout=30_000)
    expect(page.locator("[data-question]")).to_be_hidden()
    assert page.locator("input[name=pow]").input_value().isdigit()
    page.get_by_label("Your name", exact=False).fill("Laura Vidal")
    page.locator("#id_email").fill("laura@example.org")
    page.locator("#id_message").fill("The bins in carrer Verdi were not emptied.")
    page.locator("#id_consent").check()
    page.screenshot(path=ARTIFACTS / "webform-challenge.png", full_page=True)
    # On a fast machine the check and the typing take less than the minimum fill time (quick: 1 s
    # from the page's token), which would refuse the form as a bot's: wait like a person.
    page.wait_for_timeout(1200)
    page.locator("button[type=submit]").click()
    expect(page.locator("[data-reference]")).to_have_text(re.compile(r"^F-"))
