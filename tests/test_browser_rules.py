"""An admin, as a new user would, writes "Catalan messages mentioning escombraries or residus
→ Waste & cleaning, high priority" in the rule builder, dry-runs it on the last week, saves
it, and the next such message from the simulator lands in Waste & cleaning with the trace on
its page. Headless Debian Chromium; screenshots in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from inbox.models import Conversation, OfficerProfile
from inbox.permissions import OFFICER, team_member_add
from routing import rules as engine
from routing.models import RoutingRule
from tests.conftest import PASSWORD, make_available, sim_event
from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS, deliver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CATALAN = "Bon dia, les escombraries del carrer Major no s'han recollit des de dilluns"


@pytest.fixture(autouse=True)
def fresh_rules():
    engine.rules_changed()
    yield
    engine.rules_changed()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/routing-rules/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/routing-rules/")
    page.wait_for_load_state("load")


def test_admin_builds_dry_runs_and_saves_a_rule_and_the_next_message_follows_it(
        live_server, browser, sim_account, team_a, team_b, dave, carol, alice, bob, django_user_model):
    ARTIFACTS.mkdir(exist_ok=True)
    # Waste & cleaning deals round robin to available officers: bob (no Catalan), nuria
    # (Catalan), and joan, who speaks Catalan but is away.
    nuria = django_user_model.objects.create_user("nuria", password=PASSWORD, first_name="Núria")
    joan = django_user_model.objects.create_user("joan", password=PASSWORD, first_name="Joan")
    for officer in (nuria, joan):
        team_member_add(team_b, officer, OFFICER)
    make_available(nuria, languages=["ca", "es"])
    make_available(joan, languages=["ca"])
    OfficerProfile.objects.filter(user=joan).update(status=OfficerProfile.Presence.AWAY)
    now = timezone.now()
    deliver([sim_event(1, text=CATALAN, at=now), sim_event(2, text="El bus 24 no ha pasado esta mañana", at=now),
             sim_event(3, text="Hi ha residus a la platja de la Barceloneta", at=now)])

    page = new_page(browser)
    sign_in(page, live_server.url, "dave")
    expect(page.get_by_text("No rule yet")).to_be_visible()
    page.get_by_role("link", name="New rule").click()
    page.wait_for_load_state("load")
    page.get_by_label("Name").fill("Residus (ca)")

    builder = page.locator('[data-builder="conditions"]')
    expect(builder).to_be_visible()
    expect(page.get_by_label("Conditions (JSON)")).to_be_hidden()  # the builder replaces the textarea
    builder.get_by_role("button", name="+ Add condition").click()
    builder.get_by_label("Field").nth(0).select_option("language")
    builder.get_by_label("Value").nth(0).fill("ca")
    builder.get_by_role("button", name="+ Add condition").last.click()
    builder.get_by_label("Field").nth(1).select_option("text")
    expect(builder.get_by_label("Operator").nth(1)).to_have_value("contains_any")
    builder.get_by_label("Value").nth(1).fill("escombraries, residus")

    actions = page.locator('[data-builder="actions"]')
    actions.get_by_role("button", name="+ Add action").click()
    actions.get_by_label("Route to team: team").select_option("waste")
    actions.get_by_role("button", name="+ Add action").click()
    actions.get_by_label("Action").nth(1).select_option("set_priority")
    actions.get_by_label("Set priority: value").select_option("high")

    page.get_by_role("button", name="Dry run").click()
    page.wait_for_load_state("load")
    dry = page.get_by_test_id("dry-run")
    expect(dry).to_contain_text("2 of 3 messages of the last 7 days match")
    expect(dry).to_contain_text("Waste & cleaning")
    expect(dry).to_contain_text("language = ca ✓")
    assert not RoutingRule.objects.exists()  # nothing saved by a dry run
    # The builder came back with what was typed.
    expect(page.locator('[data-builder="conditions"]').get_by_label("Value").nth(1)).to_have_value(
        "escombraries, residus")
    page.screenshot(path=ARTIFACTS / "rules-dry-run.png", full_page=True)

    page.get_by_label("Why this change").fill("Residus campaign, autumn")
    page.get_by_role("button", name="Save rule").click()
    expect(page).to_have_url(f"{live_server.url}/routing-rules/")
    expect(page.get_by_text("Rule “Residus (ca)” saved (version 1).")).to_be_visible()
    row = page.locator("tr[data-rule='Residus (ca)']")
    expect(row).to_contain_text("language = ca and words (escombraries, residus)")
    expect(row).to_contain_text("→ Waste & cleaning")
    page.screenshot(path=ARTIFACTS / "rules-list.png", full_page=True)
    rule = RoutingRule.objects.get()
    assert rule.conditions == {"all": [{"field": "language", "op": "in", "value": ["ca"]},
                                       {"field": "text", "op": "contains_any", "value": ["escombraries", "residus"]}]}
    assert rule.actions == [{"type": "route_to_team", "team": "waste"}, {"type": "set_priority", "value": "high"}]

    deliver([sim_event(4, text="Les escombraries del mercat encara són al carrer", at=timezone.now())])
    conversation = Conversation.objects.get(thread_key="mention:t4")
    assert conversation.team == team_b and conversation.priority == Conversation.Priority.HIGH
    assert conversation.assignee == nuria  # the available Catalan speaker

    page.goto(f"{live_server.url}/inbox/c/{conversation.pk}/")
    trace = page.get_by_test_id("routing-trace")
    expect(trace).to_contain_text(re.compile(r"routed by rule\s+Residus \(ca\) v1:"))
    expect(trace).to_contain_text("language = ca ✓")
    expect(trace).to_contain_text("words (escombraries, residus) ✓")
    expect(trace).to_contain_text("→ Waste & cleaning")
    expect(trace).to_contain_text("priority high")
    expect(page.get_by_text(re.compile(r"Assignee\s*Núria"))).to_be_visible()
    trace.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "rules-trace.png", full_page=True)

    # The version history, then a supervisor who may read but not change.
    page.goto(f"{live_server.url}/routing-rules/{rule.pk}/")
    expect(page.get_by_role("table", name="Version history")).to_contain_text("Residus campaign, autumn")
    supervisor = new_page(browser)
    sign_in(supervisor, live_server.url, "carol")
    expect(supervisor.get_by_role("link", name="New rule")).to_have_count(0)
    expect(supervisor.get_by_role("button", name="Disable")).to_have_count(0)
    supervisor.get_by_role("link", name="Residus (ca)").click()
    expect(supervisor.get_by_label("Name")).to_be_disabled()
    expect(supervisor.get_by_role("button", name="+ Add condition")).to_have_count(0)
    supervisor.screenshot(path=ARTIFACTS / "rules-supervisor.png", full_page=True)


def test_admin_moves_disables_and_shadows_rules_from_the_list(live_server, browser, team_b, dave):
    from routing.rules_services import rule_save

    for name in ("First", "Second"):
        rule_save(actor=dave, name=name, conditions={}, actions=[{"type": "route_to_team", "team": "waste"}])
    page = new_page(browser)
    sign_in(page, live_server.url, "dave")
    page.get_by_role("button", name="Move Second up").click()
    expect(page.locator("tbody tr").first).to_contain_text("Second")
    page.locator("tr[data-rule='First']").get_by_role("button", name="Disable").click()
    expect(page.locator("tr[data-rule='First']")).to_contain_text("disabled")
    page.locator("tr[data-rule='Second']").get_by_role("button", name="Shadow").click()
    expect(page.locator("tr[data-rule='Second']")).to_contain_text("shadow")
    assert list(RoutingRule.objects.values_list("name", "enabled", "mode")) == [
        ("Second", True, "shadow"), ("First", False, "active")]


def test_a_rule_naming_a_deleted_team_officer_or_reply_is_flagged_in_the_list_and_the_editor(
        live_server, browser, team_a, team_b, dave):
    from inbox.models import SavedReply
    from routing.rules_services import rule_save

    reply = SavedReply.objects.create(title="Acknowledgement", body="Gràcies, ho mirem.")
    rule = rule_save(actor=dave, name="Gone things", conditions={}, actions=[
        {"type": "route_to_team", "team": "waste"}, {"type": "assign_to", "user": "ghost"},
        {"type": "auto_reply", "saved_reply": reply.pk}])
    reply_id = reply.pk
    team_b.delete()
    reply.delete()
    page = new_page(browser)
    sign_in(page, live_server.url, "dave")
    row = page.locator("tr[data-rule='Gone things']")
    expect(row.locator(".rule-problem")).to_have_count(3)
    expect(row).to_contain_text("Team “waste” does not exist (any more): the action is skipped.")
    expect(row).to_contain_text("Officer “ghost” does not exist or is deactivated")
    expect(row).to_contain_text(f"Saved reply #{reply_id} does not exist")
    page.get_by_role("link", name="Gone things").click()
    page.wait_for_load_state("load")
    expect(page.locator(".rule-problem")).to_have_count(3)
    # The builder shows what is gone as gone, and keeps it (it does not quietly pick the
    # first team instead).
    team_select = page.locator('[data-builder="actions"]').get_by_label("Route to team: team")
    expect(team_select).to_have_value("waste")
    expect(team_select.locator("option:checked")).to_have_text("waste (does not exist any more: skipped)")
    page.screenshot(path=ARTIFACTS / "rules-gone.png", full_page=True)
    page.get_by_label("Why this change").fill("checked")
    page.get_by_role("button", name="Save a new version").click()
    expect(page).to_have_url(f"{live_server.url}/routing-rules/")
    rule.refresh_from_db()
    assert rule.actions[0] == {"type": "route_to_team", "team": "waste"}


def test_follow_up_trace_on_the_conversation_page(live_server, browser, sim_account, team_a, team_b, alice, dave):
    from routing.rules_services import rule_save

    rule_save(actor=dave, name="Urgent follow-up", conditions={"all": [
        {"field": "first_message", "op": "is", "value": False},
        {"field": "text", "op": "contains_any", "value": ["urgent"]}]},
        actions=[{"type": "set_priority", "value": "urgent"}, {"type": "route_to_team", "team": "waste"}])
    engine.rules_changed()
    deliver([sim_event(1, text="Hi ha un forat al carrer", at=timezone.now())])
    deliver([sim_event(2, thread="t1", text="Ara és urgent: hi ha caigut algú", at=timezone.now())])
    conversation = Conversation.objects.get()
    assert conversation.priority == Conversation.Priority.URGENT and conversation.assignee == alice
    page = new_page(browser)
    sign_in(page, live_server.url, "dave")
    page.goto(f"{live_server.url}/inbox/c/{conversation.pk}/")
    trace = page.get_by_test_id("routing-trace")
    expect(trace).to_contain_text("On a follow-up message")
    expect(trace).to_contain_text("Urgent follow-up")
    expect(trace).to_contain_text("priority urgent")
    expect(trace.locator(".trace-skipped")).to_have_text("→ Waste & cleaning (skipped: an officer holds it)")
    trace.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "rules-trace-followup.png", full_page=True)
