"""The reply library (docs/library.md): versions per language and their fallback, variables
filled in on insert and unknown ones refused, who manages which replies, usage counted when a
reply is sent, the composer's search, the API and the data migration from "same title"."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox.models import (
    AuditEvent,
    AutoReplySetting,
    Conversation,
    Message,
    SavedReply,
    SavedReplyVersion,
)
from inbox.services.library import (
    VersionInput,
    saved_reply_render,
    saved_reply_save,
    saved_reply_text,
    variables_unknown,
)
from routing.models import ServiceCalendar
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(sim_account, alice):
    event = sim_event(1, author="citizen-7")
    event["from"].update(name="Núria Vidal", handle="nuriav")
    post_sim(Client(), sim_body([event]))
    return Conversation.objects.select_related("account", "contact", "team").get()


@pytest.fixture
def thanks(team_a):
    reply = SavedReply.objects.create(
        title="Thanks", body="Thank you {citizen_name}, {officer_first_name} from {team} here.", language="en",
        kind=SavedReply.Kind.ACKNOWLEDGEMENT, team=team_a,
    )
    reply.versions.create(language="ca", body="Gràcies {citizen_name}! Soc {officer_first_name}, de {team}.")
    reply.versions.create(language="es", body="¡Gracias {citizen_name}!")
    return reply


# --- Versions and fallback ------------------------------------------------------------------


def test_the_version_in_the_conversation_language_is_proposed(thanks):
    assert saved_reply_text(thanks, ["ca", "es"]).body.startswith("Gràcies")
    assert saved_reply_text(thanks, ["ca-ES"]).language == "ca"


def test_without_a_version_in_its_language_the_account_default_then_the_main_text(thanks):
    assert saved_reply_text(thanks, ["fr", "es"]).body == "¡Gracias {citizen_name}!"
    assert saved_reply_text(thanks, ["fr", "pl"]).body.startswith("Thank you")
    assert saved_reply_text(thanks, ["", ""]).version_id is None


def test_composer_text_falls_back_to_the_account_default_language(conversation, thanks, alice):
    Conversation.objects.filter(pk=conversation.pk).update(language="fr")
    conversation.account.default_language = "es"
    conversation.account.save(update_fields=["default_language"])
    data = login(alice).get(reverse("inbox:composer-saved-text", args=[conversation.id, thanks.id])).json()
    assert data == {"id": thanks.id, "kind": "acknowledgement", "language": "es", "text": "¡Gracias Núria Vidal!"}


# --- Variables ------------------------------------------------------------------------------


def test_variables_are_filled_on_insert_and_escaped_by_whoever_shows_them(conversation, thanks, alice):
    alice.first_name = "Alícia"
    alice.save(update_fields=["first_name"])
    Conversation.objects.filter(pk=conversation.pk).update(language="ca")
    response = login(alice).get(reverse("inbox:composer-saved-text", args=[conversation.id, thanks.id]))
    assert response["Content-Type"] == "application/json"
    assert response.json()["text"] == "Gràcies Núria Vidal! Soc Alícia, de Mobility."


def test_service_hours_come_from_the_account_calendar_in_the_reply_language(conversation, team_a, alice):
    calendar = ServiceCalendar.objects.create(name="Office", timezone="Europe/Madrid", periods=[
        *({"weekday": d, "opens": "08:00", "closes": "20:00"} for d in range(5)),
        {"weekday": 5, "opens": "09:00", "closes": "14:00"},
    ])
    conversation.account.calendar = calendar
    conversation.account.save(update_fields=["calendar"])
    hours = SavedReply.objects.create(title="Hours", body="We answer {service_hours}.", language="en", team=team_a)
    hours.versions.create(language="ca", body="Atenem {service_hours}.")
    client = login(alice)
    text = client.get(reverse("inbox:composer-saved-text", args=[conversation.id, hours.id])).json()["text"]
    assert text == "We answer Mon–Fri 08:00–20:00; Sat 09:00–14:00."
    Conversation.objects.filter(pk=conversation.pk).update(language="ca")
    text = client.get(reverse("inbox:composer-saved-text", args=[conversation.id, hours.id])).json()["text"]
    assert text == "Atenem dl.–dv. 08:00–20:00; ds. 09:00–14:00."


def test_an_unknown_variable_is_refused_on_save_with_its_name(dave, team_a):
    with pytest.raises(ValidationError) as refused:
        saved_reply_save(dave, title="Hi", body="Hola {citizen_name}", kind="other", team=team_a,
                         versions=[VersionInput("es", "Hola {nombre} y {citizen}")])
    assert "{nombre}, {citizen}" in refused.value.messages[0] and "{citizen_name}" in refused.value.messages[0]
    assert not SavedReply.objects.exists()
    assert variables_unknown("{citizen_name} {next_opening} {Citizen Name}") == ["Citizen Name"]


def test_the_library_form_shows_the_refusal(dave, team_a):
    response = login(dave).post(reverse("inbox:library-new"), {
        "title": "Hola", "kind": "other", "team": team_a.id, "language": "ca", "body": "Hola {nom}",
        "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
    })
    assert response.status_code == 400
    assert "Unknown variable(s): {nom}" in response.content.decode()
    assert not SavedReply.objects.exists()


def test_render_leaves_other_braces_and_fills_missing_values_with_nothing():
    assert saved_reply_render("{citizen_name}: {x} {team}", {"citizen_name": "<b>Ana</b>"}) == "<b>Ana</b>: {x} "


# --- Scope and permissions ------------------------------------------------------------------


def test_supervisors_manage_their_teams_replies_only(carol, team_a, dave):
    # carol supervises both teams; a supervisor of team A alone may not touch team B's.
    shared = saved_reply_save(dave, title="Everyone", body="Hi", kind="other", team=None)
    with pytest.raises(PermissionDenied):
        saved_reply_save(carol, title="Global", body="Hi", kind="other", team=None)
    with pytest.raises(PermissionDenied):
        saved_reply_save(carol, saved_reply=shared, title="Mine now", body="Hi", kind="other", team=team_a)
    mine = saved_reply_save(carol, title="Buses", body="Hi", kind="signposting", team=team_a,
                            versions=[VersionInput("ca", "Hola")])
    assert mine.versions.get().body == "Hola"
    assert AuditEvent.objects.filter(verb="saved_reply.create", actor=carol, target_id=str(mine.pk)).exists()


def test_another_teams_reply_is_a_404_and_officers_cannot_manage(django_user_model, team_a, team_b, alice):
    from inbox.permissions import SUPERVISOR, team_member_add

    sam = django_user_model.objects.create_user(username="sam", password="x")
    team_member_add(team_a, sam, SUPERVISOR)
    other = SavedReply.objects.create(title="Waste", body="Contenidors", team=team_b)
    client = login(sam)
    assert client.get(reverse("inbox:library-edit", args=[other.id])).status_code == 404
    assert client.post(reverse("inbox:library-delete", args=[other.id])).status_code == 404
    assert "Waste" not in client.get(reverse("inbox:library")).content.decode()
    assert login(alice).get(reverse("inbox:library")).status_code == 403
    assert SavedReply.objects.filter(pk=other.pk).exists()


def test_admin_creates_edits_with_versions_and_deletes_in_the_ui(dave, team_a):
    client = login(dave)
    response = client.post(reverse("inbox:library-new"), {
        "title": "Bus 24", "kind": "holding", "team": "", "language": "en", "body": "We are looking into it, {citizen_name}.",
        "versions-TOTAL_FORMS": "2", "versions-INITIAL_FORMS": "0",
        "versions-0-language": "ca", "versions-0-body": "Ho estem mirant, {citizen_name}.",
        "versions-1-language": "", "versions-1-body": "",
    })
    assert response.status_code == 302
    reply = SavedReply.objects.get()
    assert (reply.team, reply.kind, [v.language for v in reply.versions.all()]) == (None, "holding", ["ca"])
    response = client.post(reverse("inbox:library-edit", args=[reply.id]), {
        "title": "Bus 24", "kind": "holding", "team": team_a.id, "language": "en", "body": "Looking into it.",
        "versions-TOTAL_FORMS": "2", "versions-INITIAL_FORMS": "1",
        "versions-0-language": "es", "versions-0-body": "Lo estamos mirando.",
        "versions-1-language": "", "versions-1-body": "",
    })
    assert response.status_code == 302
    reply.refresh_from_db()
    assert reply.team == team_a and [(v.language, v.body) for v in reply.versions.all()] == [("es", "Lo estamos mirando.")]
    page = client.get(reverse("inbox:library"), {"kind": "holding", "language": "es", "team": team_a.id})
    assert "Bus 24" in page.content.decode()
    assert "Bus 24" not in client.get(reverse("inbox:library"), {"language": "ca"}).content.decode()
    assert client.post(reverse("inbox:library-delete", args=[reply.id])).status_code == 302
    assert not SavedReply.objects.exists() and not SavedReplyVersion.objects.exists()
    verbs = list(AuditEvent.objects.filter(target_type="inbox.savedreply").values_list("verb", flat=True))
    assert sorted(verbs) == ["saved_reply.create", "saved_reply.delete", "saved_reply.update"]


def test_the_composer_offers_only_the_team_s_and_shared_replies(conversation, thanks, team_b, alice, bob):
    SavedReply.objects.create(title="Thanks everyone", body="Thanks")
    SavedReply.objects.create(title="Thanks waste", body="Thanks", team=team_b)
    client = login(alice)
    html = client.get(reverse("inbox:composer-saved-search", args=[conversation.id]), {"q": "thanks"}).content.decode()
    assert html.count('role="option"') == 2 and "Thanks waste" not in html
    other = SavedReply.objects.get(title="Thanks waste")
    assert client.get(reverse("inbox:composer-saved-text", args=[conversation.id, other.id])).status_code == 404
    # Another team's officer does not see the conversation at all.
    assert login(bob).get(reverse("inbox:composer-saved-search", args=[conversation.id])).status_code == 404


def test_search_matches_any_version_and_escapes(conversation, team_a, alice):
    SavedReply.objects.create(title="<script>x</script>", body="Hello", team=team_a).versions.create(
        language="ca", body="Contenidors plens")
    html = login(alice).get(reverse("inbox:composer-saved-search", args=[conversation.id]), {"q": "contenidors"}).content.decode()
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_search_costs_the_same_queries_for_one_or_many_replies(conversation, team_a, alice):
    client = login(alice)
    url = reverse("inbox:composer-saved-search", args=[conversation.id])
    SavedReply.objects.create(title="Reply 0", body="x", team=team_a).versions.create(language="ca", body="y")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for i in range(1, 10):
        SavedReply.objects.create(title=f"Reply {i}", body="x", team=team_a).versions.create(language="ca", body="y")
    with CaptureQueriesContext(connection) as ten:
        client.get(url)
    assert len(one) == len(ten)


# --- Usage ----------------------------------------------------------------------------------


def test_usage_is_counted_once_when_a_reply_that_used_it_is_sent(conversation, thanks, alice):
    client = login(alice)
    for i in range(2):
        response = committed(client.post, reverse("inbox:reply", args=[conversation.id]), {
            "text": f"Gràcies {i}", "option": "public", "saved_reply": thanks.id,
            "client_token": f"tok-{i}",
        })
        assert response.status_code == 302
    committed(client.post, reverse("inbox:reply", args=[conversation.id]),
              {"text": "Without it", "option": "public", "client_token": "tok-x"})
    assert Message.objects.filter(saved_reply=thanks, delivery_status=Message.Delivery.SENT).count() == 2
    thanks.refresh_from_db()
    assert thanks.usage_count == 2 and thanks.last_used_at is not None
    page = login(client_user := alice).get(reverse("inbox:composer-saved-search", args=[conversation.id]))
    assert client_user and page.status_code == 200


def test_the_library_list_shows_usage(dave, thanks):
    SavedReply.objects.filter(pk=thanks.pk).update(usage_count=7)
    html = login(dave).get(reverse("inbox:library")).content.decode()
    row = html.split(f'data-saved-reply="{thanks.id}"')[1].split("</tr>")[0]
    assert '<td class="num">7' in row and "CA" in row and "ES" in row


# --- API ------------------------------------------------------------------------------------


def test_api_lists_with_versions_and_writes_through_the_same_rules(thanks, team_b, alice, carol, dave):
    data = login(alice).get("/api/v1/saved-replies/").json()
    assert [r["title"] for r in data["results"]] == ["Thanks"]
    assert {v["language"] for v in data["results"][0]["versions"]} == {"ca", "es"}
    created = login(carol).post("/api/v1/saved-replies/", {
        "title": "Residus", "body": "Hola {citizen_name}", "kind": "signposting", "team": team_b.id,
        "language": "ca", "versions": [{"language": "es", "body": "Hola {citizen_name}"}],
    }, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["versions"] == [{"language": "es", "body": "Hola {citizen_name}"}]
    refused = login(carol).post("/api/v1/saved-replies/", {"title": "X", "body": "{oops}", "kind": "other",
                                                           "team": team_b.id}, content_type="application/json")
    assert refused.status_code == 400 and "{oops}" in str(refused.json())
    assert login(carol).post("/api/v1/saved-replies/", {"title": "G", "body": "x", "kind": "other"},
                             content_type="application/json").status_code == 403
    assert login(alice).delete(f"/api/v1/saved-replies/{thanks.id}/").status_code == 403
    assert SavedReply.objects.filter(pk=thanks.pk).exists()
    schema = login(dave).get("/api/schema/").content.decode()
    assert "/api/v1/saved-replies/" in schema and "SavedReplyVersion" in schema


# --- Automatic replies and the data migration -------------------------------------------------


def test_automatic_replies_use_the_account_default_language_and_fill_variables(conversation, alice):
    from routing.autoreply import autoreply_queue

    ack = SavedReply.objects.create(title="Ack", body="Thanks {citizen_name}", language="en")
    ack.versions.create(language="ca", body="Gràcies {citizen_name}")
    Conversation.objects.filter(pk=conversation.pk).update(language="")
    conversation.account.default_language = "ca"
    conversation.account.save(update_fields=["default_language"])
    message = committed(autoreply_queue, Conversation.objects.get(pk=conversation.pk), ack, reason="rule")
    assert message.text == "Gràcies Núria Vidal" and message.saved_reply == ack


def test_same_title_rows_become_versions_and_references_follow(sim_account, team_a):
    migration = importlib.import_module("inbox.migrations.0018_saved_reply_versions_from_titles")
    en = SavedReply.objects.create(title="Ack", body="Thanks", language="en", team=team_a)
    ca = SavedReply.objects.create(title="Ack", body="Gràcies", language="ca", team=team_a)
    twin = SavedReply.objects.create(title="Ack", body="Thanks again", language="en", team=team_a)
    other_team = SavedReply.objects.create(title="Ack", body="Hola", language="es")
    AutoReplySetting.objects.create(account=sim_account, acknowledgement=ca)
    migration.forwards(global_apps, None)
    assert not SavedReply.objects.filter(pk=ca.pk).exists()
    assert [(v.language, v.body) for v in en.versions.all()] == [("ca", "Gràcies")]
    assert SavedReply.objects.filter(pk__in=[twin.pk, other_team.pk]).count() == 2
    assert AutoReplySetting.objects.get().acknowledgement_id == en.pk
