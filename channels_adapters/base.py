"""The protocol every platform adapter implements, and the errors they raise.

An adapter is the only place that knows a platform's payloads. It turns bytes into
``InboundMessage`` values (parse), checks that a webhook really comes from the platform
(verify), fetches what webhooks may have missed (poll), and delivers an officer's answer
through the channel the citizen used (send).
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from channels_adapters.confirmation import Confirmation, DeliveryWindow
from inbox.inbound import Action, Attachment, InboundAuthor, InboundMessage
from inbox.models import ChannelAccount, Contact, Conversation, Message, RawEvent

__all__ = [
    "Action",
    "Adapter",
    "AdapterError",
    "Attachment",
    "DeliveryResult",
    "Ignored",
    "InboundAuthor",
    "InboundMessage",
    "MalformedPayload",
    "MessageAction",
    "ParseResult",
    "PollResult",
    "Quarantined",
    "Reachability",
    "ReplyOption",
    "ReplyRefused",
    "SimulatedAccount",
    "WebhookRejected",
    "constant_time_equals",
]


class WebhookRejected(Exception):
    """The request is not from the platform (or not for us); ``status`` is the HTTP answer."""

    def __init__(self, reason: str, status: int = 403):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class MalformedPayload(Exception):
    """The body is signed correctly but cannot be understood (400)."""


class AdapterError(Exception):
    """A platform call failed.

    ``permanent`` errors (bad request, revoked permission, duplicate) are not retried;
    transient ones are retried at ``retry_at`` when the platform said when (rate limits),
    or with back-off. ``needs_reconnect`` marks the account's grant as unusable.
    ``uncertain`` means the request may have reached the platform (a timeout after
    sending): the reply must not be sent again blindly. ``recipient_unreachable`` means the
    citizen can no longer receive this account's messages (they blocked a bot, closed their
    account): the conversation is marked unreachable, the account is fine.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_at: datetime | None = None,
        code: str = "",
        needs_reconnect: bool = False,
        uncertain: bool = False,
        recipient_unreachable: bool = False,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.retry_at = retry_at
        self.code = code
        self.needs_reconnect = needs_reconnect
        self.uncertain = uncertain
        self.recipient_unreachable = recipient_unreachable


class ReplyRefused(Exception):
    """The platform would refuse this reply (too long, outside the messaging window...)."""


# What reading one item of a payload can raise when the item is not what the platform
# documents: the item is quarantined with the reason; its neighbours are kept. (A database
# error is not among them: that is ours, and the whole event stays pending.)
ITEM_ERRORS = (MalformedPayload, ValueError, KeyError, TypeError, AttributeError, IndexError,
               OverflowError, RecursionError)


@dataclass(frozen=True)
class Quarantined:
    """An item of a delivery that could not be read, kept with its reason for replay."""

    locator: str  # where in the body: "entry[0].messaging[1]", "tweet_create_events[2]"
    reason: str
    fragment: Any  # the JSON of the item itself


@dataclass(frozen=True)
class Ignored:
    """An item of a kind the inbox does not keep on purpose (reads, likes, typing...)."""

    kind: str


@dataclass(frozen=True)
class Reachability:
    """The platform says whether a citizen can receive the account's messages in a thread
    (Telegram: the citizen blocked the bot, or started it again). Applied in order."""

    account_external_id: str
    thread_key: str
    reachable: bool
    reason: str = ""
    at: datetime | None = None


@dataclass
class ParseResult:
    """What one delivery or poll page held: read, quarantined, ignored on purpose.

    One unreadable item never sinks its neighbours: adapters read each item through
    ``read()``. A body that cannot be read at all raises ``MalformedPayload`` instead.
    """

    messages: list[InboundMessage] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    # Accounts whose grant the platform says was withdrawn: the pipeline marks them.
    reconnect_account_ids: list[str] = field(default_factory=list)
    # Threads whose citizen became unreachable (or reachable again): the pipeline marks them.
    reachability: list[Reachability] = field(default_factory=list)

    def read(self, locator: str, fragment: Any,
             reader: Callable[..., InboundMessage | Ignored | Reachability | None],
             *args: Any, **kwargs: Any) -> None:
        """Read one item with ``reader``; quarantine it if it cannot be read."""
        try:
            item = reader(*args, **kwargs)
        except ITEM_ERRORS as exc:
            self.quarantine(locator, fragment, exc)
            return
        if isinstance(item, Ignored):
            self.ignored.append(item.kind)
        elif isinstance(item, Reachability):
            self.reachability.append(item)
        elif item is not None:
            self.messages.append(item)

    def quarantine(self, locator: str, fragment: Any, exc: BaseException | str) -> None:
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.quarantined.append(Quarantined(locator=locator, reason=reason[:1000], fragment=fragment))


@dataclass(frozen=True)
class DeliveryResult:
    external_id: str
    sent_at: datetime | None = None


@dataclass(frozen=True)
class PollResult:
    """What one poll read. Each page is stored as a RawEvent(source=poll); an endpoint's new
    cursor is saved in the transaction that stores its pages' items, and only if every page
    of it could be read, so a page that fails is fetched again from the old cursor."""

    pages: dict[str, list[bytes]] = field(default_factory=dict)  # endpoint -> pages
    cursors: dict[str, dict] = field(default_factory=dict)  # endpoint -> new cursor
    next_poll_at: datetime | None = None


@dataclass(frozen=True)
class MessageAction:
    """A platform action on one message, offered next to it in the timeline (a link)."""

    label: str
    url: str


@dataclass(frozen=True)
class ReplyOption:
    """One way an officer can answer now, or why not (shown in the composer)."""

    key: str  # e.g. "public", "private"
    label: str
    kind: str  # Message.Kind of the outbound message
    visibility: str  # Message.Visibility
    available: bool = True
    reason: str = ""
    max_length: int | None = None
    # How the platform measures max_length, for the composer's live counter:
    # "characters", "x" (X's weighting: links 23, wide characters 2) or "bytes" (UTF-8).
    counting: str = "characters"


@dataclass(frozen=True)
class SimulatedAccount:
    """An account on the demo's simulated network, created by ``seed_demo``."""

    platform: str  # ChannelAccount.platform
    external_id: str
    name: str
    handle: str
    team: str = "general"  # slug of the demo team that answers it by default


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


class Adapter(ABC):
    """Base class; platform packages override what their platform supports.

    An abstract base class: an adapter that lacks one of the abstract methods cannot be
    instantiated, so a half-written one fails when the registry loads it (and in the test
    over every registered platform), not in a worker halfway through a delivery.
    """

    platform: ClassVar[str]
    label: ClassVar[str]
    # How the interface names each platform the adapter serves, when not ``label`` (one
    # adapter serves Facebook and Instagram): registry.platform_label() reads it.
    platform_labels: ClassVar[dict[str, str]] = {}
    webhook_slug: ClassVar[str | None] = None
    # Which headers of a webhook request are worth keeping with the RawEvent.
    kept_headers: ClassVar[tuple[str, ...]] = ("Content-Type", "User-Agent")
    # True when poll() fetches anything; beat then polls the platform's accounts.
    supports_polling: ClassVar[bool] = False
    # URL name of the page where an admin connects accounts of this platform, if any.
    connect_url_name: ClassVar[str | None] = None
    # Pages for citizens (no sign-in), if any: the package's ``public_urls.py`` is mounted at
    # ``/<public_url_prefix>/`` under the namespace ``<package>_public`` (the web contact
    # form: ``/contact/<form>/``). See channels_adapters/public_urls.py.
    public_url_prefix: ClassVar[str | None] = None

    def account_platforms(self) -> tuple[str, ...]:
        """ChannelAccount.platform values this adapter serves (Meta: facebook and instagram)."""
        return (self.platform,)

    def contact_name(self, account: ChannelAccount, contact: Contact) -> tuple[str, str] | None:
        """The citizen's (name, handle) asked from the platform, for contacts whose messages
        carry only an id (Messenger, Instagram): called in the background on a first message
        (channels_adapters/profiles.py). None: the platform does not tell. May raise
        AdapterError."""
        return None

    # --- inbound ---
    def handshake(self, request: HttpRequest) -> HttpResponse:
        """Answer a GET on the webhook URL (CRC, hub.challenge). Default: not allowed."""
        return HttpResponse(status=405)

    @abstractmethod
    def verify(self, request: HttpRequest) -> None:
        """Raise WebhookRejected unless the raw body is signed by the platform."""

    @abstractmethod
    def webhook_account_ids(self, request: HttpRequest) -> list[str]:
        """The platform ids of our accounts that a verified webhook request is addressed to.

        Most platforms name them in the body (``request.body``); some only in a header
        (Telegram's secret token tells bots apart). Raise MalformedPayload if the body cannot
        be read. An empty list is a 404.
        """

    def is_test_delivery(self, body: bytes) -> bool:
        """A platform's "send a test" delivery: answered 200 and not stored."""
        return False

    @abstractmethod
    def parse(self, raw: RawEvent) -> ParseResult:
        """Read every item of a delivery; raise MalformedPayload only if none can be read."""

    def poll(self, account: ChannelAccount) -> PollResult:
        return PollResult()

    # --- outbound ---
    @abstractmethod
    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        """The ways an officer can answer now, each with the reason when it is unavailable."""

    def validate_reply(self, conversation: Conversation, option: ReplyOption, text: str) -> None:
        if not text.strip():
            raise ReplyRefused(_("The reply is empty."))
        if option.max_length is not None and len(text) > option.max_length:
            raise ReplyRefused(_("The reply is %(count)s characters long; the limit is %(limit)s.")
                               % {"count": len(text), "limit": option.max_length})

    @abstractmethod
    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        """Deliver the reply through the citizen's channel; raise AdapterError on failure."""

    def allows_automatic_reply(self, conversation: Conversation) -> bool:
        """Whether the platform's rules let the account answer this conversation automatically
        (X: only a citizen who addressed the account). Default: yes."""
        return True

    def message_actions(self, message: Message) -> list[MessageAction]:
        """Platform actions on a message (hide a comment...); computed without queries."""
        return []

    def confirm_delivery(
        self, account: ChannelAccount, conversation: Conversation, message: Message, window: DeliveryWindow
    ) -> Confirmation:
        """After an uncertain failure: search the platform for the reply over ``window``.

        Answer delivered (with its platform id), absent (everything the account published
        in the window was read and the reply is not there) or unknown (the search could
        not complete). Raise ``AdapterError`` when the platform fails: that is "unknown" too.
        Only "absent" may lead to sending again, so an adapter says it only when it has read
        the whole window; see ``channels_adapters.confirmation``.
        """
        return Confirmation.unknown(f"{self.label} cannot be searched for a reply.")

    # --- the demo's simulated network (optional; see channels_adapters/simulator/) ---
    def simulated_accounts(self) -> list[SimulatedAccount]:
        """The demo accounts ``seed_demo`` creates for this platform; none: it is not simulated."""
        return []

    def simulated_payload(self, account: ChannelAccount, event: dict) -> tuple[bytes, dict[str, str]]:
        """One event of the simulator's citizen feed as the platform would POST it to
        ``/webhooks/<slug>/``: the signed body and its headers, so the demo runs through
        ``verify`` and ``parse`` like a real delivery. Required when ``simulated_accounts``
        returns any."""
        raise NotImplementedError(f"{self.label} cannot be simulated.")
