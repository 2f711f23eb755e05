"""The reply library in the browser (docs/library.md).

- ``/inbox/library/``: admins and supervisors list, filter, create, edit and delete saved
  replies (supervisors those of their teams only); every change is audited by the service.
- ``/inbox/c/<id>/saved-replies/?q=``: the composer's search by keystroke (an HTML fragment
  of listbox options, escaped by the template), only replies usable on that conversation.
- ``/inbox/c/<id>/saved-replies/<sid>/text/``: the text to insert, in the conversation's
  language (else the account's default), with its variables filled in, as JSON.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.library_forms import LibraryFilterForm, SavedReplyForm, VersionFormSet
from inbox.models import Conversation, SavedReply, Team
from inbox.permissions import REPLY, user_has_team_perm
from inbox.selectors import conversation_for_user
from inbox.services.library import (
    VersionInput,
    can_manage_library,
    conversation_languages,
    language_code,
    library_team_ids,
    saved_replies_manageable,
    saved_replies_search,
    saved_replies_usable,
    saved_replies_visible,
    saved_reply_delete,
    saved_reply_render,
    saved_reply_save,
    saved_reply_text,
    variable_values,
)
from routing.calendars import opening_hours_text

LIST_SIZE = 200


def _manager_or_403(request) -> None:
    if not can_manage_library(request.user):
        raise PermissionDenied


def _teams(user):
    ids = library_team_ids(user)
    teams = Team.objects.only("id", "name").order_by("name")
    return teams if ids is None else teams.filter(id__in=ids)


@login_required
@require_GET
@never_cache
def library_list(request):
    _manager_or_403(request)
    teams = list(_teams(request.user))
    form = LibraryFilterForm(request.GET or None, teams=teams)
    qs = saved_replies_manageable(request.user)
    if form.is_valid():
        data = form.cleaned_data
        if data["kind"]:
            qs = qs.filter(kind=data["kind"])
        if data["language"]:
            qs = qs.filter(Q(language=data["language"]) | Q(versions__language=data["language"]))
        if data["team"] == "global":
            qs = qs.filter(team__isnull=True)
        elif data["team"]:
            qs = qs.filter(team_id=data["team"])
        for word in data["q"].split()[:5]:
            qs = qs.filter(Q(title__icontains=word) | Q(body__icontains=word) | Q(versions__body__icontains=word))
    replies = list(
        qs.distinct().select_related("team").prefetch_related("versions").order_by("title", "id")[:LIST_SIZE]
    )
    return render(request, "inbox/library.html", {
        "form": form, "replies": replies, "limit": LIST_SIZE,
        "all_teams_allowed": library_team_ids(request.user) is None,
    })


def _reply_for_manager(request, pk: int) -> SavedReply:
    """A saved reply outside the user's teams does not exist for them: a 404, whatever their
    role (as in the API); one they may read but not manage (their team's, as an officer; a
    shared one, as a supervisor) is a 403."""
    try:
        saved = saved_replies_visible(request.user).select_related("team").get(pk=pk)
    except SavedReply.DoesNotExist:
        raise Http404(_("No such saved reply.")) from None
    if not saved_replies_manageable(request.user).filter(pk=saved.pk).exists():
        raise PermissionDenied
    return saved


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def library_edit(request, pk: int | None = None):
    if pk is None:
        _manager_or_403(request)
    saved = _reply_for_manager(request, pk) if pk is not None else None
    all_teams_allowed = library_team_ids(request.user) is None
    teams = _teams(request.user)
    if request.method == "POST":
        form = SavedReplyForm(request.POST, teams=teams, all_teams_allowed=all_teams_allowed)
        versions = VersionFormSet(request.POST, prefix="versions")
        if form.is_valid() and versions.is_valid():
            data = form.cleaned_data
            try:
                saved = saved_reply_save(
                    request.user, saved_reply=saved, title=data["title"], body=data["body"], kind=data["kind"],
                    team=data["team"], language=data["language"],
                    versions=[VersionInput(v.get("language", ""), v.get("body", ""))
                              for v in versions.cleaned_data if v],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Saved reply “%(title)s” saved.") % {"title": saved.title})
                return redirect("inbox:library")
        status = 400
    else:
        initial = {}
        version_initial = []
        if saved is not None:
            initial = {"title": saved.title, "kind": saved.kind, "team": saved.team,
                       "language": language_code(saved.language), "body": saved.body}
            version_initial = [{"language": v.language, "body": v.body} for v in saved.versions.all()]
        form = SavedReplyForm(initial=initial, teams=teams, all_teams_allowed=all_teams_allowed)
        versions = VersionFormSet(initial=version_initial, prefix="versions")
        status = 200
    return render(request, "inbox/library_edit.html", {
        "form": form, "versions": versions, "saved": saved,
    }, status=status)


@login_required
@require_POST
def library_delete(request, pk: int):
    saved = _reply_for_manager(request, pk)
    title = saved.title
    saved_reply_delete(request.user, saved)
    messages.success(request, _("Saved reply “%(title)s” deleted.") % {"title": title})
    return redirect("inbox:library")


# --- The composer ---------------------------------------------------------------------------


def _conversation_for_reply(request, pk: int) -> Conversation:
    try:
        conversation = conversation_for_user(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404(_("No such conversation.")) from None
    if not user_has_team_perm(request.user, conversation.team, REPLY):
        raise PermissionDenied
    return conversation


@login_required
@require_GET
@never_cache
def composer_search(request, pk: int):
    """Listbox options for what the officer typed (the composer's combobox)."""
    conversation = _conversation_for_reply(request, pk)
    query = request.GET.get("q", "")[:100]
    replies = saved_replies_search(conversation, query, limit=12)
    languages = conversation_languages(conversation)
    options = []
    for reply in replies:
        text = saved_reply_text(reply, languages)
        options.append({"reply": reply, "text": text})
    return render(request, "inbox/_library_options.html", {"options": options, "query": query})


def saved_reply_fill(request, conversation: Conversation, saved: SavedReply) -> tuple[str, str]:
    """The text of ``saved`` for ``conversation`` with its variables filled in, and its language."""
    text = saved_reply_text(saved, conversation_languages(conversation))
    values = variable_values(
        conversation, request.user,
        service_hours=opening_hours_text(conversation.account.calendar, text.language or conversation.language)
        if "{service_hours}" in text.body else "",
    )
    return saved_reply_render(text.body, values), text.language


@login_required
@require_GET
@never_cache
def composer_text(request, pk: int, saved_id: int):
    conversation = _conversation_for_reply(request, pk)
    try:
        saved = saved_replies_usable(conversation).get(pk=saved_id)
    except SavedReply.DoesNotExist:
        raise Http404(_("No such saved reply.")) from None
    text, language = saved_reply_fill(request, conversation, saved)
    return JsonResponse({"id": saved.pk, "kind": saved.kind, "language": language, "text": text})
