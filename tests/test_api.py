"""The REST API under /api/v1/: the same visibility as the inbox, the same services, audited.

Conversations arrive through signed simulator webhooks, as in production. The standard
cast: alice (officer of team A), bob (officer of team B), carol (supervisor of both),
dave (admin), anonymous.
"""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.models import AuditEvent, ChannelAccount, Conversation, Message, Tag
from inbox.permissions import OFFICER, team_member_add
from inbox.services import conversation_note_add
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

API = "/api/v1"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def waste_account(db, team_b):
    return ChannelAccount.objects.create(
        platform="simulator", external_id="city-waste", name="Waste (simulated)", default_team=team_b
    )


def deliver(*events, account_id: str = "city-sim") -> None:
    response = post_sim(Client(), sim_body(list(events), account_id=account_id))
    assert response.status_code == 200, response.content


@pytest.fixture
def conv_a(sim_account, alice, bob, carol, dave, waste_account):
    """A public conversation of team A, assigned to alice by round robin."""
    deliver(sim_event(1, thread="a1", text="El bus 24 no ha pasado esta mañana"))
    conversation = Conversation.objects.get(thread_key="mention:a1")
    assert conversation.team.slug == "mobility" and conversation.assignee == alice
    return conversation


@pytest.fixture
def conv_b(conv_a, waste_account):
    deliver(sim_event(2, thread="b1", text="Contenedor lleno en la calle Mayor"), account_id="city-waste")
    return Conversation.objects.get(thread_key="mention:b1")


def snapshot() -> tuple:
    """Everything an action could change: conversations, tags, messages, audit trail."""
    return (
        list(Conversation.objects.order_by("id").values()),
        list(Conversation.tags.through.objects.order_by("id").values_list("conversation_id", "tag_id")),
        list(Message.objects.order_by("id").values("id", "text", "delivery_status")),
        AuditEvent.objects.count(),
    )


# --- Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/conversations/"),
        ("get", "/conversations/{id}/"),
        ("get", "/conversations/{id}/messages/"),
        ("get", "/conversations/{id}/reply-options/"),
        ("post", "/conversations/{id}/reply/"),
        ("post", "/conversations/{id}/notes/"),
        ("post", "/conversations/{id}/status/"),
        ("post", "/conversations/{id}/assign/"),
        ("get", "/teams/"),
        ("get", "/channel-accounts/"),
    ],
)
def test_anonymous_is_refused_everywhere_and_changes_nothing(conv_a, method, path):
    before = snapshot()
    response = getattr(Client(), method)(API + path.format(id=conv_a.id), data={}, content_type="application/json")

    assert response.status_code in (401, 403)
    assert snapshot() == before


def test_token_from_drf_create_token_authenticates(conv_a, alice):
    out = StringIO()
    call_command("drf_create_token", "alice", stdout=out)
    token = out.getvalue().split()[2]  # "Generated token <key> for user alice"

    response = Client().get(f"{API}/conversations/", headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [conv_a.id]

    forged = Client().get(f"{API}/conversations/", headers={"Authorization": "Token " + "0" * 40})
    # 403 rather than 401: SessionAuthentication comes first and sends no WWW-Authenticate.
    assert forged.status_code in (401, 403)
    assert forged.json()["detail"] == "Invalid token."


# --- Listing and filtering ---------------------------------------------------------------------


@pytest.mark.parametrize(("who", "sees"), [("alice", {"a"}), ("bob", {"b"}), ("carol", {"a", "b"}), ("dave", {"a", "b"})])
def test_list_shows_only_the_teams_a_user_may_see(conv_a, conv_b, request, who, sees):
    ids = {"a": conv_a.id, "b": conv_b.id}
    response = login(request.getfixturevalue(who)).get(f"{API}/conversations/")

    assert response.status_code == 200
    assert {c["id"] for c in response.json()["results"]} == {ids[k] for k in sees}


def test_list_row_carries_contact_team_assignee_tags_and_account(conv_a, alice):
    conv_a.tags.add(Tag.objects.create(name="Buses", slug="buses"))

    row = login(alice).get(f"{API}/conversations/").json()["results"][0]

    assert row["contact"]["handle"] == "h-citizen-1"
    assert row["team"] == {"id": conv_a.team_id, "name": "Mobility", "slug": "mobility"}
    assert row["assignee"]["username"] == "alice"
    assert [t["slug"] for t in row["tags"]] == ["buses"]
    assert row["account"]["platform"] == "simulator" and row["account"]["name"] == "City (simulated)"
    assert row["status"] == "new" and row["kind"] == "public"
    assert "credentials" not in str(row)


def _ids(client, query: str) -> set[int]:
    response = client.get(f"{API}/conversations/?{query}")
    assert response.status_code == 200, response.content
    return {c["id"] for c in response.json()["results"]}


@pytest.fixture
def three(conv_a, carol):
    """Three conversations of team A: alice's new public one, carol's resolved one, an unassigned DM."""
    deliver(sim_event(3, thread="a2", text="Otra queja"), sim_event(4, thread="a3", channel="dm", text="Un privado"))
    resolved = Conversation.objects.get(thread_key="mention:a2")
    resolved.status, resolved.assignee = Conversation.Status.RESOLVED, carol
    resolved.save()
    dm = Conversation.objects.get(thread_key="dm:a3")
    dm.assignee = None
    dm.save()
    return conv_a, resolved, dm


def test_filters_by_status_team_assignee_platform_and_kind(three, conv_b, alice, carol):
    mine, resolved, dm = three
    client = login(carol)

    assert _ids(client, "status=active") == {mine.id, dm.id, conv_b.id}
    assert _ids(client, "status=resolved") == {resolved.id}
    assert _ids(client, "team=mobility") == {mine.id, resolved.id, dm.id}
    assert _ids(client, f"team={conv_b.team_id}") == {conv_b.id}
    assert _ids(client, "assignee=me") == {resolved.id}
    assert _ids(client, "assignee=none") == {dm.id}
    assert _ids(client, f"assignee={alice.id}") == {mine.id}
    assert _ids(client, "kind=private") == {dm.id}
    assert _ids(client, "platform=simulator&team=waste") == {conv_b.id}
    assert _ids(client, "platform=x") == set()
    assert client.get(f"{API}/conversations/?status=bogus").status_code == 400


def test_filters_never_widen_what_a_user_sees(conv_a, conv_b, bob):
    client = login(bob)

    assert _ids(client, "team=mobility") == set()
    assert _ids(client, f"team={conv_a.team_id}") == set()
    assert _ids(client, "search=bus") == set()


def test_search_is_case_insensitive_over_inbound_outbound_and_subject_not_notes(conv_a, alice):
    deliver(sim_event(5, thread="a9", text="Farola rota en la plaza"))
    lamp = Conversation.objects.get(thread_key="mention:a9")
    committed(
        login(alice).post, f"{API}/conversations/{lamp.id}/reply/",
        data={"text": "Gracias, avisamos al equipo de ALUMBRADO", "option": "public"}, content_type="application/json",
    )
    conversation_note_add(conversation=conv_a, user=alice, text="secreto interno alumbrado")
    client = login(alice)

    assert _ids(client, "search=FAROLA") == {lamp.id}  # inbound text (and subject)
    assert _ids(client, "search=alumbrado") == {lamp.id}  # outbound only; the note is not searched
    assert _ids(client, "search=bus 24") == {conv_a.id}
    assert _ids(client, "search=nothing-like-this") == set()


def test_cursor_pagination_walks_every_row_once_newest_first(conv_a, alice):
    deliver(*(sim_event(10 + n, thread=f"p{n}") for n in range(5)))
    client = login(alice)
    seen, url = [], f"{API}/conversations/?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [c["id"] for c in page["results"]]
        url = page["next"]

    expected = list(
        Conversation.objects.filter(team=conv_a.team).order_by("-last_inbound_at", "-id").values_list("id", flat=True)
    )
    assert seen == expected and len(seen) == 6


def _list_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{API}/conversations/")
    assert response.status_code == 200
    return len(ctx.captured_queries), len(response.json()["results"])


def test_list_query_count_does_not_grow_with_rows(conv_a, alice):
    buses, urgent = Tag.objects.create(name="Buses", slug="buses"), Tag.objects.create(name="Urgent", slug="urgent")
    conv_a.tags.add(buses, urgent)
    client = login(alice)
    _list_queries(client)  # warm the process-wide content-type cache, as in a running server
    few, rows_few = _list_queries(client)

    deliver(*(sim_event(20 + n, thread=f"q{n}", author=f"citizen-{n}") for n in range(12)))
    for conversation in Conversation.objects.all():
        conversation.tags.add(buses, urgent)
    many, rows_many = _list_queries(client)

    assert (rows_few, rows_many) == (1, 13)
    assert many == few
    # session, user, user and group permissions, the user's teams (guardian), page, tags,
    # routing traces.
    assert many <= 8, many


def test_timeline_query_count_does_not_grow_with_messages(conv_a, alice):
    client = login(alice)

    def timeline_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{API}/conversations/{conv_a.id}/messages/")
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["results"])

    timeline_queries()  # warm the process-wide content-type cache
    few, rows_few = timeline_queries()
    deliver(*(sim_event(40 + n, thread="a1", author=f"citizen-{n}") for n in range(6)))
    deliver(sim_event(41, thread="a1", text="cambiado", type="edit"), sim_event(42, thread="a1", type="delete"))
    for n in range(3):
        conversation_note_add(conversation=conv_a, user=alice, text=f"nota {n}")
    many, rows_many = timeline_queries()

    assert (rows_few, rows_many) == (1, 10)
    assert many == few, (few, many)


# --- One conversation --------------------------------------------------------------------------


def test_detail_has_contact_team_assignee_account_and_times(conv_a, alice):
    data = login(alice).get(f"{API}/conversations/{conv_a.id}/").json()

    assert data["id"] == conv_a.id
    assert data["contact"]["name"] == "Citizen citizen-1"
    assert data["thread_key"] == "mention:a1"
    assert data["routed_by"]
    assert data["first_inbound_at"].startswith("2026-11-20T")
    assert data["account"]["platform_label"] == "Simulator"


def test_timeline_has_inbound_outbound_with_delivery_notes_and_revisions(conv_a, alice):
    client = login(alice)
    deliver(sim_event(1, thread="a1", text="El bus 24 no ha pasado (editado)", type="edit"))
    committed(
        client.post, f"{API}/conversations/{conv_a.id}/reply/",
        data={"text": "Lo revisamos", "option": "public"}, content_type="application/json",
    )
    client.post(f"{API}/conversations/{conv_a.id}/notes/", data={"text": "llamar a TMB"}, content_type="application/json")

    items = client.get(f"{API}/conversations/{conv_a.id}/messages/").json()["results"]

    assert [m["direction"] for m in items] == ["in", "out", "note"]
    inbound, outbound, note = items
    assert inbound["text"] == "El bus 24 no ha pasado (editado)"
    assert [(r["action"], r["previous_text"]) for r in inbound["revisions"]] == [
        ("edit", "El bus 24 no ha pasado esta mañana")
    ]
    assert outbound["delivery_status"] == "sent" and outbound["author_user"]["username"] == "alice"
    assert note["visibility"] == "internal" and note["text"] == "llamar a TMB"


# --- Acting on a conversation ------------------------------------------------------------------


def test_reply_options_list_what_the_channel_allows(conv_a, alice):
    options = login(alice).get(f"{API}/conversations/{conv_a.id}/reply-options/").json()

    assert [(o["key"], o["available"]) for o in options] == [("public", True), ("private", True)]


def test_reply_is_queued_then_sent_and_audited(conv_a, alice):
    response = committed(
        login(alice).post, f"{API}/conversations/{conv_a.id}/reply/",
        data={"text": "  Gracias, lo revisamos.  ", "option": "public"}, content_type="application/json",
    )

    assert response.status_code == 201
    assert response.json()["delivery_status"] == "queued"
    assert response.json()["text"] == "Gracias, lo revisamos."
    message = Message.objects.get(id=response.json()["id"])
    assert message.delivery_status == Message.Delivery.SENT  # the send task ran after commit
    assert message.visibility == "public" and message.author_user == alice
    assert AuditEvent.objects.filter(verb="message.reply", actor=alice, target_id=str(conv_a.id)).exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"text": "x" * 2001, "option": "public"}, "limit is 2000"),
        ({"text": "Hola", "option": "carrier-pigeon"}, "no 'carrier-pigeon' reply"),
        ({"text": "   ", "option": "public"}, "empty"),
    ],
)
def test_reply_the_platform_would_refuse_is_a_422_and_stores_nothing(conv_a, alice, body, reason):
    before = snapshot()
    response = login(alice).post(f"{API}/conversations/{conv_a.id}/reply/", data=body, content_type="application/json")

    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert snapshot() == before


def test_reply_through_a_disconnected_account_says_why(conv_a, alice, sim_account):
    ChannelAccount.objects.filter(id=sim_account.id).update(status=ChannelAccount.Status.NEEDS_RECONNECT)
    before = snapshot()

    response = login(alice).post(
        f"{API}/conversations/{conv_a.id}/reply/", data={"text": "Hola", "option": "public"}, content_type="application/json"
    )

    assert response.status_code == 422
    assert "reconnect" in response.json()["detail"]
    assert snapshot() == before


def test_reply_without_option_is_a_400(conv_a, alice):
    response = login(alice).post(f"{API}/conversations/{conv_a.id}/reply/", data={"text": "Hola"}, content_type="application/json")

    assert response.status_code == 400
    assert "option" in response.json()


@pytest.fixture
def erin(conv_a, django_user_model, team_a):
    """A second officer of team A, added after conv_a was assigned to alice."""
    user = django_user_model.objects.create_user(username="erin", first_name="Erin", last_name="Vidal")
    team_member_add(team_a, user, OFFICER)
    return user


def reply_as(user, conversation, **body):
    return committed(
        login(user).post, f"{API}/conversations/{conversation.id}/reply/",
        data={"option": "public", **body}, content_type="application/json",
    )


def test_reply_written_before_newer_messages_is_a_409_listing_them_and_stores_nothing(conv_a, alice, erin):
    seen = conv_a.messages.get().id
    answered = reply_as(alice, conv_a, text="Ho revisem avui.", last_seen_message_id=seen)
    assert answered.status_code == 201
    deliver(sim_event(7, thread="a1", text="Gràcies! I el 22?", at=timezone.now()))  # the citizen again
    conversation_note_add(conversation=conv_a, user=alice, text="TMB confirma l'avaria")  # not an answer
    before = snapshot()

    response = reply_as(erin, conv_a, text="Ja ho mirem.", last_seen_message_id=seen, client_token="erin-1")

    assert response.status_code == 409
    body = response.json()
    newer = body["newer_messages"]
    assert [(m["direction"], m["author"], m["text"]) for m in newer] == [
        ("out", "alice", "Ho revisem avui."),
        ("in", "Citizen citizen-1", "Gràcies! I el 22?"),
    ]
    assert newer[0]["id"] == answered.json()["id"] and newer[0]["delivery_status"] == "sent"
    assert newer[0]["author_user"]["username"] == "alice" and newer[1]["author_user"] is None
    assert newer[1]["delivery_status"] == "" and newer[0]["sent_at"] and newer[0]["kind"] == "reply"
    assert body["last_message_id"] == max(m["id"] for m in newer)
    assert body["detail"] == "Not sent: 2 messages arrived or were sent after the last one you saw."
    assert snapshot() == before  # nothing queued, nothing audited, the conversation untouched

    confirmed = reply_as(erin, conv_a, text="Ja ho mirem.", last_seen_message_id=body["last_message_id"],
                         client_token="erin-1")

    assert confirmed.status_code == 201
    assert list(conv_a.messages.filter(direction="out").order_by("id").values_list("author_user__username", flat=True)) \
        == ["alice", "erin"]


def test_a_colleagues_note_does_not_stop_a_reply(conv_a, alice, erin):
    seen = conv_a.messages.get().id
    conversation_note_add(conversation=conv_a, user=erin, text="Ja l'agafo jo? — no, tota teva")

    assert reply_as(alice, conv_a, text="Ho revisem avui.", last_seen_message_id=seen).status_code == 201


def test_reply_without_last_seen_is_not_checked_and_a_retry_of_a_sent_reply_is_no_collision(conv_a, alice, erin):
    seen = conv_a.messages.get().id
    assert reply_as(erin, conv_a, text="Primer.").status_code == 201  # older clients: no check
    first = reply_as(alice, conv_a, text="Segon.", last_seen_message_id=seen, client_token="t-1")
    assert first.status_code == 409

    seen = first.json()["last_message_id"]
    sent = reply_as(alice, conv_a, text="Segon.", last_seen_message_id=seen, client_token="t-1")
    retried = reply_as(alice, conv_a, text="Segon.", last_seen_message_id=seen, client_token="t-1")

    assert sent.status_code == retried.status_code == 201
    assert retried.json()["id"] == sent.json()["id"]  # the retry returns the reply, not a 409 about itself
    assert conv_a.messages.filter(direction="out").count() == 2


def test_last_seen_message_of_another_conversation_is_a_400(conv_a, conv_b, alice):
    before = snapshot()
    other = conv_b.messages.get().id

    response = reply_as(alice, conv_a, text="Hola", last_seen_message_id=other)

    assert response.status_code == 400
    assert "last_seen_message_id" in response.json()
    assert snapshot() == before


def test_officer_of_another_team_learns_nothing_from_last_seen(conv_a, bob, carol):
    seen = conv_a.messages.get().id
    assert reply_as(bob, conv_a, text="Hola", last_seen_message_id=seen).status_code == 404


def test_note_is_internal_and_audited(conv_a, alice):
    response = login(alice).post(
        f"{API}/conversations/{conv_a.id}/notes/", data={"text": "<b>ojo</b>"}, content_type="application/json"
    )

    assert response.status_code == 201
    note = Message.objects.get(id=response.json()["id"])
    assert (note.direction, note.visibility, note.text) == ("note", "internal", "<b>ojo</b>")
    assert AuditEvent.objects.filter(verb="conversation.note", actor=alice).exists()


def test_status_change_is_audited(conv_a, alice):
    response = login(alice).post(
        f"{API}/conversations/{conv_a.id}/status/", data={"status": "resolved"}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "resolved" and response.json()["resolved_at"]
    conv_a.refresh_from_db()
    assert conv_a.status == Conversation.Status.RESOLVED
    event = AuditEvent.objects.get(verb="conversation.status")
    assert (event.actor, event.data) == (alice, {"previous": "new", "status": "resolved"})


def test_unknown_status_is_a_400(conv_a, alice):
    before = snapshot()
    response = login(alice).post(
        f"{API}/conversations/{conv_a.id}/status/", data={"status": "deleted"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert snapshot() == before


def test_supervisor_assigns_to_an_officer_of_the_team(conv_a, carol, alice):
    conv_a.assignee = None
    conv_a.save()

    response = login(carol).post(
        f"{API}/conversations/{conv_a.id}/assign/", data={"assignee": alice.id}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["assignee"]["username"] == "alice"
    conv_a.refresh_from_db()
    assert conv_a.assignee == alice
    event = AuditEvent.objects.get(verb="conversation.assign", actor=carol)
    assert event.data["assignee"] == alice.id


def test_supervisor_moves_a_conversation_to_another_team_they_supervise(conv_a, carol, bob, team_b):
    response = login(carol).post(
        f"{API}/conversations/{conv_a.id}/assign/", data={"assignee": bob.id, "team": team_b.id},
        content_type="application/json",
    )

    assert response.status_code == 200
    conv_a.refresh_from_db()
    assert (conv_a.team, conv_a.assignee) == (team_b, bob)


def test_cannot_assign_to_someone_outside_the_team(conv_a, carol, bob):
    before = snapshot()
    response = login(carol).post(
        f"{API}/conversations/{conv_a.id}/assign/", data={"assignee": bob.id}, content_type="application/json"
    )

    assert response.status_code == 400
    assert "not an officer of Mobility" in response.json()["assignee"][0]
    assert snapshot() == before


def test_officer_cannot_assign_even_in_their_own_team(conv_a, alice, carol):
    before = snapshot()
    response = login(alice).post(
        f"{API}/conversations/{conv_a.id}/assign/", data={"assignee": carol.id}, content_type="application/json"
    )

    assert response.status_code == 403
    assert "supervisor" in response.json()["detail"]
    assert snapshot() == before


# --- Another team's conversation does not exist ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/conversations/{id}/", None),
        ("get", "/conversations/{id}/messages/", None),
        ("get", "/conversations/{id}/reply-options/", None),
        ("post", "/conversations/{id}/reply/", {"text": "Hola", "option": "public"}),
        ("post", "/conversations/{id}/notes/", {"text": "nota"}),
        ("post", "/conversations/{id}/status/", {"status": "resolved"}),
        ("post", "/conversations/{id}/assign/", {"assignee": None}),
    ],
)
def test_other_teams_conversation_is_a_404_and_nothing_changes(conv_a, bob, method, path, body):
    client = login(bob)
    before = snapshot()
    url = API + path.format(id=conv_a.id)

    response = committed(client.get, url) if method == "get" else committed(
        client.post, url, data=body, content_type="application/json"
    )

    assert response.status_code == 404
    assert snapshot() == before


def test_other_teams_conversation_is_not_listed_for_bob(conv_a, bob):
    assert _ids(login(bob), "") == set()
    assert _ids(login(bob), "status=new") == set()


# --- Teams and channel accounts ----------------------------------------------------------------


def test_teams_lists_the_users_teams_with_what_they_may_do(conv_a, alice, carol):
    mine = login(alice).get(f"{API}/teams/").json()["results"]
    supervised = login(carol).get(f"{API}/teams/").json()["results"]

    assert [(t["slug"], t["can_reply"], t["can_supervise"]) for t in mine] == [("mobility", True, False)]
    assert [(t["slug"], t["can_supervise"]) for t in supervised] == [("mobility", True), ("waste", True)]


def test_channel_accounts_are_for_admins_and_supervisors_and_never_show_credentials(conv_a, sim_account, alice, carol, dave):
    sim_account.credentials = {"access_token": "very-secret-token-123"}
    sim_account.save()

    assert login(alice).get(f"{API}/channel-accounts/").status_code == 403
    for user in (carol, dave):
        response = login(user).get(f"{API}/channel-accounts/")
        assert response.status_code == 200
        rows = {row["external_id"]: row for row in response.json()["results"]}
        assert rows["city-sim"]["has_credentials"] is True
        assert rows["city-waste"]["has_credentials"] is False
        assert "very-secret-token-123" not in response.content.decode()
        assert "credentials" not in rows["city-sim"] and "cursors" not in rows["city-sim"]


# --- The OpenAPI schema ------------------------------------------------------------------------


def test_openapi_schema_validates_without_warnings(tmp_path):
    env = {**os.environ, "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )

    assert result.returncode == 0, result.stderr
    schema = yaml.safe_load((tmp_path / "schema.yml").read_text())
    assert "/api/v1/conversations/{id}/reply/" in schema["paths"]
    reply = schema["paths"]["/api/v1/conversations/{id}/reply/"]["post"]
    assert "409" in reply["responses"]
    assert "last_seen_message_id" in schema["components"]["schemas"]["ReplyInput"]["properties"]
    collision = schema["components"]["schemas"]["ReplyCollision"]["properties"]
    assert {"detail", "last_message_id", "newer_messages"} <= collision.keys()
    account = schema["components"]["schemas"]["ChannelAccount"]["properties"]
    assert "has_credentials" in account and "credentials" not in account


def test_api_docs_are_served_without_internet(alice):
    page = login(alice).get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr.net" not in page
    assert Client().get("/api/schema/").status_code in (401, 403)  # the schema is for signed-in users
