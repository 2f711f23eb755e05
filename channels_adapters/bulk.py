"""Bulk reply: one saved reply sent to each conversation of a queue selection.

There is no separate send path: each conversation gets ``reply_submit`` exactly as if the
officer had inserted the saved reply in its composer and pressed Send — through its own
channel (the first reply option the conversation offers now, as the composer proposes), in
the conversation's language when the saved reply has a version in it, with the variables
filled in, and through every guard of a single reply:

- personal data in a public reply: held back (never confirmed in bulk);
- the platform's window or the account's state: held back with the platform's reason;
- approval (``inbox/services/approvals.py``): held for a supervisor as a draft;
- collisions: a conversation in which anything arrived or was sent after the officer loaded
  the queue (``seen_at``) is held back, with what came;
- permissions: refused; another team's conversation: not found.

Each conversation is its own transaction. A ``bulk_token`` makes a resubmitted selection
idempotent (each reply's ``client_token`` is derived from it): the citizen never gets the
same bulk reply twice. The summary says what was sent, what waits for approval and what was
held back, and why; the run is audited as one act as well.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Max, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_adapters.base import ReplyRefused
from channels_adapters.outbound import reply_options, reply_submit
from inbox.models import Conversation, Message, ReplyDraft, SavedReply
from inbox.services import ReplyCollision, UnknownLastSeenMessage
from inbox.services.bulk import (
    HELD_BACK,
    HELD_FOR_APPROVAL,
    NOT_FOUND,
    REFUSED,
    SENT,
    BulkSummary,
    bulk_audit,
    bulk_conversations,
)


def reply_text_for(saved_reply: SavedReply, conversation: Conversation, user) -> str:
    """What the composer would insert: the version in the conversation's language, with the
    variables filled in (the reply library, inbox/services/library.py)."""
    try:
        from inbox.services import library
    except ImportError:  # the library's versions are not installed: the saved reply's text
        return saved_reply.body
    text = library.saved_reply_text(saved_reply, library.conversation_languages(conversation)).body
    return library.saved_reply_render(text, library.variable_values(conversation, user))


def last_seen_before(conversation: Conversation, seen_at: datetime | None) -> int | None:
    """The newest message of the conversation stored before the officer loaded the queue
    (ids grow with storage time); None: no collision check (an API client that sent none)."""
    if seen_at is None:
        return None
    return conversation.messages.filter(received_at__lte=seen_at).aggregate(m=Max("id"))["m"] or 0


def bulk_reply(*, user, conversation_ids, saved_reply_id: int, seen_at: datetime | None = None,
               bulk_token: str = "") -> BulkSummary:
    summary = BulkSummary("reply")
    token = (bulk_token or uuid.uuid4().hex)[:32]
    conversations, missing = bulk_conversations(user, conversation_ids)
    for conversation in conversations:
        saved = SavedReply.objects.filter(
            Q(team_id=conversation.team_id) | Q(team__isnull=True), id=saved_reply_id).first()
        if saved is None:
            summary.add(conversation.pk, REFUSED, _("This saved reply is not one of this conversation's team."))
            continue
        options = reply_options(conversation)
        option = next((o for o in options if o.available), None)
        if option is None:
            reason = options[0].reason if options else _("This channel offers no way to reply.")
            summary.add(conversation.pk, HELD_BACK, reason)
            continue
        try:
            result = reply_submit(
                conversation=conversation, user=user, text=reply_text_for(saved, conversation, user),
                option_key=option.key, client_token=f"bulk-{token}-{conversation.pk}",
                last_seen_message_id=last_seen_before(conversation, seen_at), saved_reply=saved,
            )
        except ReplyCollision as exc:
            summary.add(conversation.pk, HELD_BACK, ngettext(
                "A message arrived or was sent after you loaded the queue; open the conversation to answer.",
                "%(count)d messages arrived or were sent after you loaded the queue; open the conversation "
                "to answer.", len(exc.newer)) % {"count": len(exc.newer)})
        except UnknownLastSeenMessage:
            summary.add(conversation.pk, HELD_BACK, _("The queue was out of date; load it again."))
        except ReplyRefused as exc:
            summary.add(conversation.pk, HELD_BACK, str(exc) or _("The reply cannot be sent."))
        except PermissionDenied as exc:
            summary.add(conversation.pk, REFUSED, str(exc) or _("You cannot answer this team's conversations."))
        else:
            if isinstance(result, ReplyDraft):
                summary.add(conversation.pk, HELD_FOR_APPROVAL, _("Waiting for a supervisor's approval."),
                            draft_id=result.pk)
            elif isinstance(result, Message):
                reason = _("The conversation was resolved and is open again.") \
                    if getattr(result, "reopened_conversation", False) else ""
                summary.add(conversation.pk, SENT, reason, message_id=result.pk)
    for pk in missing:
        summary.add(pk, NOT_FOUND, _("No such conversation in your teams."))
    bulk_audit(user, summary, saved_reply=saved_reply_id, bulk_token=token,
               seen_at=seen_at.isoformat() if seen_at else None)
    return summary
