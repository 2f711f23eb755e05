"""Connecting a mailbox: the IMAP login and folder, and the SMTP login, are tried first;
only a mailbox that answers both is stored, through the core's ``channel_account_connect``.
The account's platform id is its address (``from_address``)."""

from __future__ import annotations

import secrets

from django.db import transaction

from channels_adapters.email import client
from inbox.models import ChannelAccount, Team
from inbox.queue import enqueue_on_commit
from inbox.services import channel_account_connect

FIELDS = ("imap_host", "imap_port", "imap_security", "smtp_host", "smtp_port", "smtp_security", "username",
          "password", "smtp_username", "smtp_password", "from_address", "from_name", "folder")


def mailbox_check(credentials: dict) -> None:
    """Log in to both servers (raises AdapterError with what went wrong)."""
    with client.Mailbox(credentials):
        pass
    client.smtp_check(credentials)


def email_account_connect(*, user, credentials: dict, name: str, default_team: Team | None = None,
                          method: str = "connect_page") -> ChannelAccount:
    credentials = {k: credentials[k] for k in FIELDS if credentials.get(k) not in (None, "")}
    credentials["from_address"] = str(credentials["from_address"]).strip().lower()
    credentials.setdefault("folder", "INBOX")
    mailbox_check(credentials)
    credentials["webhook_secret"] = secrets.token_urlsafe(32)
    with transaction.atomic():
        account, _ = channel_account_connect(
            platform="email", external_id=credentials["from_address"], name=name or credentials["from_address"],
            handle="", credentials=credentials, default_team=default_team, actor=user,
            method=method,
        )
        enqueue_on_commit("channels_adapters.poll_channel", account.id)
    return account
