"""An export asked for on the page is built by a real Celery worker through Redis; the page's
progress JSON goes from queued to ready, and the archive downloads."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from inbox.models import Conversation, RecordExport
from tests.conftest import login, post_sim, sim_body, sim_event
from tests.test_celery_worker import wait_for, worker  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)"),
]


def test_an_export_is_built_by_a_real_worker(worker, sim_account, alice, settings, tmp_path):  # noqa: F811
    settings.RECORDS_EXPORT_DIR = tmp_path
    post_sim(Client(), sim_body([sim_event(1)]))
    assert wait_for(lambda: Conversation.objects.exists())
    client = login(alice)
    response = client.post("/records/exports/", {"conversation": Conversation.objects.get().pk})
    export = RecordExport.objects.get()
    assert response["Location"] == f"/records/exports/{export.uuid}/"
    assert wait_for(lambda: RecordExport.objects.filter(pk=export.pk, status=RecordExport.Status.READY).exists())
    progress = client.get(f"/records/exports/{export.uuid}/", {"format": "json"}).json()
    assert progress["ready"] and progress["done"] == progress["total"] == 2
    download = client.get(f"/records/exports/{export.uuid}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"PK"
