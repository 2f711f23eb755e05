"""Two officers and a supervisor, live over WebSockets, in three browser contexts (headless Chromium).

Unlike the other browser tests (Django's live server: HTTP only, polling), this one serves the
real ASGI application with daphne and runs a real Celery worker, both on the test database and
this test's Redis, so presence, "writing", the approval's return and the reply's delivery
arrive as they would in production. The issue's "Done when", the parts about presence,
collisions and approvals.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from guardian.shortcuts import assign_perm
from playwright.sync_api import Browser, BrowserContext, Page, expect

from inbox.models import ChannelAccount, Conversation, Message, ReplyApproval
from inbox.permissions import OFFICER, SUPERVISOR, team_member_add
from tests.conftest import PASSWORD
from tests.test_browser import ARTIFACTS, browser, citizen, deliver, off_the_event_loop  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROOT = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[str]:
    """daphne serving config.asgi and a Celery worker, on the test database."""
    db = connection.settings_dict
    env = {
        **os.environ, "DEBUG": "true",  # static files from the source tree (whitenoise finders)
        # As tests/conftest.py does for the in-process tests: supervisors enrol in 2FA later.
        "TWO_FACTOR_DEFER_ENROLMENT": "true",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONPATH": str(ROOT),
    }
    port = free_port()
    logs = ARTIFACTS / "presence-server.log"
    ARTIFACTS.mkdir(exist_ok=True)
    with open(logs, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0",
                                   "config.asgi:application"], cwd=ROOT, env=env, stdout=log, stderr=log)
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo",
                                   "-Q", "default,outbound,ingest", "--without-gossip", "--without-mingle",
                                   "--without-heartbeat", "-l", "warning"], cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}"
        finally:
            for process in (server, worker):
                process.terminate()
            for process in (server, worker):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture
def cast(sim_account, alice, carol, team_a, django_user_model):
    """Alice may publish without approval on the account; Erin, who joined last month, may not."""
    deliver([
        citizen(1, "Marta Puig", "martapuig", "La parada de Gran de Gràcia no té pantalla des d'ahir.", minutes_ago=10),
        citizen(2, "Jordi Soler", "jsoler", "Quan tornarà a passar el 24 per Travessera?", minutes_ago=5),
    ])

    def setup():
        erin = django_user_model.objects.create_user(username="erin", password=PASSWORD, first_name="Erin",
                                                     last_name="Vidal")
        team_member_add(team_a, erin, OFFICER)
        account = ChannelAccount.objects.get(pk=sim_account.pk)
        account.reply_approval = ReplyApproval.UNPERMITTED
        account.save(update_fields=["reply_approval"])
        assign_perm("inbox.publish_without_approval", alice, account)
        carol.first_name, carol.last_name = "Carol", "Ferrer"
        carol.save()
        team_member_add(team_a, carol, SUPERVISOR)
        # The server process hashes with the real hashers, not the tests' fast MD5 one.
        hashed = PBKDF2PasswordHasher().encode(PASSWORD, "browser-salt", iterations=1000)
        django_user_model.objects.filter(username__in=["alice", "erin", "carol"]).update(password=hashed)
        return (Conversation.objects.get(thread_key="mention:t1"), Conversation.objects.get(thread_key="mention:t2"))

    return off_the_event_loop(setup)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:  # noqa: F811 - the fixture
    made = [browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB") for _ in range(3)]
    yield made
    for context in made:
        context.close()


def sign_in(context: BrowserContext, base: str, username: str, path: str) -> Page:
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/login/?next={path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}{path}")
    page.wait_for_load_state("load")
    return page


def outbound(conversation) -> list[tuple[str, str, str]]:
    return off_the_event_loop(lambda: list(
        Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND).order_by("id")
        .values_list("author_user__username", "text", "delivery_status")))


def wait_until(predicate, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_two_officers_and_a_supervisor_live(asgi_server, cast, contexts):
    marta, jordi = cast
    base = asgi_server
    alice_ctx, erin_ctx, carol_ctx = contexts

    # Both officers open Marta's conversation and see each other; the supervisor's queue shows it.
    carol = sign_in(carol_ctx, base, "carol", "/inbox/")
    alice = sign_in(alice_ctx, base, "alice", f"/inbox/c/{marta.pk}/")
    erin = sign_in(erin_ctx, base, "erin", f"/inbox/c/{marta.pk}/")
    expect(alice.locator("#presence-bar")).to_contain_text("Also viewing: Erin Vidal")
    expect(erin.locator("#presence-bar")).to_contain_text("Also viewing: alice")
    marta_row = carol.locator(f'.qrow[data-id="{marta.pk}"] [data-presence]')
    expect(marta_row).to_contain_text("Open:")
    expect(marta_row).to_contain_text("Erin Vidal")

    # Erin starts writing: alice (and the supervisor's queue) see it.
    erin_text = "Bon dia, Marta. Ho traslladem a TMB."
    erin.locator("#reply-text").press_sequentially(erin_text[:12], delay=20)
    expect(alice.locator("#presence-bar")).to_contain_text("Writing a reply: Erin Vidal")
    expect(marta_row).to_contain_text("Writing: Erin Vidal")
    alice.screenshot(path=ARTIFACTS / "presence-conversation.png", full_page=True)
    carol.screenshot(path=ARTIFACTS / "presence-queue.png", full_page=True)
    erin.locator("#reply-text").fill(erin_text)

    # Alice answers first; Erin's send is stopped with alice's reply shown.
    alice_text = "Gràcies, Marta. TMB ja hi treballa; la pantalla tornarà a funcionar avui."
    alice.locator("#reply-text").fill(alice_text)
    alice.get_by_role("button", name="Send reply").click()
    expect(alice.locator(".flash")).to_contain_text("Reply queued for sending.")
    expect(erin.locator("li.msg-out")).to_contain_text(alice_text)  # live, over the socket
    erin.get_by_role("button", name="Send reply").click()
    expect(erin.locator("#reply-collision")).to_contain_text(alice_text)
    expect(erin.locator("#reply-text")).to_have_value(erin_text)
    assert [m[1] for m in outbound(marta)] == [alice_text]

    # Erin, a junior on this account, answers Jordi: the reply waits for approval.
    erin.goto(f"{base}/inbox/c/{jordi.pk}/")
    first = "El 24 torna dilluns."
    erin.locator("#reply-text").fill(first)
    erin.get_by_role("button", name="Send reply").click()
    expect(erin.locator(".flash")).to_contain_text("waiting for a supervisor's approval")
    expect(erin.locator("#reply-draft")).to_contain_text("Your reply is waiting for a supervisor's approval.")
    assert outbound(jordi) == []

    # The supervisor sees it with the conversation around it, and returns it with a comment.
    carol.goto(f"{base}/inbox/approvals/")
    card = carol.locator("article.approval").filter(has_text="Jordi Soler")
    expect(card).to_contain_text("Quan tornarà a passar el 24 per Travessera?")
    expect(card.locator("textarea[name=text]")).to_have_value(first)
    carol.screenshot(path=ARTIFACTS / "approvals-page.png", full_page=True)
    comment = "Digues a quina hora i enllaça l'avís de TMB."
    card.get_by_label("Comment for the author (needed to return it)").fill(comment)
    card.get_by_role("button", name="Return to the author").click()
    expect(carol.locator(".flash")).to_contain_text("Draft returned to Erin Vidal")

    # Erin is told live, without reloading, and reads the comment.
    expect(erin.locator("#reply-draft")).to_contain_text("Carol Ferrer returned your reply:")
    expect(erin.locator("#reply-draft")).to_contain_text(comment)
    erin.screenshot(path=ARTIFACTS / "approvals-returned.png", full_page=True)
    rewritten = "El 24 torna dilluns a les 6 h; avís de TMB: https://www.tmb.cat/ca/avisos"
    erin.locator("#reply-text").fill(rewritten)
    erin.get_by_role("button", name="Send reply").click()
    expect(erin.locator("#reply-draft")).to_contain_text("waiting for a supervisor's approval")

    # The supervisor's page says the list changed; she approves the rewrite; it goes out once.
    expect(carol.locator("#approvals-changed")).to_be_visible()
    carol.goto(f"{base}/inbox/approvals/")
    card = carol.locator("article.approval").filter(has_text="Jordi Soler")
    expect(card.locator("textarea[name=text]")).to_have_value(rewritten)
    card.get_by_role("button", name="Approve and send").click()
    expect(carol.locator(".flash")).to_contain_text("Approved: the reply is queued for sending.")
    assert wait_until(lambda: outbound(jordi) == [("erin", rewritten, "sent")]), outbound(jordi)
    expect(erin.locator("#reply-draft")).to_contain_text("approved your reply")
    expect(erin.locator("li.msg-out")).to_have_count(1)
    erin.screenshot(path=ARTIFACTS / "approvals-approved.png", full_page=True)
    assert re.search("Nothing waits for approval", carol.goto(f"{base}/inbox/approvals/").text())
