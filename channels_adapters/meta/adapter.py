"""Facebook Pages and Instagram professional accounts: one adapter, two account platforms.

Both share the Graph API, the webhook (``/webhooks/meta/``) and the Send API; a Page's
ChannelAccount has platform "facebook", an Instagram account's "instagram" (its replies
go out with the linked Page's token).

Where an answer can go, and Meta's rules for it:

- a comment thread: a public reply under the top-level comment, or one private reply
  (a Messenger / Instagram message) to the latest comment within 7 days of it;
- a Messenger / Instagram thread: a standard message within 24 hours of the citizen's last
  message, or, up to 7 days, a message tagged HUMAN_AGENT (a person answering, which is
  what officers are).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_adapters.base import (
    Adapter,
    AdapterError,
    DeliveryResult,
    MalformedPayload,
    MessageAction,
    ParseResult,
    PollResult,
    ReplyOption,
    ReplyRefused,
    SimulatedAccount,
)
from channels_adapters.confirmation import (
    MAX_SEARCH_PAGES,
    Confirmation,
    DeliveryWindow,
    comparable_text,
    other_reply_ids,
)
from channels_adapters.meta import payloads, simulate, webhook
from channels_adapters.meta.client import MetaClient
from channels_adapters.meta.payloads import Thread, is_test_delivery, parse_body, when
from inbox.models import ChannelAccount, Contact, Conversation, Message, RawEvent

logger = logging.getLogger(__name__)

MESSAGING_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
PRIVATE_REPLY_WINDOW = timedelta(days=7)
# Instagram counts a message's size in bytes, not characters.
INSTAGRAM_MESSAGE_BYTES = 1000
# Character limits of the Graph API per surface.
MAX_LENGTH = {
    ("fb", "public"): 8000, ("ig", "public"): 2200, ("fb", "private"): 2000, ("ig", "private"): 1000,
}


def page_id_for(account: ChannelAccount) -> str:
    """The Page whose token and Send API serve the account (an Instagram account's linked Page)."""
    if account.platform == "facebook":
        return account.external_id
    return str((account.credentials or {}).get("page_id", ""))


def client_for(account: ChannelAccount) -> MetaClient:
    return MetaClient((account.credentials or {}).get("page_access_token", ""), object_id=page_id_for(account))


def _ago(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return _("%(n)s days") % {"n": hours // 24}
    return _("%(n)s hours") % {"n": hours}


class MetaAdapter(Adapter):
    platform = "facebook"
    label = "Facebook & Instagram"
    platform_labels = {"facebook": "Facebook", "instagram": "Instagram"}
    webhook_slug = "meta"
    kept_headers = ("Content-Type", "User-Agent", webhook.SIGNATURE_HEADER)
    supports_polling = True
    connect_url_name = "meta:connect"

    def account_platforms(self) -> tuple[str, ...]:
        return ("facebook", "instagram")

    def contact_name(self, account: ChannelAccount, contact: Contact) -> tuple[str, str] | None:
        """Messenger and Instagram private messages carry only the sender's id: ask the Graph
        API for the name (Messenger: first and last name; Instagram: name and username)."""
        if not contact.external_id.isdigit():
            return None  # an anonymous or synthetic author: nothing to ask
        instagram = account.platform == "instagram"
        profile = client_for(account).user_profile(contact.external_id, instagram=instagram)
        if instagram:
            name, handle = str(profile.get("name") or ""), str(profile.get("username") or "")
        else:
            name = " ".join(str(profile.get(k) or "") for k in ("first_name", "last_name")).strip()
            handle = ""
        return (name, handle) if name or handle else None

    def message_actions(self, message: Message) -> list[MessageAction]:
        """A citizen's comment can be hidden on the platform (an audited action with a reason)."""
        if (message.direction != Message.Direction.INBOUND or message.kind != Message.Kind.COMMENT
                or message.hidden_at or message.deleted_at):
            return []
        url = reverse("meta:message_hide", args=[message.pk])
        next_url = reverse("inbox:conversation", args=[message.conversation_id])
        return [MessageAction("Hide comment", f"{url}?{urlencode({'next': next_url})}")]

    # --- inbound -------------------------------------------------------------------------

    def handshake(self, request: HttpRequest) -> HttpResponse:
        return webhook.handshake(request)

    def verify(self, request: HttpRequest) -> None:
        webhook.verify(request)

    def webhook_account_ids(self, request: HttpRequest) -> list[str]:
        return payloads.account_ids(request.body)

    def is_test_delivery(self, body: bytes) -> bool:
        return is_test_delivery(payloads.load(body))

    def parse(self, raw: RawEvent) -> ParseResult:
        return parse_body(payloads.load(bytes(raw.body)), mention_lookup=_mention_lookup)

    def poll(self, account: ChannelAccount) -> PollResult:
        from channels_adapters.meta.backfill import account_backfill

        return account_backfill(account, client_for(account), now=timezone.now())

    # --- outbound ------------------------------------------------------------------------

    def validate_reply(self, conversation: Conversation, option: ReplyOption, text: str) -> None:
        super().validate_reply(conversation, option, text)
        if option.counting == "bytes":
            size = len(text.encode("utf-8"))
            if size > INSTAGRAM_MESSAGE_BYTES:
                raise ReplyRefused(
                    _("Instagram limits a message to %(limit)s bytes of UTF-8; this one is "
                      "%(size)s (accented letters take 2 bytes, emoji 4). Shorten it or split it.")
                    % {"limit": INSTAGRAM_MESSAGE_BYTES, "size": size}
                )

    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        thread = Thread.parse(conversation.thread_key)
        if thread.kind == "dm":
            return self._message_options(conversation, thread, now)
        return self._comment_options(conversation, thread, now)

    def _comment_options(self, conversation: Conversation, thread: Thread, now: datetime) -> list[ReplyOption]:
        inbound = conversation.messages.filter(direction=Message.Direction.INBOUND)
        public = ReplyOption(
            "public", _("Public reply to the mention") if thread.kind == "mention" else _("Public reply in the thread"),
            Message.Kind.REPLY, Message.Visibility.PUBLIC, max_length=MAX_LENGTH[(thread.network, "public")],
        )
        if inbound.filter(external_id=thread.comment, deleted_at__isnull=False).exists():
            public = _unavailable(public, _("The comment that started this thread was deleted; "
                                            "a reply can no longer be posted under it."))
        elif thread.instagram and inbound.filter(external_id=thread.comment, hidden_at__isnull=False).exists():
            public = _unavailable(public, _("The comment that started this thread is hidden; "
                                            "Instagram does not allow replies to hidden comments."))
        private = ReplyOption(
            "private", _("Private reply (one message to the author of the latest comment)"),
            Message.Kind.DM, Message.Visibility.PRIVATE, max_length=MAX_LENGTH[(thread.network, "private")],
            counting="bytes" if thread.instagram else "characters",
        )
        target = inbound.order_by("-sent_at", "-id").only("external_id", "sent_at", "deleted_at").first()
        if thread.kind == "mention":
            private = _unavailable(private, _("Instagram does not allow private replies to mentions."))
        elif target is None:
            private = _unavailable(private, _("There is no citizen comment to answer privately."))
        elif target.deleted_at is not None:
            private = _unavailable(private, _("The latest comment was deleted; it cannot be answered privately."))
        elif now - target.sent_at > PRIVATE_REPLY_WINDOW:
            private = _unavailable(
                private, _("Meta allows a private reply only within 7 days of the comment; "
                           "the latest comment is %(age)s old.") % {"age": _ago(now - target.sent_at)},
            )
        elif _private_reply_exists(conversation, target.external_id):
            private = _unavailable(private, _("This comment already has a private reply; Meta allows only one."))
        return [public, private]

    def _message_options(self, conversation: Conversation, thread: Thread, now: datetime) -> list[ReplyOption]:
        limit = MAX_LENGTH[(thread.network, "private")]
        counting = "bytes" if thread.instagram else "characters"
        standard = ReplyOption("message", _("Message"), Message.Kind.DM, Message.Visibility.PRIVATE,
                               max_length=limit, counting=counting)
        tagged = ReplyOption(
            "human_agent", _("Message outside the 24-hour window (human agent)"), Message.Kind.DM,
            Message.Visibility.PRIVATE, max_length=limit, counting=counting,
        )
        last = _last_inbound_at(conversation)
        if last is None:
            reason = _("The citizen has not written in this conversation.")
            return [_unavailable(standard, reason), _unavailable(tagged, reason)]
        age = now - last
        if age <= MESSAGING_WINDOW:
            return [standard, _unavailable(tagged, _("Not needed: the 24-hour window is open, send a standard message."))]
        if age <= HUMAN_AGENT_WINDOW:
            closed = _("The 24-hour window closed %(closed)s ago (the citizen last wrote %(age)s ago). "
                       "Use the human-agent message, possible for 7 days.")
            return [_unavailable(standard, closed % {"closed": _ago(age - MESSAGING_WINDOW), "age": _ago(age)}), tagged]
        reason = _("The citizen last wrote %(age)s ago; Meta allows answers only within 7 days. "
                   "The conversation can continue when the citizen writes again.") % {"age": _ago(age)}
        return [_unavailable(standard, reason), _unavailable(tagged, reason)]

    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        try:
            thread = Thread.parse(conversation.thread_key)
        except ValueError as exc:
            raise AdapterError(str(exc), permanent=True, code="thread") from exc
        client = client_for(account)
        now = timezone.now()
        if message.visibility == Message.Visibility.PUBLIC:
            if thread.kind == "mention":
                # A caption mention's thread is the post itself: the reply names no comment.
                comment = "" if thread.comment == thread.media else thread.comment
                external_id = client.mention_reply(account.external_id, thread.media, comment, message.text)
            elif thread.kind == "comment":
                external_id = client.comment_reply(thread.comment, message.text, instagram=thread.instagram)
            else:
                raise AdapterError("A private conversation has no public reply.", permanent=True, code="kind")
        elif thread.kind in ("comment", "mention"):
            comment_id = message.in_reply_to or thread.comment
            target = conversation.messages.filter(
                direction=Message.Direction.INBOUND, external_id=comment_id
            ).only("sent_at").first()
            if target is None or now - target.sent_at > PRIVATE_REPLY_WINDOW:
                raise AdapterError("A private reply is possible only within 7 days of the comment.",
                                   permanent=True, code="window")
            if _private_reply_exists(conversation, comment_id, exclude=message.id, sent_only=True):
                raise AdapterError("This comment already has a private reply; Meta allows only one.",
                                   permanent=True, code="private-reply-used")
            external_id = client.message_send(page_id_for(account), recipient={"comment_id": comment_id},
                                              text=message.text)
        else:
            last = _last_inbound_at(conversation)
            age = now - last if last else None
            if age is not None and age <= MESSAGING_WINDOW:
                kind = {"messaging_type": "RESPONSE"}
            elif age is not None and age <= HUMAN_AGENT_WINDOW:
                # A retry can cross the 24-hour line; an officer is a human agent, so the tag applies.
                kind = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
            else:
                raise AdapterError("Outside Meta's messaging window: the citizen last wrote more than 7 days ago.",
                                   permanent=True, code="window")
            external_id = client.message_send(page_id_for(account), recipient={"id": thread.user},
                                              text=message.text, **kind)
        return DeliveryResult(external_id=external_id, sent_at=timezone.now())

    def confirm_delivery(
        self, account: ChannelAccount, conversation: Conversation, message: Message, window: DeliveryWindow
    ) -> Confirmation:
        """Search Meta for a reply whose send ended in doubt, over the attempts' time window.

        A public reply is looked for among the replies to the top-level comment (Facebook
        ``/{comment}/comments``, newest first when Meta does not rank them; Instagram
        ``/{comment}/replies``), following ``paging.next``. The comment edges take no time
        filter and Meta may rank comments whatever ``order`` says, so the search is complete
        only when the edge is read to its last page (Meta: a page without ``next``); within
        ``MAX_SEARCH_PAGES`` pages of 100, which one comment's replies do not outgrow.

        A private message (Messenger, Instagram, or a private reply to a comment) is looked
        for among the conversation's messages, newest first. Meta gives the details of only
        the 20 most recent messages of a conversation, so the search is complete when those
        reach back past the window's start, or are the whole conversation.

        An item is the reply when it is ours (the Page or the Instagram account), in the
        window, not already another reply of ours, with the same words. An item in the
        window that may be ours (or whose author Meta does not show) with other words makes
        the answer "unknown", never "absent": absence may lead to sending again. Instagram
        mention replies cannot be searched (the reply sits on someone else's media).
        """
        try:
            thread = Thread.parse(conversation.thread_key)
        except ValueError as exc:
            return Confirmation.unknown(str(exc))
        client = client_for(account)
        search = _ReplySearch(
            ours={account.external_id, page_id_for(account)}, taken=other_reply_ids(conversation, message),
            wanted=comparable_text(message.text), window=window,
        )
        if message.visibility == Message.Visibility.PUBLIC and thread.kind == "comment":
            edge, args = ("replies", {"fields": "id,text,timestamp,from"}) if thread.instagram else (
                "comments", {"fields": "id,message,created_time,from", "order": "reverse_chronological"})
            for page in client.pages_following_next(f"{thread.comment}/{edge}", max_pages=MAX_SEARCH_PAGES,
                                                    limit=100, **args):
                found = search.read(page.get("data"))
                if found is not None:
                    return found
                if not (page.get("paging") or {}).get("next"):
                    return search.finish(complete=True)
            return search.finish(complete=False, why=f"Meta has more than {search.read_count} replies under "
                                                     "the comment; not all of them could be read.")
        if message.visibility == Message.Visibility.PRIVATE:
            user = thread.user or _author_of(conversation, message.in_reply_to)
            if not user:
                return Confirmation.unknown("The citizen's id for the conversation is not known.")
            args = {"platform": "instagram"} if thread.instagram else {}
            result = client.get(f"{page_id_for(account)}/conversations", user_id=user,
                                fields=f"messages.limit({MESSAGE_DETAILS_LIMIT}){{id,message,created_time,from}}",
                                **args)
            threads = [c for c in result.get("data") or [] if isinstance(c, dict)]
            if not threads:
                return Confirmation.unknown("Meta shows no conversation with the citizen.")
            complete = True
            for found_thread in threads:
                messages = found_thread.get("messages") if isinstance(found_thread.get("messages"), dict) else {}
                found = search.read(messages.get("data"))
                if found is not None:
                    return found
                whole = not (messages.get("paging") or {}).get("next")
                complete = complete and (whole or search.reached_start)
            return search.finish(complete=complete, why=f"The conversation has more than {MESSAGE_DETAILS_LIMIT} "
                                                        f"messages since {window.start:%H:%M} UTC; Meta shows only "
                                                        "the most recent ones.")
        return Confirmation.unknown("Meta offers no way to search for an Instagram mention reply.")

    # --- the demo's simulated network ---
    def simulated_accounts(self) -> list[SimulatedAccount]:
        return simulate.ACCOUNTS

    def simulated_payload(self, account: ChannelAccount, event: dict) -> tuple[bytes, dict[str, str]]:
        return simulate.meta_payloads(event, account.external_id, account.platform)


# Meta shows the details of only the 20 most recent messages of a conversation.
MESSAGE_DETAILS_LIMIT = 20


class _ReplySearch:
    """Reads Graph API items (comments or messages) for one reply; see ``confirm_delivery``."""

    def __init__(self, *, ours: set[str], taken: set[str], wanted: str, window: DeliveryWindow):
        self.ours, self.taken, self.wanted, self.window = ours - {""}, taken, wanted, window
        self.read_count = 0
        self.reached_start = False  # an item older than the window was seen
        self.other = ""  # an item that may be ours, with other words

    def read(self, items) -> Confirmation | None:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            self.read_count += 1
            item_id = str(item["id"])
            stamp = item.get("created_time") or item.get("timestamp")
            try:
                created = when(stamp) if stamp else None
            except MalformedPayload:
                created = None
            author = item.get("from") if isinstance(item.get("from"), dict) else {}
            author_id = str(author.get("id") or "")
            if created is not None and created < self.window.start:
                self.reached_start = True
                continue
            if item_id in self.taken or (author_id and author_id not in self.ours):
                continue
            if created is None or not self.window.contains(created):
                if created is None:
                    self.other = self.other or item_id  # ours, perhaps, at an unknown time
                continue
            text = item.get("message") if "message" in item else item.get("text")
            if author_id and comparable_text(text if isinstance(text, str) else "") == self.wanted:
                return Confirmation.delivered(item_id, created, f"found on Meta among {self.read_count} items")
            self.other = self.other or item_id
        return None

    def finish(self, *, complete: bool, why: str = "") -> Confirmation:
        if not complete:
            return Confirmation.unknown(why)
        if self.other:
            return Confirmation.unknown(f"Meta has another item that may be ours ({self.other}) from "
                                        f"{self.window}, with other words.")
        return Confirmation.absent(f"all {self.read_count} items on Meta were read back past {self.window.start:%H:%M} "
                                   "UTC; the reply is not among them")


def _unavailable(option: ReplyOption, reason: str) -> ReplyOption:
    return replace(option, available=False, reason=reason)


def _last_inbound_at(conversation: Conversation) -> datetime | None:
    # Meta counts the window from the citizen's last message, deleted or not.
    return conversation.messages.filter(direction=Message.Direction.INBOUND).aggregate(
        last=Max("sent_at")
    )["last"]


def _private_reply_exists(conversation: Conversation, comment_id: str, *, exclude: int | None = None,
                          sent_only: bool = False) -> bool:
    replies = conversation.messages.filter(
        direction=Message.Direction.OUTBOUND, visibility=Message.Visibility.PRIVATE, in_reply_to=comment_id
    )
    if exclude is not None:
        replies = replies.exclude(id=exclude)
    if sent_only:
        return replies.filter(delivery_status=Message.Delivery.SENT).exists()
    # A queued or sending reply counts: it will use the one private reply.
    return replies.exclude(delivery_status=Message.Delivery.FAILED).exists()


def _author_of(conversation: Conversation, external_id: str) -> str:
    message = conversation.messages.filter(external_id=external_id).select_related("author_contact").first()
    return message.author_contact.external_id if message and message.author_contact else ""


def _mention_lookup(ig_account_id: str, media_id: str, comment_id: str) -> dict | None:
    """Fetch the comment (or, for a caption mention, the post) an Instagram mention webhook
    only names. None if it cannot be had."""
    account = ChannelAccount.objects.filter(platform="instagram", external_id=ig_account_id).first()
    if account is None or account.simulated:
        return None
    edge, fields = (
        ("mentioned_comment", f"mentioned_comment.comment_id({comment_id}){{id,text,timestamp,username}}")
        if comment_id else
        ("mentioned_media", f"mentioned_media.media_id({media_id}){{id,caption,timestamp,username}}")
    )
    try:
        found = client_for(account).get(ig_account_id, fields=fields)
    except AdapterError as exc:
        logger.warning("meta: cannot fetch mentioned %s %s: %s", edge, comment_id or media_id, exc)
        return None
    item = found.get(edge)
    return item if isinstance(item, dict) else None
