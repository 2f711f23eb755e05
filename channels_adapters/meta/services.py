"""What admins and officers do with Meta accounts: connect a Page, hide a comment."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from channels_adapters.base import AdapterError, InboundAuthor, InboundMessage
from channels_adapters.meta.adapter import client_for
from channels_adapters.meta.client import MetaClient, app_client, app_subscribe
from inbox.audit import audit_record
from inbox.inbound import Action
from inbox.models import ChannelAccount, Message, Team
from inbox.permissions import REPLY, user_has_team_perm
from inbox.queue import enqueue_on_commit
from inbox.services import channel_account_connect, messages_ingest

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


def comment_hide(*, user, message: Message, reason: str) -> Message:
    """Hide a citizen's comment on Facebook or Instagram, with the reason, on the record.

    The comment stays in the inbox (with a "hidden" revision); only the public no longer
    sees it on the platform.
    """
    conversation = message.conversation
    if not user_has_team_perm(user, conversation.team, REPLY):
        raise PermissionDenied("You cannot act on this team's conversations.")
    reason = reason.strip()
    if not reason:
        raise ValueError("A reason is required to hide a comment.")
    account = message.account
    if (account.platform not in ("facebook", "instagram") or message.direction != Message.Direction.INBOUND
            or message.kind != Message.Kind.COMMENT or not message.external_id):
        raise ValueError("Only citizens' comments on the account's own posts can be hidden.")
    if message.hidden_at is not None:
        return message
    if not account.simulated:  # the simulated network takes the hide as given
        client_for(account).comment_hide(message.external_id, instagram=account.platform == "instagram")
    now = timezone.now()
    author = message.author_contact
    with transaction.atomic():
        # The same path as a "hide" webhook: the core keeps the revision (and a later webhook is a no-op).
        messages_ingest([(InboundMessage(
            platform=account.platform, account_external_id=account.external_id,
            external_id=message.external_id, thread_key=conversation.thread_key, kind=message.kind,
            visibility=message.visibility,
            author=InboundAuthor(external_id=author.external_id if author else "unknown"),
            text=message.text, sent_at=now, action=Action.HIDE,
        ), None)])
        audit_record(user, "message.hide", conversation, message_id=message.id, reason=reason,
                     external_id=message.external_id)
    message.refresh_from_db()
    return message
