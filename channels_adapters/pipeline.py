"""Inbound pipeline: RawEvent -> adapter.parse -> inbox.services -> routing, explicitly."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction

from channels_adapters.base import MalformedPayload
from channels_adapters.registry import UnknownPlatform, get_adapter
from inbox import realtime
from inbox.inbound import IngestResult
from inbox.models import RawEvent
from inbox.services import (
    messages_ingest,
    raw_event_mark_failed,
    raw_events_claim,
    raw_events_mark_processed,
)
from routing.services import conversations_route

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


WAKEUP_KEY = "ingest:wakeup-queued"
WAKEUP_TTL = 30  # seconds; if a queued wakeup is ever lost, the next webhook after this sends one


def ingest_wakeup() -> None:
    """Make sure an ingest task is on its way for what was just stored (call after commit).

    At most one wakeup waits in the queue at a time: a webhook that finds one queued adds
    nothing, because that task will claim every pending event when it starts (it clears the
    flag before claiming, and this event was committed before the flag was read). Under load
    this turns hundreds of task messages a second into a few batches, and takes Celery's
    publishing cost off the webhook request.
    """
    from channels_adapters.tasks import ingest_raw_events

    if ingest_raw_events.app.conf.task_always_eager or cache.add(WAKEUP_KEY, 1, timeout=WAKEUP_TTL):
        ingest_raw_events.delay([])


def raw_events_drain(*, max_batches: int = 25) -> int:
    """The wakeup task: process pending events oldest first, batch after batch.

    Returns how many events this worker processed. Stops when the backlog is empty or
    another worker holds what is left; after ``max_batches`` it hands over to a new task so
    that one task never runs unbounded.
    """
    cache.delete(WAKEUP_KEY)
    size = settings.INGEST_BATCH_SIZE
    done = 0
    for _ in range(max_batches):
        ids = list(
            RawEvent.objects.filter(processed_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
            .order_by("received_at", "id").values_list("id", flat=True)[:size]
        )
        if not ids:
            return done
        if raw_events_process(ids, extra=0) is None:
            return done  # another worker holds them
        done += len(ids)
        if len(ids) < size:
            return done
    ingest_wakeup()
    return done


def raw_events_process(ids: Sequence[int], *, extra: int | None = None) -> IngestResult | None:
    """Process the given RawEvents (and up to ``extra`` other pending ones) in one batch.

    If the batch fails as a whole, each event is retried alone, so one bad event cannot
    hold the others back; an event that keeps failing is counted, left for the sweep and,
    after MAX_ATTEMPTS, kept with its error for an admin to look at.
    """
    extra = settings.INGEST_BATCH_SIZE if extra is None else extra
    pending = RawEvent.objects.filter(processed_at__isnull=True)
    candidates = list(pending.filter(id__in=list(ids)).order_by("id"))
    if extra > 0:
        candidates += list(
            pending.exclude(id__in=[e.id for e in candidates]).order_by("received_at", "id")[:extra]
        )
    if not candidates:
        return None
    try:
        return _process_batch(candidates)
    except Exception:
        if len(candidates) == 1:
            _count_failure(candidates[0])
            return None
        logger.exception("ingest: batch of %d failed; processing events one by one", len(candidates))
    result = None
    for event in candidates:
        try:
            result = _process_batch([event]) or result
        except Exception:
            _count_failure(event)
    return result


def _count_failure(event: RawEvent) -> None:
    logger.exception("ingest: raw event %s failed", event.id)
    exc = sys.exc_info()[1]
    raw_event_mark_failed(event, f"{type(exc).__name__}: {exc}")


def _parse(events: Sequence[RawEvent]) -> tuple[dict[int, list], dict[int, str]]:
    """Parse outside any transaction: adapters may call the platform (Instagram mentions)."""
    parsed: dict[int, list] = {}
    unreadable: dict[int, str] = {}
    for event in events:
        try:
            parsed[event.id] = get_adapter(event.platform).parse(event)
        except DatabaseError:
            raise  # ours, not the payload's: the event stays pending
        except (MalformedPayload, UnknownPlatform, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Signed by the platform yet unreadable: keep it, with the reason, for a human.
            logger.error("ingest: raw event %s cannot be parsed: %s", event.id, exc)
            unreadable[event.id] = f"parse: {type(exc).__name__}: {exc}"
    return parsed, unreadable


def _process_batch(candidates: Sequence[RawEvent]) -> IngestResult | None:
    parsed, unreadable = _parse(candidates)
    with transaction.atomic():
        # Lock what is still pending; an event another worker holds (or finished) is not ours.
        events = raw_events_claim([e.id for e in candidates])
        if not events:
            return None
        batch = [(item, event.id) for event in events for item in parsed.get(event.id, ())]
        result = messages_ingest(batch)
        raw_events_mark_processed([e for e in events if e.id in parsed])
        for event in events:
            if event.id in unreadable:
                raw_events_mark_processed([event], error=unreadable[event.id])
        conversations_route(result.new_conversation_ids)
        changed = set(result.touched_conversation_ids)
        transaction.on_commit(partial(realtime.conversations_changed, changed))
    logger.info(
        "ingest: %d events, %d new messages, %d new conversations, %d skipped",
        len(events), len(result.new_message_ids), len(result.new_conversation_ids), result.skipped,
    )
    return result
