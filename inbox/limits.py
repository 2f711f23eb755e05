"""One set of limits and statuses for the officer UI and the API.

The forms (``inbox/forms.py``) and the serializers (``inbox/api/serializers.py``) both read
from here, and ``tests/test_working_faster.py`` proves that they agree: how long a note or a
reply may be, which statuses a user may set, what each value of the ``status`` filter means,
and how short a search may be.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from inbox.models import Conversation

# Texts an officer writes. A reply is also held to its platform's own limit (the adapter's
# ``validate_reply``); this one only keeps absurd input out.
NOTE_MAX_LENGTH = 10_000
REPLY_MAX_LENGTH = 20_000
REVIEW_COMMENT_MAX_LENGTH = 2_000

# What an officer may set by hand (conversation page, API, bulk actions). ``new`` is what the
# ingest gives; ``snoozed`` is set with a wake-up time (inbox/services/snooze.py), never alone.
SETTABLE_STATUSES = {
    Conversation.Status.OPEN: _("Reopen"),
    Conversation.Status.PENDING: _("Mark pending"),
    Conversation.Status.RESOLVED: _("Resolve"),
    Conversation.Status.SPAM: _("Mark as spam"),
}

# The queue lists what needs an officer: a snoozed conversation leaves it until it wakes.
QUEUE_STATUSES = (Conversation.Status.NEW, Conversation.Status.OPEN, Conversation.Status.PENDING)

# The ``status`` filter of the queue and of ``GET /api/v1/conversations/``.
STATUS_ACTIVE = "active"
STATUS_ALL = "all"
STATUS_FILTER_CHOICES = [
    (STATUS_ACTIVE, _("Active (new, open, pending; not snoozed)")),
    (STATUS_ALL, _("All")),
    *Conversation.Status.choices,
]
STATUS_FILTER_VALUES = frozenset(value for value, _label in STATUS_FILTER_CHOICES)


def status_filter_q(value: str) -> Q:
    """The condition a ``status`` filter value stands for; an unknown value is ``active``."""
    if value == STATUS_ALL:
        return Q()
    if value in Conversation.Status.values:
        return Q(status=value)
    return Q(status__in=QUEUE_STATUSES)


# Search (queue box and ``?search=``): under this many characters a text search would read
# every message; a reference (``#123`` or ``123``) is found at any length.
SEARCH_MIN_LENGTH = 3
SEARCH_MAX_LENGTH = 200

# Bulk actions: at most one page of the queue (and the API's page) at a time.
BULK_MAX_CONVERSATIONS = 200

# Tags an officer may put on one conversation.
TAGS_MAX_PER_CONVERSATION = 20
