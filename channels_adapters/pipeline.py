"""Inbound pipeline: RawEvent -> adapter.parse -> inbox.services -> routing, explicitly."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db.models.functions import Length
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from channels_adapters.base import ITEM_ERRORS, ParseResult, PollResult, Reachability
from channels_adapters.profiles import contact_names_request
from channels_adapters.registry import UnknownPlatform, get_adapter
from inbox import realtime
from inbox.inbound import IngestResult
from inbox.models import ChannelAccount, Conversation, RawEvent
from inbox.queue import task_named
from inbox.services import (
    account_cursor_set,
    account_poll_schedule,
    accounts_mark_revoked,
    conversation_reachability_set,
    messages_ingest,
    raw_event_mark_failed,
    raw_events_claim,
    raw_events_mark_processed,
    raw_events_quarantine,
    raw_events_store,
)
from routing import sla
from routing.autoreply import autoreplies_after_ingest
from routing.services import conversations_route

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


INGEST_TASK = "channels_adapters.ingest_raw_events"  # enqueued by name: tasks.py imports this module
WAKEUP_KEY = "ingest:wakeup-queued"
WAKEUP_TTL = 30  # seconds; if a queued wakeup is ever lost, the next webhook after this sends one


def ingest_wakeup() -> None:
    """Make sure an ingest task is on its way for what was just stored (call after commit).

    At most one wakeup waits in the queue at a time: a webhook that finds one queued adds
    nothing, because that task will claim every pending event when it starts (it clears the
    flag before claiming, and this event was committed before the flag was read). Under load
    this turns hundreds of task messages a second into a few batches, and takes Celery's
    publishing cost off the webhook request.

    Redis being away must not fail the request: the event is committed, a 500 would only
    make the platform send it again, and the raw-event sweep picks it up (tests/chaos).
    """
    ingest = task_named(INGEST_TASK)
    try:
        if ingest.app.conf.task_always_eager or cache.add(WAKEUP_KEY, 1, timeout=WAKEUP_TTL):
            ingest.delay([])
    except (RedisError, KombuOperationalError) as exc:
        logger.warning("ingest: no wakeup queued (%s); the raw-event sweep will pick the event up", exc)


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
        pending = list(
            RawEvent.objects.filter(processed_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
            .order_by("received_at", "id").annotate(size=Length("body")).values_list("id", "size")[:size]
        )
        if not pending:
            return done
        ids = _within_bytes(pending, settings.INGEST_BATCH_BYTES)
        if raw_events_process(ids, extra=0) is None:
            return done  # another worker holds them
        done += len(ids)
        if len(ids) == len(pending) < size:
            return done  # the backlog is empty
    ingest_wakeup()
    return done


def _within_bytes(pending: Sequence[tuple[int, int]], budget: int) -> list[int]:
    """The oldest events whose bodies fit the budget (at least one). Meta batches up to a
    thousand updates in one delivery: counting deliveries alone let one transaction hold ten
    thousand messages, long enough that a worker killed every few seconds never committed."""
    ids, total = [], 0
    for event_id, size in pending:
        total += size or 0
        if ids and total > budget:
            break
        ids.append(event_id)
    return ids


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


def _parse(events: Sequence[RawEvent]) -> list[ParseResult | str]:
    """Parse outside any transaction: adapters may call the platform (Instagram mentions).

    Each event gives what it held (items read, items quarantined) or, if the body as a whole
    cannot be read, the reason as a string.
    """
    parsed: list[ParseResult | str] = []
    for event in events:
        try:
            parsed.append(get_adapter(event.platform).parse(event))
        except DatabaseError:
            raise  # ours, not the payload's: the event stays pending
        except (UnknownPlatform, *ITEM_ERRORS) as exc:
            # Signed by the platform yet unreadable: kept, with the reason, for a replay.
            logger.error("ingest: raw event %s cannot be parsed: %s", event.id, exc)
            parsed.append(f"{type(exc).__name__}: {exc}")
    return parsed


def _process_batch(candidates: Sequence[RawEvent]) -> IngestResult | None:
    parsed = dict(zip([e.id for e in candidates], _parse(candidates), strict=True))
    with transaction.atomic():
        # Lock what is still pending; an event another worker holds (or finished) is not ours.
        events = raw_events_claim([e.id for e in candidates])
        if not events:
            return None
        return _store(events, [parsed[e.id] for e in events])


def _store(events: Sequence[RawEvent], parsed: Sequence[ParseResult | str]) -> IngestResult:
    """Store what the events held, in the caller's transaction: messages once, what could
    not be read in quarantine, then route the new conversations."""
    readable = {e.id: r for e, r in zip(events, parsed, strict=True) if isinstance(r, ParseResult)}
    unreadable = {e.id: r for e, r in zip(events, parsed, strict=True) if isinstance(r, str)}
    result = messages_ingest([(item, event_id) for event_id, r in readable.items() for item in r.messages])
    quarantine = {
        event_id: [(q.locator, q.reason, q.fragment) for q in r.quarantined] for event_id, r in readable.items()
    }
    quarantine.update({event_id: [("", reason, None)] for event_id, reason in unreadable.items()})
    raw_events_quarantine(events, quarantine)
    for event in events:
        if event.id in unreadable:
            raw_events_mark_processed([event], error=f"unreadable: {unreadable[event.id]}")
        elif quarantine[event.id]:
            locator, reason, _ = quarantine[event.id][0]
            raw_events_mark_processed(
                [event], error=f"{len(quarantine[event.id])} item(s) quarantined, first {locator}: {reason}"
            )
    raw_events_mark_processed([e for e in events if e.id in readable and not quarantine[e.id]])
    revoked = sorted({account for r in readable.values() for account in r.reconnect_account_ids})
    if revoked:
        accounts_mark_revoked({e.platform for e in events}, revoked)
    _reachability_apply(events, [c for r in readable.values() for c in r.reachability])
    conversations_route(result.new_conversation_ids, result.new_message_ids)  # and the rules on follow-ups
    sla.after_ingest(result.new_conversation_ids, result.new_message_ids)
    autoreplies_after_ingest(result.new_conversation_ids, result.new_message_ids)
    contact_names_request(result.new_conversation_ids)  # Messenger/Instagram: names, in the background
    transaction.on_commit(partial(realtime.conversations_changed, set(result.touched_conversation_ids)))
    logger.info(
        "ingest: %d events, %d new messages, %d new conversations, %d skipped, %d quarantined, %d unreadable",
        len(events), len(result.new_message_ids), len(result.new_conversation_ids), result.skipped,
        sum(len(q) for q in quarantine.values()) - len(unreadable), len(unreadable),
    )
    return result


def _reachability_apply(events: Sequence[RawEvent], changes: Sequence[Reachability]) -> None:
    """The platform said a citizen blocked (or unblocked) the account: mark the conversation
    of that thread, if there is one (a citizen who never wrote has none to mark)."""
    if not changes:
        return
    platforms = {p for e in events for p in get_adapter(e.platform).account_platforms()}
    for change in changes:
        conversation = Conversation.objects.filter(
            account__platform__in=platforms, account__external_id=change.account_external_id,
            thread_key=change.thread_key,
        ).first()
        if conversation is not None:
            conversation_reachability_set(conversation, reachable=change.reachable, reason=change.reason,
                                          at=change.at)


def poll_result_store(account: ChannelAccount, poll: PollResult) -> int:
    """Store what a poll read, and move its cursors, in one transaction.

    The pages are parsed first (outside the transaction), then their RawEvents, messages,
    quarantined items and the cursors commit together: a crash before the commit leaves the
    cursors where they were, so the next poll reads the same pages again (their items are
    stored once whatever happens). An endpoint whose page cannot be read at all keeps its
    cursor, and the page is fetched again; an item that cannot be read is quarantined and
    does not hold its neighbours, or the cursor, back. Returns the number of pages.
    """
    pages = {
        name: [RawEvent(platform=account.platform, account=account, source=RawEvent.Source.POLL, body=body, headers={})
               for body in bodies]
        for name, bodies in poll.pages.items()
    }
    events = [e for group in pages.values() for e in group]
    parsed = _parse(events)
    with transaction.atomic():
        raw_events_store(events)
        if events:
            _store(events, parsed)
        read = {id(e) for e, r in zip(events, parsed, strict=True) if isinstance(r, ParseResult)}
        for name, cursor in poll.cursors.items():
            if all(id(e) in read for e in pages.get(name, ())):
                account_cursor_set(account, name, cursor)
            else:
                logger.warning("poll %s %s: a page could not be read; the cursor stays", account, name)
        account_poll_schedule(account, poll.next_poll_at or timezone.now() + timedelta(minutes=1), succeeded=True)
    return len(events)
