"""The simulated platform: a social network that exists only for the demo and benchmarks.

It behaves like a real one where it matters: webhooks are signed (``X-Simulator-Signature``,
``sha256=`` + hex HMAC-SHA256 of the raw body), ids repeat on redelivery, events arrive
out of order, citizens edit and delete, and replies are accepted with a platform id.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest

from channels_adapters.base import (
    Action,
    Adapter,
    Attachment,
    DeliveryResult,
    Ignored,
    InboundAuthor,
    InboundMessage,
    MalformedPayload,
    ParseResult,
    ReplyOption,
    WebhookRejected,
    constant_time_equals,
)
from channels_adapters.confirmation import Confirmation, DeliveryWindow
from channels_adapters.readers import iso_time, json_object, opt_str, req_str
from inbox.models import ChannelAccount, Conversation, Message, RawEvent

SIGNATURE_HEADER = "X-Simulator-Signature"
KINDS = {"mention": ("mention", "public"), "comment": ("comment", "public"), "dm": ("dm", "private")}
ACTIONS = {"message": Action.CREATE, "edit": Action.EDIT, "delete": Action.DELETE}
MAX_LENGTH = 2000


def sign(body: bytes, secret: str | None = None) -> str:
    secret = secret or settings.SIMULATOR_SECRET
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _load(body: bytes) -> dict:
    data = json_object(body)
    if not isinstance(data.get("account_id"), str):
        raise MalformedPayload("expected an object with an account_id")
    if not isinstance(data.get("events"), list):
        raise MalformedPayload("expected an events list")
    return data


def _text(value, name: str, *, required: bool = True) -> str:
    return req_str(value, name) if required else opt_str(value, name)


class SimulatorAdapter(Adapter):
    platform = "simulator"
    label = "Simulator"
    kept_headers = ("Content-Type", "User-Agent", SIGNATURE_HEADER)

    def verify(self, request: HttpRequest) -> None:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise WebhookRejected("missing signature", status=401)
        if not constant_time_equals(signature, sign(request.body)):
            raise WebhookRejected("bad signature", status=403)

    def webhook_account_ids(self, body: bytes) -> list[str]:
        return [_load(body)["account_id"]]

    def parse(self, raw: RawEvent) -> ParseResult:
        data = _load(bytes(raw.body))
        result = ParseResult()
        for i, event in enumerate(data["events"]):
            result.read(f"events[{i}]", event, self._event, data["account_id"], event)
        return result

    def _event(self, account_id: str, event) -> InboundMessage | Ignored:
        if not isinstance(event, dict):
            raise MalformedPayload("each event must be an object")
        action = ACTIONS.get(event.get("type", "message"))
        if action is None:
            return Ignored(f"simulator.{event.get('type')}")  # likes, follows
        channel = event.get("channel", "mention")
        if channel not in KINDS:
            raise MalformedPayload(f"unknown channel {channel!r}")
        author = event.get("from") or {}
        if not isinstance(author, dict):
            raise MalformedPayload("from must be an object")
        if author.get("id") == account_id:
            return Ignored("simulator.own_post")  # the account's own posts
        kind, visibility = KINDS[channel]
        attachments = tuple(
            Attachment(type=_text(a.get("type"), "attachment type"), url=a.get("url", ""), name=a.get("name", ""))
            for a in event.get("attachments") or []
            if isinstance(a, dict)
        )
        return InboundMessage(
            platform=self.platform, account_external_id=account_id,
            external_id=_text(event.get("id"), "id"),
            thread_key=f"{channel}:{_text(event.get('thread_id'), 'thread_id')}",
            kind=kind, visibility=visibility,
            author=InboundAuthor(
                external_id=_text(author.get("id"), "from.id"),
                handle=_text(author.get("handle"), "from.handle", required=False),
                name=_text(author.get("name"), "from.name", required=False),
                profile={k: v for k, v in author.items() if k in ("location", "followers", "verified")},
            ),
            text=_text(event.get("text"), "text", required=action == Action.CREATE),
            sent_at=iso_time(event.get("created_at"), "created_at"), attachments=attachments,
            in_reply_to=_text(event.get("reply_to"), "reply_to", required=False),
            action=action,
        )

    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        options = []
        if conversation.kind == Conversation.Kind.PUBLIC:
            options.append(ReplyOption("public", "Public reply", Message.Kind.REPLY, Message.Visibility.PUBLIC, max_length=MAX_LENGTH))
        options.append(ReplyOption("private", "Private message", Message.Kind.DM, Message.Visibility.PRIVATE, max_length=MAX_LENGTH))
        return options

    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        # The simulated platform keys a reply by our message uuid, so a resend is the same post.
        return DeliveryResult(external_id=f"sim-out-{message.uuid}")

    def confirm_delivery(self, account, conversation, message, window: DeliveryWindow) -> Confirmation:
        # Simulated replies are keyed by our uuid and never lost: whatever was tried is there.
        return Confirmation.delivered(f"sim-out-{message.uuid}")
