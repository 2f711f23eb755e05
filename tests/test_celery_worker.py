"""End to end through a real Celery worker and the Redis broker: webhook -> queue -> reply."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.test import Client

from channels_adapters.outbound import reply_submit
from config.celery import app as celery_app
from inbox.models import Conversation, Message, RawEvent
from tests.conftest import post_sim, sim_body, sim_event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)"),
]


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def worker():
    celery_app.conf.task_always_eager = False
    # The worker thread must not keep its database connection after the test (the test
    # database is dropped at the end of the run): close it after every task, as Celery does
    # without CELERY_DB_REUSE_MAX.
    reuse = celery_app.conf.db_reuse_max
    celery_app.conf.db_reuse_max = 0
    celery_app.control.purge()
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
            queues=["ingest", "outbound", "default"],
        ) as w:
            yield w
    finally:
        celery_app.conf.db_reuse_max = reuse


def test_webhook_is_ingested_and_answered_by_a_real_worker(worker, sim_account, alice):
    body = sim_body([sim_event(1), sim_event(2, thread="t1")])
    for _ in range(2):  # a redelivery on the way
        assert post_sim(Client(), body).status_code == 200

    assert wait_for(lambda: RawEvent.objects.filter(processed_at__isnull=True).count() == 0 and Message.objects.count() == 2)
    conversation = Conversation.objects.get()
    assert wait_for(lambda: Conversation.objects.filter(id=conversation.id, assignee=alice).exists())

    message = reply_submit(conversation=Conversation.objects.get(), user=alice, text="Ho revisem avui.", option_key="public")

    assert wait_for(lambda: Message.objects.filter(id=message.id, delivery_status=Message.Delivery.SENT).exists())
    assert Message.objects.get(id=message.id).delivery_attempts.count() == 1
