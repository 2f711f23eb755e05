"""What officers do on Meta's platforms from the inbox: hide a citizen's comment."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from channels_adapters.base import InboundAuthor, InboundMessage
from channels_adapters.meta.adapter import client_for
from inbox.audit import audit_record
from inbox.inbound import Action
from inbox.models import Message
from inbox.permissions import REPLY, user_has_team_perm
from inbox.services import messages_ingest


def comment_hide(*, user, message: Message, reason: str) -> Message:
    """Hide a citizen's comment on Facebook or Instagram, with the reason, on the record.

    The comment stays in the inbox (with a "hidden" revision); only the public no longer
    sees it on the platform.
    """
    conversation = message.conversation
    if not user_has_team_perm(user, conversation.team, REPLY):
        raise PermissionDenied("You cannot act on this team's conversations.")
    reason = reason.strip()
    if not reason:
        raise ValueError("A reason is required to hide a comment.")
    account = message.account
    if (account.platform not in ("facebook", "instagram") or message.direction != Message.Direction.INBOUND
            or message.kind != Message.Kind.COMMENT or not message.external_id):
        raise ValueError("Only citizens' comments on the account's own posts can be hidden.")
    if message.hidden_at is not None:
        return message
    if not account.simulated:  # the simulated network takes the hide as given
        client_for(account).comment_hide(message.external_id, instagram=account.platform == "instagram")
    now = timezone.now()
    author = message.author_contact
    with transaction.atomic():
        # The same path as a "hide" webhook: the core keeps the revision (and a later webhook is a no-op).
        messages_ingest([(InboundMessage(
            platform=account.platform, account_external_id=account.external_id,
            external_id=message.external_id, thread_key=conversation.thread_key, kind=message.kind,
            visibility=message.visibility,
            author=InboundAuthor(external_id=author.external_id if author else "unknown"),
            text=message.text, sent_at=now, action=Action.HIDE,
        ), None)])
        audit_record(user, "message.hide", conversation, message_id=message.id, reason=reason,
                     external_id=message.external_id)
    message.refresh_from_db()
    return message
