"""Connecting a Page (admins only) and hiding a comment (officers of the team), audited."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from django.db import connection
from django.test import Client

from channels_adapters.meta.tests.conftest import (
    GRAPH,
    IG_ID,
    PAGE_ID,
    TOKEN,
    committed,
    deliver,
    fixture_bytes,
    fixture_json,
    login,
    post_meta,
)
from inbox.models import AuditEvent, ChannelAccount, Message

pytestmark = pytest.mark.django_db

APP_ID = "1517776481860111"
MARTA_COMMENT = "1029384756473829_1203948576012345"


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


@pytest.fixture
def meta_app(settings, graph):
    settings.META_APP_ID = APP_ID
    graph.get(f"{GRAPH}/me", json=fixture_json("page_me__with_instagram.json"))
    graph.post(f"{GRAPH}/{PAGE_ID}/subscribed_apps", json={"success": True})
    graph.post(f"{GRAPH}/{APP_ID}/subscriptions", json={"success": True})
    for path in (f"{PAGE_ID}/posts", f"{PAGE_ID}/conversations", f"{IG_ID}/media"):
        graph.get(f"{GRAPH}/{path}", json={"data": []})
    return graph


# --- connecting ------------------------------------------------------------------------------


def test_admin_connects_a_page_and_its_instagram_account(dave, team_a, meta_app):
    response = committed(login(dave).post, "/channels/meta/connect/",
                         {"page_access_token": f"  {TOKEN} ", "default_team": team_a.id})

    assert response.status_code == 302
    page = ChannelAccount.objects.get(platform="facebook")
    ig = ChannelAccount.objects.get(platform="instagram")
    assert (page.external_id, page.name, page.default_team) == (PAGE_ID, "Ajuntament de Vilanova", team_a)
    assert page.credentials == {"page_access_token": TOKEN}
    assert ig.external_id == IG_ID and ig.credentials == {"page_access_token": TOKEN, "page_id": PAGE_ID}
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount")
        assert all(TOKEN not in row[0] for row in cursor.fetchall())  # encrypted at rest
    subscribe = next(c for c in meta_app.calls if c.request.url.startswith(f"{GRAPH}/{PAGE_ID}/subscribed_apps"))
    assert form(subscribe)["subscribed_fields"] == "feed,messages,message_echoes,message_edits"
    app = next(c for c in meta_app.calls if c.request.url.startswith(f"{GRAPH}/{APP_ID}/subscriptions"))
    assert form(app)["object"] == "instagram" and form(app)["fields"] == "comments,mentions,messages"
    assert form(app)["callback_url"].endswith("/webhooks/meta/")
    # The first backfill ran for both accounts once the connection was committed.
    assert any(f"/{PAGE_ID}/posts" in c.request.url for c in meta_app.calls)
    assert any(f"/{IG_ID}/media" in c.request.url for c in meta_app.calls)
    assert set(AuditEvent.objects.values_list("verb", flat=True)) == {"channel_account.connect"}


def test_reconnecting_replaces_the_token_and_reactivates(dave, meta_app, page):
    ChannelAccount.objects.filter(id=page.id).update(status=ChannelAccount.Status.NEEDS_RECONNECT, last_error="190")

    committed(login(dave).post, "/channels/meta/connect/", {"page_access_token": "EAAGnewLongLivedToken"})

    page.refresh_from_db()
    assert page.status == ChannelAccount.Status.ACTIVE and page.last_error == ""
    assert page.credentials == {"page_access_token": "EAAGnewLongLivedToken"}
    assert ChannelAccount.objects.filter(platform="facebook").count() == 1


def test_invalid_token_connects_nothing(dave, graph):
    graph.get(f"{GRAPH}/me", json=fixture_json("graph_error__token_expired.json"), status=400)

    response = login(dave).post("/channels/meta/connect/", {"page_access_token": "EAAGexpired"})

    assert response.status_code == 400
    assert b"Session has expired" in response.content
    assert not ChannelAccount.objects.exists() and not AuditEvent.objects.exists()


def test_only_admins_may_connect(alice, carol, graph):
    for user in (alice, carol):
        assert login(user).get("/channels/meta/connect/").status_code == 403
        assert login(user).post("/channels/meta/connect/", {"page_access_token": TOKEN}).status_code == 403
    response = Client().post("/channels/meta/connect/", {"page_access_token": TOKEN})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not graph.calls and not ChannelAccount.objects.exists()


def test_admin_sees_the_connect_form(dave):
    response = login(dave).get("/channels/meta/connect/")

    assert response.status_code == 200
    assert b'name="page_access_token"' in response.content


# --- hiding a comment ------------------------------------------------------------------------


@pytest.fixture
def comment(page):
    deliver("feed_comment__add.json")
    return Message.objects.get(external_id=MARTA_COMMENT)


def test_officer_hides_a_comment_with_a_reason(comment, alice, graph):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}", json={"success": True})

    response = login(alice).post(f"/channels/meta/messages/{comment.id}/hide/",
                                 {"reason": "Personal data of a third person"})

    assert response.status_code == 302
    assert response["Location"] == f"/inbox/c/{comment.conversation_id}/"
    assert form(graph.calls[0])["is_hidden"] == "true"
    comment.refresh_from_db()
    assert comment.hidden_at is not None
    assert comment.text.startswith("Fa tres dies")  # kept, only hidden on Facebook
    assert comment.revisions.get().action == "hide"
    audit = AuditEvent.objects.get(verb="message.hide")
    assert audit.actor == alice and audit.data["reason"] == "Personal data of a third person"


def test_a_later_hide_webhook_adds_no_second_revision(comment, alice, graph):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}", json={"success": True})
    login(alice).post(f"/channels/meta/messages/{comment.id}/hide/", {"reason": "Insults"})

    deliver("feed_comment__hide.json")

    assert comment.revisions.count() == 1


def test_instagram_comment_is_hidden_with_instagrams_parameter(instagram, alice, graph):
    deliver("ig_comments__add.json")
    message = Message.objects.get()
    graph.post(f"{GRAPH}/17890123456789012", json={"success": True})

    login(alice).post(f"/channels/meta/messages/{message.id}/hide/", {"reason": "Spam link"})

    assert form(graph.calls[0])["hide"] == "true"
    message.refresh_from_db()
    assert message.hidden_at is not None


def test_hiding_needs_a_reason(comment, alice, graph):
    response = login(alice).post(f"/channels/meta/messages/{comment.id}/hide/", {"reason": "  "})

    assert response.status_code == 400
    assert not graph.calls
    comment.refresh_from_db()
    assert comment.hidden_at is None and not AuditEvent.objects.filter(verb="message.hide").exists()


def test_other_teams_officer_gets_a_404_and_nothing_changes(comment, bob, graph):
    for method in ("get", "post"):
        response = getattr(login(bob), method)(f"/channels/meta/messages/{comment.id}/hide/", {"reason": "x"})
        assert response.status_code == 404
    assert Client().post(f"/channels/meta/messages/{comment.id}/hide/", {"reason": "x"}).status_code == 302
    assert not graph.calls
    comment.refresh_from_db()
    assert comment.hidden_at is None and not AuditEvent.objects.filter(verb="message.hide").exists()


def test_meta_refusal_is_shown_and_nothing_is_recorded(comment, alice, graph):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}", json=fixture_json("graph_error__bad_parameter.json"), status=400)

    response = login(alice).post(f"/channels/meta/messages/{comment.id}/hide/", {"reason": "Insults"})

    assert response.status_code == 400
    assert b"does not exist" in response.content
    comment.refresh_from_db()
    assert comment.hidden_at is None and not comment.revisions.exists()


def test_hide_page_escapes_the_citizens_text(page, alice):
    body = fixture_bytes("feed_comment__add.json").replace(
        b"Fa una pudor horrible.", b"<script>alert(1)</script>"
    )
    assert post_meta(Client(), body).status_code == 200
    message = Message.objects.get()

    response = login(alice).get(f"/channels/meta/messages/{message.id}/hide/")

    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def test_conversation_page_offers_hiding_a_comment_to_who_may_answer(comment, alice, carol, graph):
    hide_url = f"/channels/meta/messages/{comment.id}/hide/?next=%2Finbox%2Fc%2F{comment.conversation_id}%2F"
    page = login(alice).get(f"/inbox/c/{comment.conversation_id}/").content.decode()
    assert "Hide comment" in page and hide_url.replace("&", "&amp;") in page

    graph.post(f"{GRAPH}/{MARTA_COMMENT}", json={"success": True})
    login(alice).post(f"/channels/meta/messages/{comment.id}/hide/", {"reason": "Insults"})

    assert "Hide comment" not in login(alice).get(f"/inbox/c/{comment.conversation_id}/").content.decode()


def test_admins_find_the_connect_pages_in_the_navigation(dave, alice):
    assert 'href="/channels/meta/connect/"' in login(dave).get("/inbox/").content.decode()
    assert 'href="/channels/x/"' in login(dave).get("/inbox/").content.decode()
    assert "/channels/meta/connect/" not in login(alice).get("/inbox/").content.decode()


def test_a_simulated_page_hides_without_calling_meta(comment, alice, graph):
    ChannelAccount.objects.filter(id=comment.account_id).update(simulated=True)

    response = login(alice).post(f"/channels/meta/messages/{comment.id}/hide/", {"reason": "Demo"})

    assert response.status_code == 302 and len(graph.calls) == 0
    comment.refresh_from_db()
    assert comment.hidden_at is not None
