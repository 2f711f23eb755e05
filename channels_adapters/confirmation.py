"""Did a reply reach the platform? The question asked after an uncertain failure.

A send that timed out after the request left, or a worker killed mid-call, leaves a reply
that may or may not be on the platform. ``Adapter.confirm_delivery`` searches the platform
for it over a :class:`DeliveryWindow` and answers with a :class:`Confirmation`, one of:

- **delivered**: the reply is there (its platform id and time are kept);
- **absent**: the search read everything the account published in the window, back past
  its start, and the reply is not among it;
- **unknown**: the search could not complete (a platform error, the page budget spent
  before the window's start was reached, an endpoint that cannot be searched) or found
  something it cannot tell apart from the reply. Only this case needs an officer's eyes.

Whether "absent" is enough to send again is the outbound module's decision (it also
waits out the platforms' indexing delay); an adapter only reports what it read.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from inbox.models import Conversation, Message

# Our clock and the platform's may disagree by some seconds; the window is widened by
# this much on both sides, so a reply stamped slightly "before" we tried is still found.
CLOCK_SKEW = timedelta(minutes=2)
# Pages a search may read before it gives up as "unknown" (X: 100 posts a page).
MAX_SEARCH_PAGES = 10


@dataclass(frozen=True)
class DeliveryWindow:
    """When the platform may have received the reply, already widened by ``CLOCK_SKEW``.

    ``end`` is None when the search must run up to now: an attempt that never finished
    (a killed worker) has no end, and one being confirmed right after it failed ends now.
    """

    start: datetime
    end: datetime | None = None

    def contains(self, when: datetime | None) -> bool:
        if when is None:
            return False
        return when >= self.start and (self.end is None or when <= self.end)

    def __str__(self) -> str:
        end = f"{self.end:%Y-%m-%d %H:%M:%S}" if self.end else "now"
        return f"{self.start:%Y-%m-%d %H:%M:%S} to {end} UTC"


@dataclass(frozen=True)
class Confirmation:
    """What a search for one reply found: see the module docstring for the three answers."""

    external_id: str = ""  # the reply's platform id, when it was found
    sent_at: datetime | None = None
    complete: bool = False  # the whole window was read
    detail: str = ""  # what was read, or why it could not be: kept with the attempt

    @classmethod
    def delivered(cls, external_id: str, sent_at: datetime | None = None, detail: str = "") -> Confirmation:
        return cls(external_id=external_id, sent_at=sent_at, complete=True, detail=detail)

    @classmethod
    def absent(cls, detail: str) -> Confirmation:
        return cls(complete=True, detail=detail)

    @classmethod
    def unknown(cls, detail: str) -> Confirmation:
        return cls(complete=False, detail=detail)

    @property
    def is_delivered(self) -> bool:
        return bool(self.external_id)

    @property
    def is_absent(self) -> bool:
        return not self.external_id and self.complete


def other_reply_ids(conversation: Conversation, message: Message) -> set[str]:
    """Platform ids of the conversation's other replies: a post that is already one of them
    is not the reply being looked for, even with the same words ("Gràcies!" twice)."""
    return set(
        conversation.messages.filter(direction=Message.Direction.OUTBOUND)
        .exclude(id=message.id).exclude(external_id__isnull=True).exclude(external_id="")
        .values_list("external_id", flat=True)
    )


_LINK = re.compile(r"https?://\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def comparable_text(text: str, *, unescape: bool = False) -> str:
    """A text reduced to what survives the trip through a platform.

    Links become a placeholder (X wraps every link in t.co; previews may rewrite them),
    Unicode is composed (NFC, as X counts it) and runs of white space become one space.
    ``unescape`` undoes HTML entities, for platforms that return text escaped (X's API v2
    returns ``&`` ``<`` ``>`` as ``&amp;`` ``&lt;`` ``&gt;``); only the platform's side is
    unescaped, so a reply that really contains "&amp;" still matches.
    """
    if unescape:
        text = html.unescape(text)
    text = unicodedata.normalize("NFC", text)
    text = _LINK.sub("<link>", text)
    return _SPACE.sub(" ", text).strip()
