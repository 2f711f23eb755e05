"""The Django admin: every model is there for dave (admin); the public record cannot be
changed there, credentials are never shown, and raw bodies are shown as escaped text."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Conversation,
    DeliveryAttempt,
    Message,
    MessageRevision,
    Person,
    RawEvent,
    SavedReply,
    Tag,
)
from inbox.services import conversation_note_add
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

INBOX_MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label == "inbox"), key=lambda m: m.__name__
)


@pytest.fixture
def records(sim_account, alice, team_a):
    """A few rows of every model, made the way production makes them."""
    sim_account.credentials = {"access_token": "admin-must-not-show-this"}
    sim_account.save()
    events = [
        sim_event(1, thread="t1", text="<script>alert('x')</script> el bus"),
        sim_event(2, thread="t2", text="Farola rota"),
        sim_event(3, thread="t3", channel="dm", text="Un privado"),
        sim_event(4, thread="t4", channel="story", text="<img src=x onerror=alert(1)> quarantined"),
    ]
    assert post_sim(Client(), sim_body(events)).status_code == 200
    assert post_sim(Client(), sim_body([sim_event(2, thread="t2", text="Farola rota (editado)", type="edit")])).status_code == 200
    conversation = Conversation.objects.get(thread_key="mention:t1")
    committed(
        login(alice).post, f"/api/v1/conversations/{conversation.id}/reply/",
        data={"text": "Lo miramos", "option": "public"}, content_type="application/json",
    )
    conversation_note_add(conversation=conversation, user=alice, text="nota interna")
    person = Person.objects.create(display_name="Citizen one")
    conversation.contact.person = person
    conversation.contact.save()
    conversation.tags.add(Tag.objects.create(name="Buses", slug="buses"))
    SavedReply.objects.create(title="Gracias", body="Gracias por escribirnos", team=team_a)
    assert MessageRevision.objects.exists() and DeliveryAttempt.objects.exists() and AuditEvent.objects.exists()
    return conversation


def test_every_inbox_model_is_registered():
    names = {m.__name__ for m in INBOX_MODELS}
    assert names >= {
        "Team", "ChannelAccount", "Person", "Contact", "Tag", "Conversation", "RawEvent", "Message",
        "MessageRevision", "DeliveryAttempt", "SavedReply", "AuditEvent",
    }


@pytest.mark.parametrize("model", INBOX_MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_page_load_for_the_admin(records, dave, model):
    client = login(dave)
    opts = model._meta
    assert model.objects.exists(), f"no {opts.model_name} rows to show"

    changelist = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200

    obj = model.objects.order_by("pk").first()
    page = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert page.status_code == 200


def test_changelist_search_and_filters_work(records, dave):
    client = login(dave)

    assert client.get(reverse("admin:inbox_message_changelist") + "?q=farola&direction__exact=in").status_code == 200
    assert client.get(reverse("admin:inbox_auditevent_changelist") + "?q=alice&verb=message.reply").status_code == 200
    assert client.get(reverse("admin:inbox_rawevent_changelist") + "?processed_at__isempty=0").status_code == 200


def test_audit_events_cannot_be_added_changed_or_deleted(records, dave):
    client = login(dave)
    event = AuditEvent.objects.order_by("id").first()
    before = list(AuditEvent.objects.order_by("id").values())

    page = client.get(reverse("admin:inbox_auditevent_change", args=[event.pk]))
    assert b'name="_save"' not in page.content
    assert client.post(reverse("admin:inbox_auditevent_change", args=[event.pk]), {"verb": "forged"}).status_code == 403
    assert client.post(reverse("admin:inbox_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:inbox_auditevent_add")).status_code == 403
    bulk = client.post(
        reverse("admin:inbox_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert list(AuditEvent.objects.order_by("id").values()) == before


@pytest.mark.parametrize("model", [Message, RawEvent, MessageRevision, DeliveryAttempt, Conversation], ids=lambda m: m.__name__)
def test_public_records_are_read_only(records, dave, model):
    client = login(dave)
    opts = model._meta
    obj = model.objects.order_by("pk").first()

    assert client.post(reverse(f"admin:inbox_{opts.model_name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse(f"admin:inbox_{opts.model_name}_add")).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_raw_event_body_is_decoded_and_escaped(records, dave):
    raw = RawEvent.objects.order_by("id").first()
    page = login(dave).get(reverse("admin:inbox_rawevent_change", args=[raw.pk])).content.decode()

    assert "&lt;script&gt;alert(" in page
    assert "<script>alert(" not in page
    assert "el bus" in page


def test_raw_event_body_that_is_not_utf8_is_shown_safely(sim_account, dave):
    raw = RawEvent.objects.create(platform="simulator", source="webhook", body=b"\xff\xfe<b>caf\xe9</b>")
    page = login(dave).get(reverse("admin:inbox_rawevent_change", args=[raw.pk]))

    assert page.status_code == 200
    assert "&lt;b&gt;caf\ufffd&lt;/b&gt;" in page.content.decode()


def test_channel_account_page_shows_that_credentials_are_set_but_never_them(records, dave, sim_account):
    client = login(dave)
    change = client.get(reverse("admin:inbox_channelaccount_change", args=[sim_account.pk])).content.decode()
    listing = client.get(reverse("admin:inbox_channelaccount_changelist")).content.decode()

    for page in (change, listing):
        assert "admin-must-not-show-this" not in page
        assert "access_token" not in page
    assert "Credentials set" in change


def test_saving_a_channel_account_in_the_admin_keeps_its_credentials(records, dave, sim_account, team_a):
    response = login(dave).post(
        reverse("admin:inbox_channelaccount_change", args=[sim_account.pk]),
        {"name": "City (renamed)", "handle": "city", "default_team": team_a.pk, "status": "active",
         "reply_approval": sim_account.reply_approval},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    sim_account.refresh_from_db()
    assert sim_account.name == "City (renamed)"
    assert sim_account.credentials == {"access_token": "admin-must-not-show-this"}


def test_team_object_permissions_page_loads(records, dave, team_a):
    client = login(dave)

    response = client.get(reverse("admin:inbox_team_permissions", args=[team_a.pk]))
    assert response.status_code == 200
    assert b"alice" in response.content


def test_officers_cannot_enter_the_admin(records, alice):
    response = login(alice).get(reverse("admin:inbox_message_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_channel_account_credentials_are_not_an_admin_field():
    model_admin = admin.site._registry[ChannelAccount]
    assert "credentials" not in model_admin.fields
