"""The supervisors' approvals queue, and the author's withdraw button (docs/approvals.md).

Views parse input, call one service, render: the rules are in inbox/services/approvals.py,
the sending in channels_adapters/approvals.py.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from channels_adapters.approvals import reply_draft_approve
from channels_adapters.base import ReplyRefused
from channels_adapters.outbound import PersonalDataInPublicReply
from inbox.models import Message, ReplyDraft
from inbox.permissions import SUPERVISE, team_ids_for_user
from inbox.services.approvals import (
    DraftNotPending,
    DraftNotSendable,
    draft_for_approver,
    drafts_to_approve,
    reply_draft_return,
    reply_draft_withdraw,
    user_may_approve,
)

# How much of the conversation the queue shows around each draft: the messages up to the one
# it was written against (the newest ones), and everything after it (what would supersede it).
CONTEXT_MESSAGES = 4
APPROVALS_PAGE_SIZE = 50


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=[("approve", "approve"), ("return", "return")])
    text = forms.CharField(required=False, strip=False, max_length=20000, label=gettext_lazy("Reply"))
    comment = forms.CharField(required=False, max_length=2000, label=gettext_lazy("Comment for the author"))
    confirm_public = forms.BooleanField(required=False)


def _context_messages(drafts: list[ReplyDraft]) -> None:
    """Attach ``draft.context`` (the last messages before and up to the draft's point) and
    ``draft.newer`` (what came after), for every draft in two queries, not two per draft."""
    by_conversation: dict[int, list[Message]] = {}
    ids = {d.conversation_id for d in drafts}
    if ids:
        ranked = (
            Message.objects.filter(conversation_id__in=ids)
            .annotate(rank=Window(RowNumber(), partition_by=[F("conversation_id")], order_by=[F("id").desc()]))
            .filter(rank__lte=CONTEXT_MESSAGES + 8)
            .select_related("author_contact", "author_user")
        )
        for message in ranked:
            by_conversation.setdefault(message.conversation_id, []).append(message)
    for draft in drafts:
        recent = sorted(by_conversation.get(draft.conversation_id, []), key=lambda m: (m.sent_at, m.id))
        draft.context = [m for m in recent if m.id <= draft.last_seen_message_id][-CONTEXT_MESSAGES:]
        draft.newer = [m for m in recent if m.id > draft.last_seen_message_id and m.direction != Message.Direction.NOTE]


@login_required
@require_GET
@never_cache
def approvals_queue(request):
    """Drafts waiting for the user's approval, oldest first (the longest wait on top)."""
    if not team_ids_for_user(request.user, SUPERVISE) and not request.user.has_perm(f"inbox.{SUPERVISE}"):
        raise PermissionDenied
    drafts = list(
        drafts_to_approve(request.user)
        .select_related("conversation", "conversation__account", "conversation__contact", "conversation__team",
                        "author", "saved_reply")
        .prefetch_related("conversation__tags")
        .order_by("submitted_at", "id")[:APPROVALS_PAGE_SIZE]
    )
    _context_messages(drafts)
    return render(request, "inbox/approvals.html", {"drafts": drafts, "approvals_section": True})


@login_required
@require_POST
def approval_decide(request, pk: int):
    """Approve (as written or edited) or return with a comment."""
    try:
        draft = draft_for_approver(request.user, pk)
    except ReplyDraft.DoesNotExist:
        raise Http404("No such draft.") from None
    if not user_may_approve(request.user, draft.conversation):
        raise PermissionDenied  # they see the team, so a 403 tells them nothing new
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose to approve or to return the draft."))
        return redirect("inbox:approvals")
    data = form.cleaned_data
    try:
        if data["action"] == "return":
            if not data["comment"].strip():
                messages.error(request, _("Say what the author should change: a returned draft needs a comment."))
                return redirect(f"{_approvals_url()}#draft-{draft.pk}")
            reply_draft_return(draft=draft, user=request.user, comment=data["comment"])
            messages.success(request, _("Draft returned to %(author)s with your comment.")
                             % {"author": draft.author.get_full_name() or draft.author.get_username()})
        else:
            reply_draft_approve(draft=draft, user=request.user, text=data["text"],
                                confirm_public=data["confirm_public"])
            messages.success(request, _("Approved: the reply is queued for sending."))
    except DraftNotPending as exc:
        messages.error(request, str(exc))
    except DraftNotSendable as exc:
        messages.error(request, _("Not sent: %(reason)s The author has been told.") % {"reason": exc.draft.outcome_reason})
    except PersonalDataInPublicReply as exc:
        messages.error(request, _("%(reason)s Tick the confirmation to publish it anyway.") % {"reason": exc})
    except ReplyRefused as exc:
        messages.error(request, str(exc) or _("The reply cannot be sent."))
    return redirect("inbox:approvals")


def _approvals_url() -> str:
    return reverse("inbox:approvals")


@login_required
@require_POST
def draft_withdraw(request, pk: int):
    """The author takes back their draft (from the composer)."""
    draft = ReplyDraft.objects.select_related("conversation").filter(pk=pk, author=request.user).first()
    if draft is None:
        raise Http404("No such draft.")
    try:
        reply_draft_withdraw(draft=draft, user=request.user)
        messages.success(request, _("Draft withdrawn: nothing was sent."))
    except DraftNotPending as exc:
        messages.error(request, str(exc))
    return redirect("inbox:conversation", pk=draft.conversation_id)

