"""Pages: teams and people (admins), automatic replies per channel account (admins),
presence (every signed-in user), and moving a conversation to another team (supervisors).

Views parse, call one service (routing/teams.py, routing/assignment.py, routing/presence.py),
render or redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.models import AutoReplySetting, ChannelAccount, Conversation, OfficerProfile, Team
from inbox.permissions import SUPERVISE, can_manage_channels, teams_for_user, user_has_team_perm
from inbox.selectors import conversation_for_user
from inbox.services import AssignmentRefused, conversation_assign
from routing import teams as team_services
from routing.assignment import conversations_assign, person_deactivate
from routing.presence import presence_heartbeat, presence_of, presence_set
from routing.team_forms import AutoReplyForm, MemberAddForm, MoveTeamForm, PersonForm, TeamForm


def _admin_only(request) -> None:
    if not can_manage_channels(request.user):
        raise PermissionDenied


# --- Teams -------------------------------------------------------------------------------------


@login_required
@require_GET
def team_list(request):
    _admin_only(request)
    return render(request, "routing/teams.html", {"teams": team_services.teams_overview(), "teams_section": True})


@login_required
@require_http_methods(["GET", "POST"])
def team_edit(request, slug: str | None = None):
    _admin_only(request)
    team = get_object_or_404(Team, slug=slug) if slug else None
    form = TeamForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        # The form wrote its values onto ``team``: the service compares with the stored row.
        stored = Team.objects.get(pk=team.pk) if team else None
        saved = team_services.team_save(actor=request.user, team=stored, **fields)
        messages.success(request, _("Team “%(name)s” saved.") % {"name": saved.name})
        return redirect("teams:team", slug=saved.slug)
    if team is not None:
        team.refresh_from_db()  # an invalid form changed the instance in memory
    members = team_services.team_members(team) if team else []
    add_form = MemberAddForm(exclude_ids=[m.user.id for m in members]) if team else None
    return render(request, "routing/team_edit.html", {
        "team": team, "form": form, "members": members, "add_form": add_form, "teams_section": True,
    })


@login_required
@require_POST
def team_member_add(request, slug: str):
    _admin_only(request)
    team = get_object_or_404(Team, slug=slug)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        for error in [*form.non_field_errors(), *(e for f in form for e in f.errors)]:
            messages.error(request, error)
        return redirect("teams:team", slug=team.slug)
    data = form.cleaned_data
    with transaction.atomic():
        user = data["existing"] or team_services.person_create(
            actor=request.user, username=data["username"].strip(), first_name=data["first_name"], email=data["email"],
        )
        team_services.team_member_set(actor=request.user, team=team, user=user, role=data["role"])
        if data["languages"]:
            profile, _created = OfficerProfile.objects.get_or_create(user=user)
            team_services.person_update(actor=request.user, user=user, languages=data["languages"],
                                        skills=profile.skills)
    messages.success(request, _("%(person)s works in %(team)s as %(role)s.") % {
        "person": user.get_full_name() or user.get_username(), "team": team.name,
        "role": dict(MemberAddForm.base_fields["role"].choices)[data["role"]].lower(),
    })
    return redirect("teams:team", slug=team.slug)


@login_required
@require_POST
def team_member_remove(request, slug: str, user_id: int):
    _admin_only(request)
    team = get_object_or_404(Team, slug=slug)
    user = get_object_or_404(get_user_model(), pk=user_id)
    released = team_services.team_member_drop(actor=request.user, team=team, user=user)
    messages.success(request, _("%(person)s no longer works in %(team)s; %(n)s open conversation(s) went back "
                                "to the team queue.") % {
        "person": user.get_full_name() or user.get_username(), "team": team.name, "n": released})
    return redirect("teams:team", slug=team.slug)


# --- People ------------------------------------------------------------------------------------


@login_required
@require_GET
def people_list(request):
    _admin_only(request)
    people = team_services.people_list()
    for person in people:
        person.presence = presence_of(person.officer_profile if team_services.has_profile(person) else None)
    return render(request, "routing/people.html", {"people": people, "teams_section": True})


@login_required
@require_http_methods(["GET", "POST"])
def person_edit(request, pk: int):
    _admin_only(request)
    person = get_object_or_404(get_user_model(), pk=pk)
    profile, _created = OfficerProfile.objects.get_or_create(user=person)
    initial = {"first_name": person.first_name, "last_name": person.last_name, "email": person.email,
               "languages": ", ".join(profile.languages or []), "skills": ", ".join(profile.skills or [])}
    form = PersonForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        team_services.person_update(actor=request.user, user=person, **form.cleaned_data)
        messages.success(request, _("Saved."))
        return redirect("teams:person", pk=person.pk)
    teams = [(t, m) for t in Team.objects.order_by("name") for m in team_services.team_members(t)
             if m.user.id == person.id]
    return render(request, "routing/person_edit.html", {
        "person": person, "form": form, "profile": profile, "presence": presence_of(profile),
        "memberships": teams, "teams_section": True,
    })


@login_required
@require_POST
def person_active_set(request, pk: int):
    _admin_only(request)
    person = get_object_or_404(get_user_model(), pk=pk)
    if request.POST.get("active") == "1":
        team_services.person_reactivate(actor=request.user, user=person)
        messages.success(request, _("%(person)s can sign in again.") % {"person": person.get_username()})
    else:
        if person.pk == request.user.pk:
            messages.error(request, _("You cannot deactivate yourself."))
            return redirect("teams:person", pk=person.pk)
        released = person_deactivate(actor=request.user, user=person)
        messages.success(request, _("%(person)s is deactivated; %(n)s open conversation(s) went back to their "
                                    "team queues.") % {"person": person.get_username(), "n": released})
    return redirect("teams:person", pk=person.pk)


# --- Automatic replies per channel account -------------------------------------------------------


@login_required
@require_GET
def autoreply_list(request):
    _admin_only(request)
    accounts = ChannelAccount.objects.select_related(
        "autoreply__acknowledgement", "autoreply__out_of_hours", "calendar").order_by("platform", "name")
    return render(request, "routing/autoreplies.html", {"accounts": accounts, "teams_section": True})


@login_required
@require_http_methods(["GET", "POST"])
def autoreply_edit(request, account_id: int):
    _admin_only(request)
    account = get_object_or_404(ChannelAccount.objects.select_related("calendar"), pk=account_id)
    instance = AutoReplySetting.objects.filter(account=account).first() or AutoReplySetting(account=account)
    form = AutoReplyForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        team_services.autoreply_setting_save(actor=request.user, account=account, **{
            name: form.cleaned_data[name] for name in form.Meta.fields})
        messages.success(request, _("Automatic replies of %(account)s saved.") % {"account": account})
        return redirect("teams:autoreplies")
    return render(request, "routing/autoreply_edit.html", {"account": account, "form": form, "teams_section": True})


# --- Presence ----------------------------------------------------------------------------------


@login_required
@require_POST
def presence_view(request):
    """The top bar's choice (a form, or ``fetch`` with Accept: application/json)."""
    status = request.POST.get("status", "")
    if status not in OfficerProfile.Presence.values:
        return JsonResponse({"error": _("Unknown presence.")}, status=400)
    presence = presence_set(request.user, status)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"status": presence.status, "available": presence.available, "label": str(presence.label)})
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return redirect(back)


@login_required
@require_POST
def heartbeat_view(request):
    presence = presence_heartbeat(request.user)
    return JsonResponse({"status": presence.status, "available": presence.available})


# --- Moving a conversation to another team (supervisors) ----------------------------------------


@login_required
@require_POST
def conversation_move(request, pk: int):
    try:
        conversation = conversation_for_user(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404 from None  # another team's conversation: as if it did not exist
    if not user_has_team_perm(request.user, conversation.team, SUPERVISE):
        raise PermissionDenied
    form = MoveTeamForm(request.POST, teams=teams_for_user(request.user, SUPERVISE))
    if not form.is_valid():
        messages.error(request, _("Choose a team you supervise."))
        return redirect("inbox:conversation", pk=conversation.pk)
    team = form.cleaned_data["team"]
    if team.id == conversation.team_id:
        return redirect("inbox:conversation", pk=conversation.pk)
    try:
        with transaction.atomic():
            conversation_assign(conversation=conversation, user=request.user, assignee=None, team=team)
            assigned = conversations_assign([conversation])  # the new team's strategy deals it
    except AssignmentRefused as exc:
        messages.error(request, str(exc))
        return redirect("inbox:conversation", pk=conversation.pk)
    if assigned:
        messages.success(request, _("Moved to %(team)s and assigned to %(person)s.") % {
            "team": team.name, "person": conversation.assignee.get_full_name() or conversation.assignee.get_username()})
    else:
        messages.success(request, _("Moved to %(team)s; it waits in the team's queue.") % {"team": team.name})
    if not user_has_team_perm(request.user, team, "view_team_queue"):
        return redirect("inbox:queue")
    return redirect("inbox:conversation", pk=conversation.pk)
