"""Nothing lost: one unreadable item never sinks its neighbours, changes that arrive before
their message wait for it, and what could not be read is replayed after a fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from channels_adapters.pipeline import raw_events_process
from channels_adapters.simulator import payloads as simulator
from inbox.models import (
    AuditEvent,
    Contact,
    Message,
    MessageRevision,
    MessageTombstone,
    QuarantinedItem,
    RawEvent,
)

from .conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_one_unreadable_event_is_quarantined_and_its_neighbours_are_stored(sim_account):
    story = sim_event(2, channel="story")  # a kind this parser does not know (yet)
    no_id = sim_event(3)
    del no_id["id"]
    response = post_sim(Client(), sim_body([sim_event(1), story, no_id, sim_event(4)]))

    assert response.status_code == 200
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["m1", "m4"]
    items = {q.locator: q for q in QuarantinedItem.objects.all()}
    assert set(items) == {"events[1]", "events[2]"}
    assert "unknown channel 'story'" in items["events[1]"].reason
    assert items["events[1]"].fragment == story and items["events[1]"].resolved_at is None
    assert "id" in items["events[2]"].reason
    raw = RawEvent.objects.get()
    assert raw.processed_at is not None and "2 item(s) quarantined" in raw.error


def test_a_quarantined_item_is_replayed_after_a_fix_once_and_audited(sim_account, dave, monkeypatch):
    post_sim(Client(), sim_body([sim_event(1), sim_event(2, channel="story")]))
    item = QuarantinedItem.objects.get()

    # The fix is deployed: stories are now read as public mentions.
    monkeypatch.setitem(simulator.KINDS, "story", ("mention", "public"))
    response = committed(login(dave).post, "/admin/inbox/quarantineditem/", {
        "action": "replay_selected", "_selected_action": [item.id],
    })
    assert response.status_code == 302

    item.refresh_from_db()
    assert item.resolved_at is not None
    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["m1", "m2"]
    assert AuditEvent.objects.filter(verb="raw_event.replay", actor=dave, target_id=str(item.raw_event_id)).count() == 1
    # Replaying again stores nothing twice.
    call_command("ingest_replay", "--all")
    assert Message.objects.count() == 2 and QuarantinedItem.objects.filter(resolved_at__isnull=True).count() == 0


def test_replay_command_by_date_and_an_item_that_still_fails_stays_quarantined(sim_account, capsys):
    post_sim(Client(), sim_body([sim_event(1, channel="story")]))
    # Stored before a parser change made it unreadable as a whole.
    stored = RawEvent.objects.create(platform="simulator", source="webhook", account=sim_account,
                                     body=b'{"account_id": "city-sim", "events": "not a list"}')
    raw_events_process([stored.id], extra=0)
    whole = QuarantinedItem.objects.get(locator="")
    assert "events list" in whole.reason and RawEvent.objects.get(id=whole.raw_event_id).error.startswith("unreadable")

    call_command("ingest_replay", "--since", (datetime.now(UTC) - timedelta(hours=1)).date().isoformat())

    out = capsys.readouterr().out
    assert "2 event(s) replayed" in out and "2 item(s) still quarantined" in out
    assert QuarantinedItem.objects.filter(resolved_at__isnull=True).count() == 2
    assert QuarantinedItem.objects.get(locator="events[0]").attempts == 2
    assert Message.objects.count() == 0


def test_an_out_of_range_time_and_a_lone_surrogate_are_settled_not_retried(sim_account):
    late = sim_event(1)
    late["created_at"] = "99999-01-01T00:00:00+00:00"
    body = sim_body([late, sim_event(2, text="Bon dia \ud83d i gràcies")])  # a lone high surrogate
    assert b"\\ud83d" in body

    post_sim(Client(), body)

    assert Message.objects.get().text == "Bon dia \ufffd i gràcies"
    assert QuarantinedItem.objects.get().locator == "events[0]"
    assert RawEvent.objects.get().processed_at is not None


def test_a_body_nested_too_deeply_is_a_400_and_stored_nowhere(sim_account):
    body = b'{"account_id": "city-sim", "events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = post_sim(Client(), body)
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
    assert not RawEvent.objects.exists()


@pytest.mark.parametrize("change", ["delete", "edit"])
def test_a_change_that_arrives_before_its_message_is_applied_when_it_comes(sim_account, change):
    early = sim_event(1, type=change, text="El bus 24 ja ha passat", at=T0 + timedelta(minutes=30))
    post_sim(Client(), sim_body([early]))
    assert MessageTombstone.objects.get().action == change

    post_sim(Client(), sim_body([sim_event(1, text="El bus 24 no ha passat", at=T0)]))

    message = Message.objects.get(external_id="m1")
    revision = MessageRevision.objects.get(message=message)
    assert revision.previous_text == "El bus 24 no ha passat"
    if change == "delete":
        # Never shown as live and answerable.
        assert message.deleted_at == T0 + timedelta(minutes=30) and revision.action == "delete"
    else:
        assert message.text == "El bus 24 ja ha passat" and revision.action == "edit"
    assert MessageTombstone.objects.get().applied_at is not None
    # Redelivered, both again: nothing more happens.
    post_sim(Client(), sim_body([early, sim_event(1, text="El bus 24 no ha passat", at=T0)]))
    assert MessageRevision.objects.count() == 1 and Message.objects.count() == 1


def test_feed_comments_without_from_are_never_merged_into_one_contact(db, meta_page, meta_post):
    def comment(n, **value):
        return {"field": "feed", "value": {"item": "comment", "verb": "add", "post_id": "P_1", "comment_id": f"C_{n}",
                                           "message": f"Comentari {n}", "created_time": 1795000000 + n, **value}}
    body = {"object": "page", "entry": [{"id": meta_page.external_id, "time": 1795000100, "changes": [
        comment(1), comment(2), comment(3, sender_id="9001", sender_name="Jordi Vila"),
    ]}]}

    assert meta_post(body).status_code == 200

    authors = dict(Message.objects.values_list("external_id", "author_contact__external_id"))
    assert authors["C_3"] == "9001" and Contact.objects.get(external_id="9001").name == "Jordi Vila"
    assert authors["C_1"] != authors["C_2"]  # two strangers are two contacts, never one
    assert Contact.objects.count() == 3


def test_meta_dashboard_test_delivery_is_answered_and_not_stored(db, meta_page, meta_post):
    body = {"object": "page", "entry": [{"id": "0", "time": "1795000000", "changes": [
        {"field": "feed", "value": {"item": "comment", "verb": "add", "comment_id": "444444444", "post_id": "44444444_444444444",
                                    "message": "Test message"}}]}]}
    response = meta_post(body)
    assert response.status_code == 200 and response.json()["test"] is True
    assert not RawEvent.objects.exists()


def test_messenger_opt_in_without_sender_does_not_lose_the_message_beside_it(db, meta_page, meta_post):
    body = {"object": "page", "entry": [{"id": meta_page.external_id, "time": 1795000100000, "messaging": [
        {"recipient": {"id": meta_page.external_id}, "timestamp": "1795000000000",
         "optin": {"ref": "newsletter", "user_ref": "UREF-1"}},
        {"sender": {"id": "PSID-7"}, "recipient": {"id": meta_page.external_id}, "timestamp": 1795000001000,
         "message": {"mid": "m_77", "text": "Hola, quan obre la deixalleria?"}},
    ]}]}
    meta_post(body)
    assert Message.objects.get().external_id == "m_77"
    assert not QuarantinedItem.objects.exists()


@pytest.fixture
def meta_page(db, team_a):
    from inbox.models import ChannelAccount

    return ChannelAccount.objects.create(platform="facebook", external_id="1000001", name="Ajuntament", default_team=team_a)


@pytest.fixture
def meta_post(settings):
    from channels_adapters.meta.webhook import SIGNATURE_HEADER, sign

    def post(body: dict):
        raw = json.dumps(body).encode()
        return committed(Client().post, "/webhooks/meta/", data=raw, content_type="application/json",
                         headers={SIGNATURE_HEADER: sign(raw)})
    return post


def test_a_drain_batch_is_bounded_by_body_bytes_and_still_takes_every_event(sim_account, settings):
    settings.INGEST_BATCH_BYTES = 1500  # about three simulator deliveries
    bodies = [sim_body([sim_event(n, text="x" * 300)]) for n in range(10)]
    events = [RawEvent.objects.create(platform="simulator", source="webhook", account=sim_account, body=b)
              for b in bodies]
    from channels_adapters.pipeline import _within_bytes, raw_events_drain

    assert len(_within_bytes([(e.id, len(b)) for e, b in zip(events, bodies, strict=True)], 1500)) in (2, 3)
    assert _within_bytes([(1, 10_000)], 1500) == [1]  # a large delivery still goes, alone
    assert raw_events_drain() == 10
    assert Message.objects.count() == 10


def test_an_id_longer_than_its_column_is_quarantined_not_a_lost_batch(sim_account):
    long_id = sim_event(2)
    long_id["id"] = "m" * 500  # the database would refuse it, and with it the whole batch
    post_sim(Client(), sim_body([sim_event(1), long_id, sim_event(3)]))

    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["m1", "m3"]
    item = QuarantinedItem.objects.get()
    assert item.locator == "events[1]" and "at most 200" in item.reason
