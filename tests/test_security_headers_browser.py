"""The main pages under the real Content-Security-Policy in Chromium: any violation the browser
reports (a blocked inline script or style, a script from elsewhere) fails the test.

Debian's Chromium, never a downloaded browser; the live server is pytest-django's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, sync_playwright

from inbox.models import Conversation
from inbox.permissions import ADMIN
from tests.conftest import PASSWORD, post_sim, sim_body, sim_event
from tests.test_browser import CHROMIUM_ARGS, off_the_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    "/inbox/", "{conversation}", "/dashboard/", "/routing-rules/", "/routing-rules/new/", "/calendars/",
    "/calendars/new/", "/sla-policies/", "/teams/", "/people/", "/automatic-replies/", "/admin/",
    "/admin/inbox/conversation/", "/api/docs/",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _admin(django_user_model, team):
    from inbox.permissions import team_member_add

    user = django_user_model.objects.create_user("root", password=PASSWORD, is_staff=True, is_superuser=True)
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    team_member_add(team, user, ADMIN)
    return user


def _session_cookie(user, base: str) -> dict:
    from tests.test_permission_matrix import signed_in

    client = signed_in(user)  # signed in with a verified second factor where the app asks for one
    from django.conf import settings

    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": base}


def test_main_pages_raise_no_csp_violation(live_server, browser, django_user_model, team_a, sim_account, settings):
    settings.SESSION_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.CSRF_COOKIE_SECURE = False
    off_the_event_loop(lambda: post_sim(__import__("django.test").test.Client(),
                                        sim_body([sim_event(1, thread="csp", text="Bus 24?")])))
    admin = off_the_event_loop(_admin, django_user_model, team_a)
    conversation = off_the_event_loop(lambda: Conversation.objects.values_list("pk", flat=True).first())
    cookie = off_the_event_loop(_session_cookie, admin, live_server.url)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([cookie])
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text else None)
    page.add_init_script("""
        document.addEventListener("securitypolicyviolation", e =>
            console.error("Content Security Policy violation: " + e.violatedDirective + " " + e.blockedURI
                          + " " + (e.sourceFile || "") + ":" + (e.lineNumber || "")));
    """)
    for path in PAGES:
        url = live_server.url + path.format(conversation=f"/inbox/c/{conversation}/")
        response = page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        page.wait_for_load_state("networkidle")
    found = list(violations)
    # The listener works: an image from elsewhere, added now, is reported (and blocked).
    page.evaluate("""document.body.insertAdjacentHTML("beforeend", '<img src="https://blocked.invalid/x.png">')""")
    page.wait_for_timeout(500)
    context.close()
    assert any("img-src" in v for v in violations[len(found):]), violations
    assert not found, "\n".join(found)
