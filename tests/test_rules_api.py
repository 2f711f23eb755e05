"""/api/v1/routing-rules/: admins write, supervisors read; 400s carry the path of the error;
the dry run changes nothing; conversations carry their routing trace without N+1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inbox.models import Conversation
from routing import rules as engine
from routing.models import RoutingRule, RoutingRuleVersion
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

API = "/api/v1/routing-rules/"
CATALAN = "Bon dia, les escombraries del carrer Major no s'han recollit des de dilluns"
RULE = {"name": "Residus (ca)", "position": 10, "enabled": True, "mode": "active", "stop": True,
        "conditions": {"all": [{"field": "language", "op": "in", "value": ["ca"]},
                               {"field": "text", "op": "contains_any", "value": ["escombraries", "residus"]}]},
        "actions": [{"type": "route_to_team", "team": "waste"}, {"type": "set_priority", "value": "high"}]}


@pytest.fixture(autouse=True)
def fresh_rules():
    engine.rules_changed()
    yield
    engine.rules_changed()


def post(client, url, body):
    return committed(client.post, url, json.dumps(body), content_type="application/json")


def deliver(*events):
    return committed(post_sim, Client(), sim_body(list(events)))


def test_done_when_through_the_api(dave, team_b, sim_account, bob):
    client = login(dave)
    now = datetime.now(UTC)
    deliver(sim_event(1, text=CATALAN, at=now), sim_event(2, text="El bus 24 no ha pasado", at=now))

    dry = post(client, f"{API}dry-run/", {**RULE, "days": 7})
    assert dry.status_code == 200, dry.content
    assert dry.json()["matched"] == 1 and dry.json()["per_team"] == [{"team": "Waste & cleaning", "count": 1}]
    assert not RoutingRule.objects.exists()

    created = post(client, API, {**RULE, "reason": "Residus campaign"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["version"] == 1 and body["created_by"] == "dave" and body["problems"] == []
    assert body["conditions"] == RULE["conditions"]

    deliver(sim_event(3, text=CATALAN))
    conversation = Conversation.objects.get(thread_key="mention:t3")
    assert conversation.team == team_b and conversation.priority == Conversation.Priority.HIGH

    listed = login(bob).get("/api/v1/conversations/").json()["results"]
    trace = next(c for c in listed if c["id"] == conversation.id)["routing_trace"]
    assert trace["tried"] == [[body["id"], 1, True]]
    assert trace["matches"][0]["name"] == "Residus (ca)"
    assert [c["result"] for c in trace["matches"][0]["conditions"]] == [True, True]
    assert trace["outcome"]["team_name"] == "Waste & cleaning"
    detail = login(bob).get(f"/api/v1/conversations/{conversation.id}/").json()
    assert detail["routing_trace"]["outcome"]["routed_by"] == "rule Residus (ca) v1"


@pytest.mark.parametrize(("change", "path"), [
    ({"conditions": {"all": [{"field": "language", "op": "in", "value": ["ca"]},
                             {"field": "text", "op": "contains_any"}]}}, "conditions.all[1].value"),
    ({"conditions": {"any": [{"field": "text", "op": "matches", "value": "(bus"}]}}, "conditions.any[0].value"),
    ({"conditions": {"any": [{"field": "text", "op": "matches", "value": "(a+)+$"}]}}, "conditions.any[0].value"),
    ({"actions": [{"type": "set_priority", "value": "asap"}]}, "actions[0].value"),
])
def test_malformed_rule_is_a_400_with_the_path(dave, change, path):
    response = post(login(dave), API, {**RULE, **change})
    assert response.status_code == 400
    assert list(response.json()) == [path]
    assert not RoutingRule.objects.exists()
    dry = post(login(dave), f"{API}dry-run/", {**RULE, **change})
    assert dry.status_code == 400 and list(dry.json()) == [path]


def test_admins_write_supervisors_read_officers_and_anonymous_nothing(dave, carol, alice, team_b):
    rule = post(login(dave), API, RULE).json()
    url = f"{API}{rule['id']}/"
    for user in (carol, alice, None):
        client = login(user) if user else Client()
        patched = client.patch(url, json.dumps({"name": "Hijacked"}), content_type="application/json")
        assert patched.status_code in (401, 403)
        assert post(client, API, RULE).status_code in (401, 403)
        assert client.delete(url).status_code in (401, 403)
        assert post(client, f"{API}{rule['id']}/move/", {"move": "up"}).status_code in (401, 403)
    assert login(carol).get(API).status_code == 200
    assert login(carol).get(f"{url}versions/").status_code == 200
    for user in (alice, None):
        assert (login(user) if user else Client()).get(API).status_code in (401, 403)
    assert RoutingRule.objects.get().name == "Residus (ca)" and RoutingRule.objects.get().version == 1


def test_update_versions_move_and_delete(dave, team_b):
    client = login(dave)
    first = post(client, API, RULE).json()
    second = post(client, API, {**RULE, "name": "Second", "position": 20}).json()
    url = f"{API}{first['id']}/"
    changed = committed(client.patch, url, json.dumps({"mode": "shadow", "reason": "try it first"}),
                        content_type="application/json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    versions = client.get(f"{url}versions/").json()
    assert [(v["number"], v["reason"], v["snapshot"]["mode"]) for v in versions] == [
        (2, "try it first", "shadow"), (1, "", "active")]

    moved = post(client, f"{API}{second['id']}/move/", {"move": "up"})
    assert moved.status_code == 200
    assert [r["name"] for r in client.get(API).json()] == ["Second", "Residus (ca)"]

    assert committed(client.delete, url).status_code == 204
    assert [r["name"] for r in client.get(API).json()] == ["Second"]
    assert RoutingRuleVersion.objects.filter(rule_id=first["id"], snapshot__deleted=True).exists()


def test_rule_naming_a_deleted_team_is_flagged(dave, team_b):
    post(login(dave), API, RULE)
    team_b.delete()
    rule = login(dave).get(API).json()[0]
    assert rule["problems"] == ["Team “waste” does not exist (any more): the action is skipped."]


def test_conversation_list_with_traces_has_no_n_plus_one(dave, team_b, sim_account, bob):
    post(login(dave), API, RULE)
    client = login(bob)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/conversations/")
        return len(ctx.captured_queries), len(response.json()["results"])

    deliver(sim_event(1, text=CATALAN))
    count()
    few = count()
    deliver(*(sim_event(10 + n, text=CATALAN, author=f"c{n}") for n in range(8)))
    many = count()
    assert (few[1], many[1]) == (1, 9)
    assert few[0] == many[0]


def test_openapi_schema_documents_the_rules_and_stays_clean(tmp_path):
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file",
         str(tmp_path / "schema.yml")],
        cwd=root, env={**os.environ, "DEBUG": "true"}, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    schema = (tmp_path / "schema.yml").read_text()
    for path in ("/api/v1/routing-rules/:", "/api/v1/routing-rules/dry-run/:", "/api/v1/routing-rules/{id}/move/:",
                 "/api/v1/routing-rules/{id}/versions/:", "routing_trace:"):
        assert path in schema
