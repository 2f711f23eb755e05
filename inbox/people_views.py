"""One citizen across channels in the browser (docs/people.md): link a suggested contact from
the citizen card, undo a link, write notes on the Person. Each view checks that the user may
answer the conversation it acts from; everything else is a 404, as for conversations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inbox.models import Contact, Conversation, Person, PersonLink
from inbox.permissions import (
    REPLY,
    SUPERVISE,
    can_manage_channels,
    team_ids_for_user,
    user_has_team_perm,
)
from inbox.selectors import conversation_for_user, conversations_for_user
from inbox.services.people import (
    LinkRefused,
    citizen_card,
    contacts_link,
    person_link_undo,
    person_notes_set,
)


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target + "#citizen-title")
    return redirect(fallback)


def _replyable_conversation(request, pk: int) -> Conversation:
    try:
        conversation = conversation_for_user(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404(_("No such conversation.")) from None
    if not user_has_team_perm(request.user, conversation.team, REPLY):
        raise PermissionDenied
    return conversation


def _replyable_person(request, pk: int) -> Person:
    """A Person with a conversation the user may answer; otherwise it does not exist for them."""
    replyable = team_ids_for_user(request.user, REPLY)
    if not conversations_for_user(request.user).filter(contact__person_id=pk, team_id__in=replyable).exists():
        raise Http404(_("No such person."))
    return Person.objects.get(pk=pk)


@login_required
@require_POST
def contact_link_view(request, pk: int):
    """Link the contact posted as ``contact`` to the citizen of conversation ``pk``."""
    conversation = _replyable_conversation(request, pk)
    other_id = request.POST.get("contact", "")
    if not other_id.isdigit():
        raise Http404(_("No such contact."))
    visible = conversations_for_user(request.user).filter(contact_id=int(other_id))
    other = Contact.objects.filter(pk=int(other_id), conversations__in=visible).distinct().first()
    if other is None:
        raise Http404(_("No such contact."))
    try:
        contacts_link(request.user, conversation.contact, other)
    except LinkRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Linked: %(who)s is now the same person on every channel. You can undo it on the card.")
                         % {"who": other.display})
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def person_link_undo_view(request, pk: int):
    link = PersonLink.objects.filter(pk=pk).first()
    if link is None or link.person_id is None:
        raise Http404(_("No such link."))
    _replyable_person(request, link.person_id)
    # Whoever made the link, or a supervisor or admin, may undo it.
    if link.actor_id != request.user.pk and not (can_manage_channels(request.user)
                                                  or team_ids_for_user(request.user, SUPERVISE)):
        raise PermissionDenied
    try:
        person_link_undo(request.user, link)
    except LinkRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The link was undone."))
    return _back(request, "inbox:queue")


@login_required
@require_POST
def person_notes_view(request, pk: int):
    person = _replyable_person(request, pk)
    try:
        person_notes_set(request.user, person, request.POST.get("notes", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Notes on the person saved."))
    return _back(request, "inbox:queue")


def citizen_card_context(request, conversation: Conversation, *, can_reply: bool) -> dict:
    """The citizen card of the conversation page (templates/inbox/_citizen_card.html)."""
    card = citizen_card(request.user, conversation, with_suggestions=can_reply)
    link = card.last_link
    may_undo = link is not None and can_reply and (
        link.actor_id == request.user.pk or can_manage_channels(request.user)
        or bool(team_ids_for_user(request.user, SUPERVISE))
    )
    return {"card": card, "card_may_undo": may_undo, "card_may_edit": can_reply}
