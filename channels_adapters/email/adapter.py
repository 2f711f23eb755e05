"""The e-mail channel: a mailbox read over IMAP, answers sent over SMTP.

Reading (``poll``): the account's folder is opened read-only and read by UID. The cursor,
``cursors["mailbox"] = {"uidvalidity": V, "last_uid": N}``, moves in the transaction that
stores the messages (``pipeline.poll_result_store``), so a crash before the commit reads the
same UIDs again and a restart neither skips nor repeats a message (Message-IDs make a second
read harmless anyway). A new UIDVALIDITY (the server renumbered the folder) reads it again
from the start. A poll reads at most ``EMAIL_POLL_BATCH`` messages (a mail bomb is read in
batches, each committed with its cursor) and asks to run again at once while more wait. When
the folder is up to date and the server offers IDLE, the poll waits there up to
``EMAIL_IDLE_SECONDS`` for new mail (like Telegram's long poll); without IDLE it polls every
``EMAIL_POLL_SECONDS``.

Threading (``_thread``): a message belongs to the conversation of any message it names in
``References``/``In-Reply-To`` (ours included: our answers' Message-IDs are their external
ids); if it names none we know, to the latest conversation with the same sender and the same
subject once Re:/Fwd:/AW:… are stripped, within ``EMAIL_SUBJECT_THREAD_DAYS``; else it opens
its own, keyed by the root of its references (so a reply read in the same batch as its
original joins it).

Answering (``send``): plain text, ``Subject: Re: …``, ``In-Reply-To`` the citizen's message,
``References`` its references plus its id, and our own Message-ID made from the outbound
message's uuid, so a retry sends the same id and the citizen's client shows one answer.
"""

from __future__ import annotations

import base64
import logging
from datetime import date, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from channels_adapters.base import (
    Adapter,
    Attachment,
    DeliveryResult,
    Ignored,
    InboundAuthor,
    InboundMessage,
    MalformedPayload,
    ParseResult,
    PollResult,
    ReplyOption,
    ReplyRefused,
    SimulatedAccount,
)
from channels_adapters.email import client, payloads, simulate, webhook
from inbox.models import ChannelAccount, Conversation, Message, RawEvent

logger = logging.getLogger(__name__)

MAILBOX = "mailbox"
MAX_LENGTH = 100_000
NO_REPLY_LOCALPARTS = {"noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon", "postmaster"}


def setting(name: str, default):
    return type(default)(getattr(settings, name, default))


def attachment_limit() -> int:
    return setting("EMAIL_MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024)


def encode_key(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_key(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()


def message_url(address: str, key: str) -> str:
    return reverse("email:message", args=[address, encode_key(key)])


def part_url(address: str, key: str, index: int) -> str:
    return reverse("email:part", args=[address, encode_key(key), index])


@lru_cache(maxsize=1024)
def _address(account_id: int) -> str:
    # An account's address never changes: one query per account and process.
    return ChannelAccount.objects.filter(id=account_id).values_list("external_id", flat=True).first() or ""


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(n // 1024, 1)} KB"


class EmailAdapter(Adapter):
    platform = "email"
    label = gettext_lazy("E-mail")
    webhook_slug = "email"
    supports_polling = True
    connect_url_name = "email:connect"
    kept_headers = ("Content-Type", "User-Agent", webhook.MAILBOX_HEADER)  # never the signature

    # --- inbound -------------------------------------------------------------------------
    def verify(self, request: HttpRequest) -> None:
        webhook.verify(request)

    def webhook_account_ids(self, request: HttpRequest) -> list[str]:
        if not request.body.strip():
            raise MalformedPayload("an empty message")
        named = webhook.mailbox(request)
        return [named] if named else []

    def parse(self, raw: RawEvent) -> ParseResult:
        address = _address(raw.account_id) if raw.account_id else ""
        if not address:
            raise MalformedPayload("the message is not addressed to a known mailbox")
        body = bytes(raw.body)
        result = ParseResult()
        fragment = {"bytes": len(body), "start": body[:2000].decode("utf-8", "replace")}
        result.read("message", fragment, self._message, body, raw.account_id, address)
        return result

    def _message(self, body: bytes, account_id: int, address: str) -> InboundMessage | Ignored:
        mail = payloads.read_mail(body)
        if not (mail.sender or mail.subject or mail.has_message_id or mail.parts):
            raise MalformedPayload("nothing readable: no sender, subject, Message-ID or attachment")
        refs = list(dict.fromkeys(k for k in [*mail.references, mail.in_reply_to, *mail.reported_ids]
                                  if k and k != mail.message_id))
        thread = _known_thread(account_id, refs)
        if mail.automatic and thread is None:
            return Ignored("email.automatic")  # never opens a conversation
        if thread is None and mail.sender:
            thread = _subject_thread(account_id, mail.sender, mail.subject)
        opening = thread is None
        if thread is None:
            thread = "mid:" + (refs[0] if refs else mail.message_id)
        text = payloads.latest_reply(mail.text)
        if opening and mail.subject:
            text = f"{mail.subject}\n\n{text}".strip()
        attachments = [Attachment(type="email", name="The whole e-mail (quoted text, signature, formatting)",
                                  url=message_url(address, mail.message_id), mime_type="message/rfc822")]
        for part in mail.parts:
            if part.removed:
                attachments.append(Attachment(
                    type="file", mime_type=part.content_type,
                    name=f"{part.name} — not kept: {part.removed.split(' bytes')[0]} bytes, over the "
                         f"{_size(attachment_limit())} limit"[:200]))
            else:
                attachments.append(Attachment(
                    type=part.content_type.split("/")[0] if part.content_type.startswith(
                        ("image/", "audio/", "video/")) else "file",
                    url=part_url(address, mail.message_id, part.index), name=f"{part.name} ({_size(part.size)})"[:200],
                    mime_type=part.content_type))
        if mail.automatic:
            attachments.append(Attachment(type=payloads.AUTO_NOTICE, name=(
                f"Automatic message ({mail.automatic}): no automatic answer is sent to it")[:200]))
        sender = mail.sender or "unknown-sender@invalid"
        return InboundMessage(
            platform=self.platform, account_external_id=address, external_id=mail.message_id,
            thread_key=thread, kind=Message.Kind.EMAIL, visibility=Message.Visibility.PRIVATE,
            author=InboundAuthor(external_id=sender[:100], handle=sender[:200], name=mail.sender_name,
                                 profile={"reply_to": mail.reply_to} if mail.reply_to else {}),
            text=text or "(no text)", sent_at=min(mail.date or timezone.now(), timezone.now()),
            attachments=tuple(attachments), in_reply_to=mail.in_reply_to,
        )

    def poll(self, account: ChannelAccount) -> PollResult:
        now = timezone.now()
        cursor = dict((account.cursors or {}).get(MAILBOX) or {})
        batch_size = setting("EMAIL_POLL_BATCH", 50)
        idle = setting("EMAIL_IDLE_SECONDS", 25)
        woken = False
        with client.Mailbox(account.credentials or {}) as box:
            if cursor.get("uidvalidity") != box.uidvalidity:
                if cursor.get("uidvalidity") is not None:
                    logger.warning("email %s: UIDVALIDITY changed; reading the folder again", account)
                first_days = setting("EMAIL_FIRST_POLL_DAYS", 14)
                cursor = {"uidvalidity": box.uidvalidity, "last_uid": 0,
                          "since": cursor.get("since") or (now - timedelta(days=first_days)).date().isoformat()}
            # SINCE bounds only the first read of a mailbox (not years of old mail); after
            # that the UIDs alone say what is new, whatever the messages' dates.
            since = date.fromisoformat(cursor["since"]) if cursor.get("since") and not cursor["last_uid"] else None
            uids = box.uids_after(int(cursor["last_uid"]), since=since)
            if not uids and box.can_idle and idle > 0:
                woken = box.wait(idle)
                if woken:
                    uids = box.uids_after(int(cursor["last_uid"]), since=since)
            batch = uids[:batch_size]
            raws = box.fetch(batch)
            idles = box.can_idle
        limit = attachment_limit()
        pages = [payloads.strip_oversize(raws[u], limit) for u in batch if raws.get(u)]
        if batch:
            cursor["last_uid"] = max(batch)
        more = len(uids) > len(batch)
        next_poll = now if (more or woken or idles) else now + timedelta(seconds=setting("EMAIL_POLL_SECONDS", 60))
        return PollResult(pages={MAILBOX: pages}, cursors={MAILBOX: cursor}, next_poll_at=next_poll)

    # --- outbound ------------------------------------------------------------------------
    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        return [ReplyOption("email", gettext("E-mail"), Message.Kind.EMAIL, Message.Visibility.PRIVATE,
                            max_length=MAX_LENGTH)]

    def validate_reply(self, conversation: Conversation, option: ReplyOption, text: str) -> None:
        super().validate_reply(conversation, option, text)
        if "@" not in (conversation.contact.external_id or "") or conversation.contact.external_id.endswith(
                "@invalid"):
            raise ReplyRefused(gettext("This e-mail has no sender address to answer."))

    def allows_automatic_reply(self, conversation: Conversation) -> bool:
        """Never to automatic mail (no loops between autoresponders), nor to no-reply addresses."""
        local = (conversation.contact.external_id or "").partition("@")[0].lower()
        if local in NO_REPLY_LOCALPARTS:
            return False
        latest = (conversation.messages.filter(direction=Message.Direction.INBOUND)
                  .order_by("-sent_at", "-id").values_list("attachments", flat=True).first())
        return not any(isinstance(a, dict) and a.get("type") == payloads.AUTO_NOTICE for a in latest or [])

    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        parent = _answered(conversation, message)
        mail = _read_stored(parent)
        to = (mail.reply_to or mail.sender) if mail else ""
        to = to or conversation.contact.external_id
        if mail:
            subject = mail.subject
            references = [*mail.references, mail.message_id]
            in_reply_to = mail.message_id
        else:
            subject = conversation.subject
            in_reply_to = parent.external_id if parent else ""
            references = list(conversation.messages.exclude(external_id=None).order_by("sent_at", "id")
                              .values_list("external_id", flat=True)[:20])
        sent = self.send_email(
            account, to=to, subject=subject, text=message.text, in_reply_to=in_reply_to,
            references=references, message_id=our_message_id(account, message),
            automatic=bool(message.automatic),
        )
        return DeliveryResult(external_id=sent.key, sent_at=sent.sent_at)

    def send_email(self, account: ChannelAccount, *, to: str, subject: str, text: str, in_reply_to: str = "",
                   references=(), message_id: str | None = None, automatic: bool = False) -> client.SentMail:
        """Send ``text`` to ``to`` through ``account``'s SMTP server, threaded after
        ``in_reply_to`` / ``references`` (documented in ``client.py`` for other packages)."""
        credentials = account.credentials or {}
        from_address = str(credentials.get("from_address") or account.external_id)
        mail = client.build_mail(
            from_address=from_address, from_name=str(credentials.get("from_name") or account.name),
            to=to, subject=payloads.reply_subject(subject) if in_reply_to else (subject or account.name),
            text=text, in_reply_to=in_reply_to, references=references, message_id=message_id, automatic=automatic,
        )
        return client.smtp_send(credentials, mail)

    # --- the demo's simulated network ----------------------------------------------------
    def simulated_accounts(self) -> list[SimulatedAccount]:
        return simulate.ACCOUNTS

    def simulated_payload(self, account: ChannelAccount, event: dict) -> tuple[bytes, dict[str, str]]:
        return simulate.email_payloads(event, account.external_id)


def our_message_id(account: ChannelAccount, message: Message) -> str:
    """Ours, from the outbound message's uuid: a retry resends the same Message-ID."""
    address = str((account.credentials or {}).get("from_address") or account.external_id)
    return f"<ci.{message.uuid}@{address.rpartition('@')[2] or 'localhost'}>"


def _known_thread(account_id: int, keys: list[str]) -> str | None:
    if not keys:
        return None
    found = dict(Message.objects.filter(account_id=account_id, external_id__in=keys)
                 .values_list("external_id", "conversation__thread_key"))
    # The nearest ancestor first: In-Reply-To and the end of References are the newest.
    return next((found[k] for k in reversed(keys) if k in found), None)


def _subject_thread(account_id: int, sender: str, subject: str) -> str | None:
    wanted = payloads.normalized_subject(subject)
    if not wanted:
        return None
    since = timezone.now() - timedelta(days=setting("EMAIL_SUBJECT_THREAD_DAYS", 30))
    candidates = (Conversation.objects.filter(account_id=account_id, contact__platform="email",
                                              contact__external_id=sender[:100], last_message_at__gte=since)
                  .order_by("-last_message_at").values_list("thread_key", "subject")[:20])
    for thread, conversation_subject in candidates:
        have = payloads.normalized_subject(conversation_subject)
        if have == wanted or have.startswith(wanted + " "):
            return thread
    return None


def _answered(conversation: Conversation, message: Message) -> Message | None:
    """The citizen's message this answers: the latest one a person wrote (never a bounce or
    an out-of-office, which would send the answer to MAILER-DAEMON), else the latest one."""
    inbound = list(conversation.messages.filter(direction=Message.Direction.INBOUND)
                   .select_related("raw_event").order_by("-sent_at", "-id")[:50])
    written = [m for m in inbound if not any(isinstance(a, dict) and a.get("type") == payloads.AUTO_NOTICE
                                             for a in m.attachments or [])]
    named = next((m for m in written if message.in_reply_to and m.external_id == message.in_reply_to), None)
    return named or (written or inbound or [None])[0]


def _read_stored(message: Message | None) -> payloads.Mail | None:
    if message is None or message.raw_event is None or not message.raw_event.body:
        return None
    mail = payloads.read_mail(bytes(message.raw_event.body))
    return mail if mail.message_id == message.external_id else None
