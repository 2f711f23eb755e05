"""Celery tasks: thin, named, idempotent; they take ids and call one service.

This module is on top: it imports the pipeline and outbound delivery, which enqueue these
tasks by name (``inbox.queue``) and never import this module."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from channels_adapters import profiles
from channels_adapters.base import AdapterError
from channels_adapters.outbound import message_deliver
from channels_adapters.outbound import outbound_sweep as outbound_sweep_run
from channels_adapters.pipeline import (
    MAX_ATTEMPTS,
    poll_result_store,
    raw_events_drain,
    raw_events_process,
)
from channels_adapters.registry import get_adapter
from inbox.models import ChannelAccount, RawEvent
from inbox.services import (
    account_mark_error,
    account_poll_lease,
    account_poll_schedule,
    raw_events_give_up,
)

logger = logging.getLogger(__name__)


@shared_task(name="channels_adapters.ingest_raw_events", acks_late=True)
def ingest_raw_events(raw_event_ids: list[int]) -> int:
    """With ids: process those (and a batch of other pending ones). Without: drain the backlog."""
    if not raw_event_ids:
        return raw_events_drain()
    result = raw_events_process(raw_event_ids)
    return len(result.new_message_ids) if result else 0


@shared_task(name="channels_adapters.message_send", acks_late=True)
def message_send(message_id: int) -> str:
    return message_deliver(message_id)


@shared_task(name="channels_adapters.contact_names_fetch", acks_late=True)
def contact_names_fetch(account_id: int, contact_ids: list[int]) -> int:
    """Names of Messenger/Instagram citizens asked from the platform (channels_adapters/profiles.py)."""
    return profiles.contact_names_fetch(account_id, contact_ids)


@shared_task(name="channels_adapters.raw_events_sweep")
def raw_events_sweep() -> int:
    """Pick up RawEvents a crash left unprocessed; give up (keeping them) after 5 tries."""
    cutoff = timezone.now() - timedelta(seconds=60)
    raw_events_give_up(before=cutoff, max_attempts=MAX_ATTEMPTS)
    ids = list(
        RawEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff, attempts__lt=MAX_ATTEMPTS)
        .order_by("id").values_list("id", flat=True)[:5000]
    )
    for start in range(0, len(ids), 200):
        ingest_raw_events.delay(ids[start : start + 200])
    return len(ids)


@shared_task(name="channels_adapters.outbound_sweep")
def outbound_sweep() -> dict:
    return outbound_sweep_run()


POLL_LEASE = timedelta(minutes=10)


@shared_task(name="channels_adapters.poll_due_channels")
def poll_due_channels() -> int:
    """Queue a poll for each due account, leasing it first so that a slow queue never
    gets a second poll of the same account (and its rate limit) while one is pending."""
    now = timezone.now()
    due = ChannelAccount.objects.filter(status=ChannelAccount.Status.ACTIVE, simulated=False).exclude(
        next_poll_at__gt=now
    )
    count = 0
    for account in due.only("id", "platform"):
        if not get_adapter(account.platform).supports_polling:
            continue
        if account_poll_lease(account.id, now=now, until=now + POLL_LEASE):
            poll_channel.delay(account.id)
            count += 1
    return count


@shared_task(name="channels_adapters.poll_channel", acks_late=True)
def poll_channel(account_id: int) -> int:
    """Fetch what webhooks may have missed. Cursors move in the transaction that stores the page."""
    account = ChannelAccount.objects.filter(id=account_id, status=ChannelAccount.Status.ACTIVE).first()
    if account is None:
        return 0
    adapter = get_adapter(account.platform)
    try:
        result = adapter.poll(account)
    except Exception as exc:
        # Platform trouble (AdapterError) or a page we cannot read: say so on the account and
        # try again later, so one bad answer never stops the polling of this account.
        typed = exc if isinstance(exc, AdapterError) else AdapterError(f"{type(exc).__name__}: {exc}")
        account_mark_error(account, str(typed), needs_reconnect=typed.needs_reconnect)
        retry_at = typed.retry_at or timezone.now() + timedelta(minutes=5)
        account_poll_schedule(account, retry_at)
        logger.warning("poll %s: %s (next try %s)", account, typed, retry_at.isoformat(), exc_info=typed is not exc)
        return 0
    return poll_result_store(account, result)
