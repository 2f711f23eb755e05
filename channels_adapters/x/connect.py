"""Connecting X accounts and keeping their OAuth 2.0 tokens fresh.

X access tokens live two hours and refresh tokens are single-use: two workers refreshing
at once would burn the grant. The refresh therefore happens under a row lock, re-reading
the stored tokens first, and writes only the credentials column.
"""

from __future__ import annotations

import time

from django.db import transaction

from channels_adapters.base import AdapterError
from channels_adapters.x import client
from inbox.models import ChannelAccount
from inbox.services import account_credentials_set, channel_account_connect

REFRESH_MARGIN_SECONDS = 300


def _expiring(oauth2: dict, now: float) -> bool:
    expires_at = oauth2.get("expires_at")
    return bool(expires_at) and float(expires_at) - now < REFRESH_MARGIN_SECONDS


def x_credentials_fresh(account: ChannelAccount) -> dict:
    """The account's credentials, with the OAuth 2.0 access token refreshed if it expires soon.

    Raises AdapterError(needs_reconnect=True) when X no longer honours the grant.
    """
    credentials = account.credentials or {}
    oauth2 = credentials.get("oauth2")
    if not oauth2 or not _expiring(oauth2, time.time()):
        return credentials
    with transaction.atomic():
        locked = ChannelAccount.objects.select_for_update().only("id", "credentials").get(pk=account.pk)
        credentials = locked.credentials or {}
        oauth2 = credentials.get("oauth2") or {}
        if _expiring(oauth2, time.time()):  # another worker may have refreshed while we waited
            if not oauth2.get("refresh_token"):
                raise AdapterError(
                    "The X access token expired and there is no refresh token; an admin must reconnect the account.",
                    permanent=True, needs_reconnect=True, code="token-expired",
                )
            credentials = {**credentials, "oauth2": client.oauth2_refresh(oauth2["refresh_token"])}
            account_credentials_set(locked, credentials)
    account.credentials = credentials
    return credentials


def x_account_connect(*, user, credentials: dict, profile: dict, method: str) -> ChannelAccount:
    """Create or update the ChannelAccount for the X user in ``profile`` (from /2/users/me)."""
    external_id = profile["id"]
    account, _ = channel_account_connect(
        platform="x", external_id=external_id,
        name=profile.get("name") or profile.get("username") or external_id, handle=profile.get("username") or "",
        credentials=credentials, actor=user, method=method, scope=(credentials.get("oauth2") or {}).get("scope", ""),
    )
    return account
