"""The simulated platform: a social network that exists only for the demo and benchmarks.

It behaves like a real one where it matters: webhooks are signed (see ``webhook.py``), ids
repeat on redelivery, events arrive out of order, citizens edit and delete, and replies are
accepted with a platform id.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.utils.translation import gettext as _

from channels_adapters.base import (
    Adapter,
    DeliveryResult,
    ParseResult,
    ReplyOption,
    SimulatedAccount,
)
from channels_adapters.confirmation import Confirmation, DeliveryWindow
from channels_adapters.simulator import payloads, simulate, webhook
from inbox.models import ChannelAccount, Conversation, Message, RawEvent

MAX_LENGTH = 2000


class SimulatorAdapter(Adapter):
    platform = "simulator"
    label = "Simulator"
    kept_headers = ("Content-Type", "User-Agent", webhook.SIGNATURE_HEADER)

    def verify(self, request: HttpRequest) -> None:
        webhook.verify(request)

    def webhook_account_ids(self, request: HttpRequest) -> list[str]:
        return payloads.account_ids(request.body)

    def parse(self, raw: RawEvent) -> ParseResult:
        return payloads.parse(bytes(raw.body), platform=self.platform)

    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        options = []
        if conversation.kind == Conversation.Kind.PUBLIC:
            options.append(ReplyOption("public", _("Public reply"), Message.Kind.REPLY, Message.Visibility.PUBLIC, max_length=MAX_LENGTH))
        options.append(ReplyOption("private", _("Private message"), Message.Kind.DM, Message.Visibility.PRIVATE, max_length=MAX_LENGTH))
        return options

    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        # The simulated platform keys a reply by our message uuid, so a resend is the same post.
        return DeliveryResult(external_id=f"sim-out-{message.uuid}")

    def confirm_delivery(self, account, conversation, message, window: DeliveryWindow) -> Confirmation:
        # Simulated replies are keyed by our uuid and never lost: whatever was tried is there.
        return Confirmation.delivered(f"sim-out-{message.uuid}")

    def simulated_accounts(self) -> list[SimulatedAccount]:
        return simulate.ACCOUNTS

    def simulated_payload(self, account: ChannelAccount, event: dict) -> tuple[bytes, dict[str, str]]:
        return simulate.payload(account.external_id, [event])
