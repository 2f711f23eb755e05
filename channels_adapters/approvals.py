"""Approving a held reply: the outbound path's second half (docs/approvals.md).

The rules and the draft's life are the core's (``inbox/services/approvals.py``); approving
needs the platform's view of the conversation (is the reply window still open?), so it
lives here, beside ``outbound.reply_submit``, and sends through the same once-only path:
the draft becomes an outbound ``Message`` with the idempotency key ``draft-<id>``, queued
and claimed by the send task like any reply. Two supervisors pressing Approve together
cannot send it twice: the draft's row is locked and must still be waiting.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_adapters.outbound import _reply_queue, reply_options, reply_reopened_follow
from inbox.models import Conversation, Message, ReplyDraft
from inbox.services.approvals import (
    DraftNotPending,
    DraftNotSendable,
    draft_superseding_messages,
    reply_draft_mark_approved,
    reply_draft_refuse,
    user_may_approve,
)


def reply_draft_approve(*, draft: ReplyDraft, user, text: str | None = None, confirm_public: bool = False) -> Message:
    """Approve the draft (with the supervisor's edit, if ``text`` differs) and queue it.

    Raises ``DraftNotPending`` if someone acted on it first, ``DraftNotSendable`` if the
    conversation moved on after the message it was written against or the platform no longer
    accepts the reply (the draft is closed and says why: that outcome is committed), and
    ``ReplyRefused`` for a problem with the text itself (too long, personal data), which the
    supervisor can correct: the draft then keeps waiting.
    """
    if not user_may_approve(user, draft.conversation):
        raise PermissionDenied("Only a supervisor of the team can approve its drafts.")
    refused: ReplyDraft | None = None
    with transaction.atomic():
        locked = ReplyDraft.objects.select_for_update(of=("self",)).select_related("saved_reply").get(pk=draft.pk)
        if locked.status != ReplyDraft.Status.PENDING:
            raise DraftNotPending(_("This draft is no longer waiting for approval (%(status)s).")
                                  % {"status": locked.get_status_display()})
        # The same lock an officer's reply takes (message_reply_collisions_check): a colleague's
        # answer is either committed before this check or waits for this approval to commit.
        conversation = Conversation.objects.select_for_update(of=("self",)).select_related("account", "team").get(
            pk=locked.conversation_id
        )
        newer = list(draft_superseding_messages(locked))
        if newer:
            citizen = sum(1 for m in newer if m.direction == Message.Direction.INBOUND)
            reason = (
                ngettext("The citizen wrote again after this draft was written.",
                         "The citizen wrote %(n)d more messages after this draft was written.", citizen)
                % {"n": citizen}
                if citizen == len(newer) else
                _("Someone answered the citizen after this draft was written.")
            )
            refused = reply_draft_refuse(locked, user=user, status=ReplyDraft.Status.SUPERSEDED, reason=reason,
                                         newer_messages=[m.id for m in newer])
        else:
            option = next((o for o in reply_options(conversation) if o.key == locked.option), None)
            if option is None or not option.available:
                reason = option.reason if option is not None else _("This channel no longer offers this reply.")
                refused = reply_draft_refuse(locked, user=user, status=ReplyDraft.Status.EXPIRED,
                                             reason=reason or _("The platform no longer accepts this reply."))
            else:
                final_text = locked.text if text is None or not text.strip() else text
                edited = final_text.strip() != locked.text.strip()
                message = _reply_queue(
                    conversation=conversation, user=locked.author, text=final_text, option_key=locked.option,
                    client_token=f"draft-{locked.pk}", confirm_public=locked.confirm_public or confirm_public,
                    saved_reply=locked.saved_reply,
                    approved={"approved_by": user.pk, "draft": locked.pk, "edited_on_approval": edited},
                )
                reply_draft_mark_approved(locked, user=user, message=message, edited=edited)
                # Approving an answer to a resolved conversation reopens it, as a direct reply does.
                reply_reopened_follow(message, conversation)
    if refused is not None:
        # Committed: the draft is closed and says why; the caller shows it.
        raise DraftNotSendable(refused)
    return message
