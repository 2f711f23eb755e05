"""Reading again what could not be read: after a parser fix, an admin replays quarantined
items (through their deliveries) from the admin or with ``manage.py ingest_replay``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet

from channels_adapters.pipeline import INGEST_TASK, raw_events_process
from inbox.models import QuarantinedItem
from inbox.queue import enqueue_on_commit
from inbox.services import raw_events_replay

CHUNK = 200


def open_items(*, since: datetime | None = None, platform: str | None = None) -> QuerySet[QuarantinedItem]:
    items = QuarantinedItem.objects.filter(resolved_at__isnull=True)
    if since is not None:
        items = items.filter(created_at__gte=since)
    if platform:
        items = items.filter(platform=platform)
    return items


def items_replay(items: Iterable[QuarantinedItem], *, actor, reason: str = "", now: bool = False) -> list[int]:
    """Replay the deliveries that hold these items; each delivery is read once however many
    of its items are chosen. ``now`` processes them in this process (the command), otherwise
    a worker does after the commit (the admin). Returns the replayed event ids."""
    event_ids = sorted({item.raw_event_id for item in items})
    replayed = raw_events_replay(event_ids, actor=actor, reason=reason)
    for start in range(0, len(replayed), CHUNK):
        chunk = replayed[start : start + CHUNK]
        if now:
            raw_events_process(chunk, extra=0)
        else:
            enqueue_on_commit(INGEST_TASK, chunk)
    return replayed
