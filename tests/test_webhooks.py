"""The webhook edge: bad input gets a clear error and loses nothing; good input once."""

from __future__ import annotations

import logging

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DataError
from django.test import Client

from channels_adapters.pipeline import WAKEUP_KEY, raw_events_process
from channels_adapters.simulator.webhook import SIGNATURE_HEADER, sign
from channels_adapters.tasks import ingest_raw_events
from config.celery import app as celery_app
from inbox.models import Conversation, Message, QuarantinedItem, RawEvent
from tests.conftest import post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


def test_signed_delivery_is_stored_parsed_and_routed(sim_account, alice, team_a):
    response = post_sim(Client(), sim_body([sim_event(1)]))

    assert response.status_code == 200
    raw = RawEvent.objects.get()
    assert raw.processed_at is not None  # in tests, tasks run on commit in-process
    message = Message.objects.get()
    assert message.external_id == "m1" and message.raw_event == raw
    conversation = message.conversation
    assert conversation.team == team_a
    assert conversation.assignee == alice
    assert conversation.language == "es"


@pytest.mark.parametrize(
    ("signature", "status"),
    [("", 401), ("sha256=" + "0" * 64, 403), ("sha1=abc", 403)],
)
def test_forged_or_unsigned_webhook_stores_nothing_but_a_log_line(sim_account, caplog, signature, status):
    with caplog.at_level(logging.WARNING, logger="channels_adapters.webhooks"):
        response = post_sim(Client(), sim_body([sim_event(1)]), signature=signature)

    assert response.status_code == status
    assert not RawEvent.objects.exists()
    assert not Message.objects.exists()
    assert "rejected" in caplog.text


def test_signature_is_checked_on_the_raw_bytes(sim_account):
    body = sim_body([sim_event(1)])
    reserialised = body.replace(b'", "', b'","')
    assert reserialised != body

    response = post_sim(Client(), reserialised, signature=sign(body))

    assert response.status_code == 403
    assert not RawEvent.objects.exists()


def test_malformed_json_is_a_400(sim_account, caplog):
    for body in (b"{not json", b"[]", b'{"account_id": "city-sim"}'):
        response = post_sim(Client(), body)
        assert response.status_code == 400, body
        assert "malformed" in response.json()["error"]
    assert not RawEvent.objects.exists()


def test_unknown_account_is_a_404(sim_account):
    response = post_sim(Client(), sim_body([sim_event(1)], account_id="someone-else"))

    assert response.status_code == 404
    assert not RawEvent.objects.exists()


def test_unknown_platform_is_a_404(db):
    assert Client().post("/webhooks/myspace/", data=b"{}", content_type="application/json").status_code == 404


def test_get_without_handshake_is_not_allowed(sim_account):
    assert Client().get("/webhooks/simulator/").status_code == 405


def test_same_payload_three_times_is_one_message(sim_account):
    body = sim_body([sim_event(1), sim_event(2, thread="t1")])
    for _ in range(3):
        assert post_sim(Client(), body).status_code == 200

    assert RawEvent.objects.count() == 3  # every delivery is on record ...
    assert Message.objects.count() == 2  # ... each message once
    assert Conversation.objects.count() == 1


def test_out_of_order_delivery_lands_in_the_right_place(sim_account):
    first, reply = sim_event(1, thread="t1", text="Primer mensaje"), sim_event(2, thread="t1", text="Segundo")
    post_sim(Client(), sim_body([reply]))
    post_sim(Client(), sim_body([first]))

    conversation = Conversation.objects.get()
    timeline = list(conversation.messages.order_by("sent_at").values_list("text", flat=True))
    assert timeline == ["Primer mensaje", "Segundo"]
    assert conversation.subject == "Primer mensaje"
    assert conversation.last_message_preview == "Segundo"
    assert conversation.first_inbound_at < conversation.last_inbound_at


def test_crash_between_receipt_and_processing_loses_nothing(sim_account, django_capture_on_commit_callbacks):
    # The webhook commits the RawEvent; the worker dies before it runs (no callback executed).
    body = sim_body([sim_event(1)])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = Client().post(
            "/webhooks/simulator/", data=body, content_type="application/json",
            headers={SIGNATURE_HEADER: sign(body)},
        )
    assert response.status_code == 200
    assert len(callbacks) == 1
    raw = RawEvent.objects.get()
    assert raw.processed_at is None and not Message.objects.exists()

    # Later, the sweep (or any worker's batch) picks it up.
    result = raw_events_process([], extra=100)

    assert result is not None and len(result.new_message_ids) == 1
    raw.refresh_from_db()
    assert raw.processed_at is not None
    assert Message.objects.get().raw_event == raw


def test_signed_but_unparseable_event_is_kept_with_its_error(sim_account):
    bad = sim_event(1)
    bad["created_at"] = "yesterday"
    response = post_sim(Client(), sim_body([bad]))

    assert response.status_code == 200  # the platform delivered; we must not make it retry forever
    raw = RawEvent.objects.get()
    assert raw.processed_at is not None
    assert "created_at" in raw.error
    item = QuarantinedItem.objects.get()
    assert (item.raw_event_id, item.locator) == (raw.id, "events[0]")
    assert "created_at" in item.reason and item.fragment["created_at"] == "yesterday"
    assert not Message.objects.exists()


def test_own_messages_are_dropped(sim_account):
    post_sim(Client(), sim_body([sim_event(1, author="city-sim")]))
    assert not Message.objects.exists()


def test_single_message_redelivered_is_stored_once(sim_account):
    body = sim_body([sim_event(7)])
    for _ in range(3):
        assert post_sim(Client(), body).status_code == 200
    assert Message.objects.count() == 1
    assert RawEvent.objects.filter(processed_at__isnull=False, error="").count() == 3


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")
def test_a_burst_of_webhooks_queues_one_wakeup_that_drains_them_all(sim_account, alice):
    """Celery publishing stays off the webhook path: one queued task serves a whole burst."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    cache.delete(WAKEUP_KEY)
    celery_app.conf.task_always_eager = False
    before = broker.llen("ingest")

    for n in range(5):
        assert post_sim(Client(), sim_body([sim_event(n)])).status_code == 200

    assert broker.llen("ingest") - before == 1
    assert RawEvent.objects.filter(processed_at__isnull=True).count() == 5
    broker.delete("ingest")  # the worker would now take that task; run it here

    assert ingest_raw_events([]) == 5

    assert Message.objects.count() == 5
    assert not RawEvent.objects.filter(processed_at__isnull=True).exists()
    # The flag was cleared: the next webhook queues a new wakeup.
    assert post_sim(Client(), sim_body([sim_event(9)])).status_code == 200
    assert broker.llen("ingest") == 1
    broker.delete("ingest")


def test_an_event_that_fails_to_store_does_not_hold_back_the_others(
    sim_account, django_capture_on_commit_callbacks, monkeypatch,
):
    bodies = [sim_body([sim_event(1)]), sim_body([sim_event(2)])]
    with django_capture_on_commit_callbacks(execute=False):
        for body in bodies:
            Client().post("/webhooks/simulator/", data=body, content_type="application/json",
                          headers={SIGNATURE_HEADER: sign(body)})
    poison = RawEvent.objects.order_by("id").first()
    # A body the adapter reads but the database refuses (ids too long are quarantined at the
    # edge now, so the refusal is made here: whatever the database refuses, the same holds).
    from channels_adapters import pipeline

    real_ingest = pipeline.messages_ingest

    def refusing(batch):
        if any(raw_id == poison.id for _, raw_id in batch):
            raise DataError("value too long for type character varying(200)")
        return real_ingest(batch)

    monkeypatch.setattr(pipeline, "messages_ingest", refusing)

    raw_events_process([], extra=10)
    raw_events_process([], extra=10)

    assert Message.objects.filter(external_id="m2").exists()
    poison.refresh_from_db()
    assert poison.processed_at is None and poison.attempts == 2  # counted; the sweep gives up at 5
    assert "DataError" in poison.error


def test_a_flood_of_forged_requests_fills_neither_the_database_nor_the_log(sim_account, settings, caplog):
    settings.WEBHOOK_REJECTIONS_PER_MINUTE = 20
    cache.clear()
    client = Client()
    body = sim_body([sim_event(1)])
    with caplog.at_level("WARNING", logger="channels_adapters.webhooks"):
        statuses = [post_sim(client, body, signature="sha256=" + "0" * 64).status_code for _ in range(2000)]

    # Past 20 rejections a minute, refused unread (the count runs in fixed one-minute windows:
    # the run may cross into a second one).
    assert statuses[:21] == [403] * 21 and statuses.count(403) <= 2 * 21 and statuses.count(429) >= 1900
    assert not RawEvent.objects.exists()
    assert len(caplog.records) <= 2 * 22  # a line per rejection up to the limit, then one a minute
    # Once the minute has passed, the address is heard again.
    cache.clear()
    assert post_sim(client, body).status_code == 200


def test_with_the_cache_unreachable_deliveries_are_still_stored(sim_account, settings):
    """The flood guard counts in Redis; with Redis away it steps aside instead of failing the
    request (a 5xx would only make the platform send again)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}
    assert post_sim(Client(), sim_body([sim_event(1)])).status_code == 200
    assert post_sim(Client(), sim_body([sim_event(2)]), signature="sha256=" + "0" * 64).status_code == 403
    assert RawEvent.objects.count() == 1
