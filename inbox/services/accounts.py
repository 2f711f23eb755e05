"""Channel accounts: connect and reconnect (one service for every platform), errors, cursors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inbox.audit import audit_record
from inbox.models import ChannelAccount, Team
from inbox.redaction import redact_secrets


def account_mark_error(account: ChannelAccount, error: str, *, needs_reconnect: bool = False) -> None:
    updates = {"last_error": redact_secrets(error)[:2000], "last_error_at": timezone.now()}
    if needs_reconnect:
        updates["status"] = ChannelAccount.Status.NEEDS_RECONNECT
    ChannelAccount.objects.filter(id=account.id).update(**updates)
    for field, value in updates.items():
        setattr(account, field, value)


def accounts_mark_revoked(platforms: Iterable[str], external_ids: Sequence[str]) -> None:
    """The platform says these accounts withdrew the app's access: they need reconnecting."""
    for account in ChannelAccount.objects.filter(platform__in=list(platforms), external_id__in=list(external_ids)):
        account_mark_error(account, "The account withdrew this app's access.", needs_reconnect=True)


def account_cursor_set(account: ChannelAccount, name: str, value: dict) -> None:
    """Merge one endpoint's poll cursor; a cursor only moves once its page is stored."""
    cursors = dict(account.cursors or {})
    cursors[name] = value
    ChannelAccount.objects.filter(id=account.id).update(cursors=cursors)
    account.cursors = cursors


def channel_account_connect(
    *, platform: str, external_id: str, name: str, handle: str = "", credentials: dict | None = None,
    default_team: Team | None = None, actor=None, method: str = "", needs_credentials: bool = True,
    **audit,
) -> tuple[ChannelAccount, bool]:
    """Connect an account, or reconnect it: the one place every platform's connect page and
    ``add_channel_account`` store accounts. Returns the account and whether it is new.

    Reconnecting replaces the credentials, makes the account active again and clears its
    error and poll schedule; the default team changes only when one is given. An account
    that needs credentials and has none waits as "needs reconnecting". The audit record
    (``channel_account.connect`` / ``channel_account.reconnect``) names the account, never
    its credentials.
    """
    credentials = credentials or {}
    with transaction.atomic():
        account = ChannelAccount.objects.select_for_update().filter(platform=platform, external_id=external_id).first()
        created = account is None
        if created:
            account = ChannelAccount(platform=platform, external_id=external_id, default_team=default_team)
        elif default_team is not None:
            account.default_team = default_team
        account.name, account.handle, account.credentials = name[:200], handle[:200], credentials
        missing = needs_credentials and not credentials
        account.status = ChannelAccount.Status.NEEDS_RECONNECT if missing else ChannelAccount.Status.ACTIVE
        account.last_error = "Added without credentials: connect it to read and answer." if missing else ""
        account.last_error_at = timezone.now() if missing else None
        account.next_poll_at = None
        account.save()
        audit_record(
            actor, "channel_account.connect" if created else "channel_account.reconnect", account,
            platform=platform, external_id=external_id, name=account.name, method=method,
            default_team=account.default_team_id, credentials_set=bool(credentials), **audit,
        )
    return account, created


def account_credentials_set(account: ChannelAccount, credentials: dict) -> None:
    """New credentials for the same grant (a refreshed token); the caller holds the row lock."""
    ChannelAccount.objects.filter(id=account.id).update(credentials=credentials)
    account.credentials = credentials


def account_poll_lease(account_id: int, *, now, until) -> bool:
    """Take the account's next poll if it is due (a conditional UPDATE): True if ours."""
    return bool(
        ChannelAccount.objects.filter(id=account_id)
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .update(next_poll_at=until)
    )


def account_poll_schedule(account: ChannelAccount, at, *, succeeded: bool = False) -> None:
    """When to poll next; a poll that succeeded clears the error an earlier one left."""
    updates = {"next_poll_at": at}
    if succeeded:
        updates.update(last_error="", last_error_at=None)
    ChannelAccount.objects.filter(id=account.id).update(**updates)
