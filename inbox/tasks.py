"""Celery tasks of the core: thin and named."""

from __future__ import annotations

from celery import shared_task

from inbox.audit import audit_seal
from inbox.records import tasks as records_tasks  # noqa: F401 - registers the public record's tasks


@shared_task(name="inbox.audit_seal")
def audit_seal_task() -> int:
    """Give the audit rows committed since the last run their place in the hash chain."""
    return audit_seal()


@shared_task(name="inbox.snoozed_wake")
def snoozed_wake_task() -> int:
    """Open the snoozed conversations whose time has come (inbox/services/snooze.py)."""
    from inbox.services.snooze import conversations_wake

    return len(conversations_wake())


@shared_task(name="inbox.notifications_expire")
def notifications_expire_task() -> int:
    """Delete read notifications older than 30 days (inbox/services/notifications.py)."""
    from inbox.services.notifications import notifications_expire

    return notifications_expire()


@shared_task(name="inbox.notifications_email")
def notifications_email_task(notification_ids: list[int]) -> int:
    """E-mail notifications to officers who had no page open (mentions)."""
    from inbox.services.notifications import notifications_email

    return notifications_email(notification_ids)
