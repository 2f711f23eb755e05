"""An admin's first sign-in in headless Chromium (Debian's, never a downloaded one): the
password, then the enrolment page; the key read off the page into an authenticator (pyotp
here), the first code typed, the recovery codes shown once, and the inbox. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import expect

from inbox.models import AuditEvent
from tests.conftest import PASSWORD
from tests.test_browser import ARTIFACTS, browser, off_the_event_loop, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_enrols_with_an_authenticator_and_lands_in_the_inbox(live_server, page, dave, settings):  # noqa: F811
    settings.TWO_FACTOR_DEFER_ENROLMENT = False  # production: the enrolment is not optional
    ARTIFACTS.mkdir(exist_ok=True)
    base = live_server.url
    page.goto(f"{base}/inbox/")
    page.get_by_label("Username").fill("dave")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{base}/account/security/two-factor/setup/?next=%2Finbox%2F")
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    qr = page.get_by_role("img", name="QR code with the secret for your authenticator app")
    expect(qr).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 100", arg=qr.element_handle())  # drawn
    page.get_by_text("Cannot scan it? Type the key instead").click()
    page.screenshot(path=str(ARTIFACTS / "two-factor-setup.png"), full_page=True)

    # Elsewhere is out of reach until the enrolment is done.
    page.goto(f"{base}/dashboard/")
    expect(page).to_have_url(f"{base}/account/security/two-factor/setup/?next=%2Fdashboard%2F")

    page.get_by_text("Cannot scan it? Type the key instead").click()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    right = pyotp.TOTP(secret).now()
    page.get_by_label("Type the 6-digit code the app shows").fill(f"{(int(right) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")

    page.wait_for_timeout(1100)  # a wrong code makes the next try wait a second (django-otp's throttle)
    page.get_by_label("Type the 6-digit code the app shows").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(10)
    page.screenshot(path=str(ARTIFACTS / "two-factor-recovery-codes.png"), full_page=True)
    page.get_by_role("link", name="I have saved them — continue").click()

    expect(page).to_have_url(f"{base}/dashboard/")
    page.goto(f"{base}/inbox/")
    expect(page).to_have_url(f"{base}/inbox/")
    page.get_by_role("link", name="Security").click()
    expect(page.locator("#recovery-codes-left")).to_contain_text("10 unused recovery codes left of 10")
    page.screenshot(path=str(ARTIFACTS / "security-page.png"), full_page=True)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="You have signed out")).to_be_visible()
    verbs = off_the_event_loop(lambda: list(
        AuditEvent.objects.filter(target_id=str(dave.pk)).order_by("id").values_list("verb", flat=True)
    ))
    assert verbs == ["auth.login", "two_factor.enrol_failed", "two_factor.enrolled", "auth.logout"]
