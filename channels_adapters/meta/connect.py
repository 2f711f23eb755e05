"""Connecting Meta accounts: a Facebook Page and the Instagram account linked to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from channels_adapters.base import AdapterError
from channels_adapters.meta.client import MetaClient, app_client, app_subscribe
from inbox.models import ChannelAccount, Team
from inbox.queue import enqueue_on_commit
from inbox.services import channel_account_connect

logger = logging.getLogger(__name__)

PAGE_FIELDS = ["feed", "messages", "message_echoes", "message_edits"]
INSTAGRAM_FIELDS = ["comments", "mentions", "messages"]


@dataclass
class ConnectResult:
    accounts: list[ChannelAccount]
    warnings: list[str] = field(default_factory=list)


def page_connect(*, user, access_token: str, default_team: Team | None = None) -> ConnectResult:
    """Connect the Page a (long-lived) Page access token belongs to, and its Instagram account.

    The Page is subscribed to the app's webhook fields before anything is stored, so a
    connected account is one that receives updates; the first backfill runs after commit.
    Connecting again (a new token after expiry) updates the stored token and reactivates.
    """
    access_token = access_token.strip()
    client = MetaClient(access_token)
    me = client.me("id,name,username,instagram_business_account{id,username,name}")
    page_id = str(me["id"])
    client.object_id = page_id
    client.page_subscribe(page_id, PAGE_FIELDS)
    result = ConnectResult(accounts=[])
    instagram = me.get("instagram_business_account") or {}
    if instagram.get("id"):
        try:
            app_subscribe(
                app_client(), object_type="instagram", fields=INSTAGRAM_FIELDS,
                callback_url=settings.SITE_URL.rstrip("/") + reverse("webhooks:receive", args=["meta"]),
            )
        except AdapterError as exc:
            # The fields can also be set once in the App Dashboard; the Page itself is connected.
            result.warnings.append(f"Instagram webhook fields were not subscribed: {exc}")
    with transaction.atomic():
        page = _account_upsert(
            user, "facebook", page_id, name=me.get("name", page_id), handle=me.get("username", ""),
            credentials={"page_access_token": access_token}, default_team=default_team,
        )
        result.accounts.append(page)
        if instagram.get("id"):
            result.accounts.append(_account_upsert(
                user, "instagram", str(instagram["id"]),
                name=instagram.get("name") or instagram.get("username") or str(instagram["id"]),
                handle=instagram.get("username", ""),
                credentials={"page_access_token": access_token, "page_id": page_id}, default_team=default_team,
            ))
        for account in result.accounts:
            enqueue_on_commit("channels_adapters.poll_channel", account.id)
    return result


def _account_upsert(user, platform: str, external_id: str, *, name: str, handle: str, credentials: dict,
                    default_team: Team | None) -> ChannelAccount:
    return channel_account_connect(
        platform=platform, external_id=external_id, name=name, handle=handle, credentials=credentials,
        default_team=default_team, actor=user, method="page_token",
    )[0]

