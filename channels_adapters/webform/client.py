"""The only module through which the contact form sends anything: answers by e-mail.

The form talks to no platform of its own. An answer leaves through the e-mail channel
account set on the form (``config.FormConfig.answer_account``), with the e-mail channel's
documented call, reached through the registry (``channels_adapters/email/client.py``):
``get_adapter("email").send_email(...)``. Its errors are ``AdapterError``s already
(permanent, needs_reconnect, uncertain, recipient_unreachable), passed on as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from channels_adapters.base import AdapterError
from channels_adapters.registry import UnknownPlatform, get_adapter
from inbox.models import ChannelAccount

EMAIL = "email"


@dataclass(frozen=True)
class Sent:
    key: str  # the Message-ID as stored (Message.external_id)
    sent_at: datetime


def email_account(external_id: str) -> ChannelAccount | None:
    if not external_id:
        return None
    return ChannelAccount.objects.filter(platform=EMAIL, external_id=external_id).first()


def email_send(account: ChannelAccount, *, to: str, subject: str, text: str, message_id: str) -> Sent:
    """Send ``text`` to ``to`` through the e-mail channel ``account``. ``message_id`` is ours and
    stable for one answer, so a retry after an uncertain failure sends the same mail again."""
    try:
        adapter = get_adapter(EMAIL)
    except UnknownPlatform:
        raise AdapterError("The e-mail channel is not installed (settings.CHANNEL_ADAPTERS).",
                           permanent=True, code="no-email-channel") from None
    sent = adapter.send_email(account, to=to, subject=subject, text=text, message_id=message_id)
    return Sent(key=sent.key, sent_at=sent.sent_at)
