"""Citizens' names asked from the platform when a message carries only an id (Messenger and
Instagram private messages): on a citizen's first conversation, in the background, once.

``contact_names_request`` runs in the ingest transaction and enqueues, on commit, one task
per account with the contacts of the new conversations that have no name. The task asks the
adapter (``Adapter.contact_name``, through the platform's SDK client) and stores the name with
``inbox.services.people.contact_name_set``, which never overwrites a name the platform sent.
A refusal (no permission, the user's privacy settings) leaves the contact as it was.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from channels_adapters.base import AdapterError
from channels_adapters.registry import get_adapter
from inbox.models import ChannelAccount, Contact, Conversation
from inbox.queue import enqueue_on_commit
from inbox.services.people import contact_name_set

logger = logging.getLogger(__name__)

TASK = "channels_adapters.contact_names_fetch"
PLATFORMS = ("facebook", "instagram")  # whose private messages carry no name


def contact_names_request(new_conversation_ids: Sequence[int]) -> int:
    """Enqueue the name look-ups for the new conversations' unnamed contacts (one query)."""
    if not new_conversation_ids:
        return 0
    rows = (
        Conversation.objects.filter(
            id__in=list(new_conversation_ids), kind=Conversation.Kind.PRIVATE, account__platform__in=PLATFORMS,
            contact__name="", account__simulated=False,
        ).values_list("account_id", "contact_id")
    )
    by_account: dict[int, set[int]] = defaultdict(set)
    for account_id, contact_id in rows:
        by_account[account_id].add(contact_id)
    for account_id, contact_ids in by_account.items():
        enqueue_on_commit(TASK, account_id, sorted(contact_ids))
    return sum(len(ids) for ids in by_account.values())


def contact_names_fetch(account_id: int, contact_ids: Sequence[int]) -> int:
    """Ask the platform for each contact's name; the number of contacts named."""
    account = ChannelAccount.objects.filter(pk=account_id, status=ChannelAccount.Status.ACTIVE).first()
    if account is None:
        return 0
    adapter = get_adapter(account.platform)
    named = 0
    for contact in Contact.objects.filter(pk__in=list(contact_ids), name="").order_by("pk"):
        try:
            found = adapter.contact_name(account, contact)
        except AdapterError as exc:
            logger.info("contact names: %s did not name contact %s: %s", account, contact.pk, exc)
            if exc.retry_at is not None:
                break  # rate limited: the remaining ones keep their id until their next conversation
            continue
        if found is not None and contact_name_set(contact, name=found[0], handle=found[1]):
            named += 1
    return named
