"""Teams and people, managed by admins in the app (not in Django admin).

A person joins a team as officer or supervisor in one step: the role's group and the
team's object permissions follow from the role (``inbox.permissions.team_member_add``).
Every change is audited. Deactivating a person is ``routing.assignment.person_deactivate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from guardian.models import UserObjectPermission

from inbox.audit import audit_record
from inbox.models import AutoReplySetting, ChannelAccount, Conversation, OfficerProfile, Team
from inbox.permissions import (
    OFFICER,
    REPLY,
    SUPERVISE,
    SUPERVISOR,
    VIEW_QUEUE,
    team_member_add,
    team_member_remove,
)
from inbox.queue import enqueue_on_commit
from routing.assignment import LOAD_STATUSES, conversations_assign, team_queue_counts
from routing.presence import presence_of

TEAM_FIELDS = ("name", "slug", "description", "assignment", "capacity_private", "capacity_public",
               "reassign_after_minutes")


def team_save(*, actor, team: Team | None = None, **fields) -> Team:
    """Create or change a team (strategy, capacities, take-back); audited."""
    unknown = set(fields) - set(TEAM_FIELDS)
    if unknown:
        raise ValueError(f"unknown team fields {sorted(unknown)}")
    with transaction.atomic():
        if team is None:
            team = Team.objects.create(**fields)
            audit_record(actor, "team.create", team, **fields)
            return team
        changed = {k: v for k, v in fields.items() if getattr(team, k) != v}
        for name, value in changed.items():
            setattr(team, name, value)
        if changed:
            team.save(update_fields=list(changed))
            audit_record(actor, "team.change", team, **changed)
        if {"assignment", "capacity_private", "capacity_public"} & set(changed):
            # A team that now deals work automatically (or gives more) serves its backlog now.
            enqueue_on_commit("routing.assign_backlog", team_ids=[team.id])
    return team


def person_create(*, actor, username: str, first_name: str = "", last_name: str = "", email: str = ""):
    """A new person who signs in with a password set by the "forgot password" flow or an
    admin; created without a usable password."""
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, first_name=first_name, last_name=last_name)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        OfficerProfile.objects.get_or_create(user=user)
        audit_record(actor, "user.create", user, username=username)
    return user


def team_member_set(*, actor, team: Team, user, role: str) -> None:
    """Add ``user`` to ``team`` as officer or supervisor (or change their role there)."""
    if role not in (OFFICER, SUPERVISOR):
        raise ValueError(f"unknown team role {role!r}")
    with transaction.atomic():
        team_member_remove(team, user)
        team_member_add(team, user, role)
        OfficerProfile.objects.get_or_create(user=user)
        audit_record(actor, "team.member_set", team, user=user.pk, role=role)
    for attr in [a for a in vars(user) if a.startswith("_team_ids_") or a in ("_perm_cache", "_role_names")]:
        delattr(user, attr)


def team_member_drop(*, actor, team: Team, user) -> int:
    """Take ``user`` off ``team``; their open conversations of the team go back to its queue
    (and the strategy deals them again). Returns how many were released."""
    now = timezone.now()
    with transaction.atomic():
        team_member_remove(team, user)
        released = list(
            Conversation.objects.select_for_update(of=("self",))
            .filter(team=team, assignee=user, status__in=LOAD_STATUSES).order_by("id")
        )
        Conversation.objects.filter(id__in=[c.id for c in released]).update(assignee=None, assigned_at=None,
                                                                             updated_at=now)
        for c in released:
            c.assignee_id = None
        audit_record(actor, "team.member_remove", team, user=user.pk, released=[c.id for c in released])
        conversations_assign(released, now=now)
    return len(released)


def person_update(*, actor, user, languages: list[str], skills: list[str], first_name: str | None = None,
                  last_name: str | None = None, email: str | None = None) -> None:
    with transaction.atomic():
        profile, _ = OfficerProfile.objects.get_or_create(user=user)
        profile.languages, profile.skills = languages, skills
        profile.save(update_fields=["languages", "skills"])
        names = {k: v for k, v in {"first_name": first_name, "last_name": last_name, "email": email}.items()
                 if v is not None}
        for k, v in names.items():
            setattr(user, k, v)
        if names:
            user.save(update_fields=list(names))
        audit_record(actor, "user.change", user, languages=languages, skills=skills, **names)


def person_reactivate(*, actor, user) -> None:
    with transaction.atomic():
        get_user_model().objects.filter(pk=user.pk).update(is_active=True)
        audit_record(actor, "user.reactivate", user)
    user.is_active = True


def autoreply_setting_save(*, actor, account: ChannelAccount, **fields) -> AutoReplySetting:
    with transaction.atomic():
        setting, _ = AutoReplySetting.objects.get_or_create(account=account)
        for name, value in fields.items():
            setattr(setting, name, value)
        setting.updated_at = timezone.now()
        setting.save()
        audit_record(actor, "channel_account.autoreply", account,
                     **{k: (v.pk if hasattr(v, "pk") else v) for k, v in fields.items()})
    return setting


# --- Reads for the pages ---------------------------------------------------------------------


@dataclass
class Member:
    user: object
    role: str  # "officer" or "supervisor"
    profile: OfficerProfile | None
    load: int

    @property
    def presence(self):
        return presence_of(self.profile)


def teams_overview():
    teams = list(Team.objects.order_by("name"))
    waiting = team_queue_counts([t.id for t in teams])
    members = _members_by_team(teams)
    for team in teams:
        team.waiting = waiting.get(team.id, 0)
        team.members = members.get(team.id, [])
    return teams


def team_members(team: Team) -> list[Member]:
    return _members_by_team([team]).get(team.id, [])


def _members_by_team(teams: list[Team]) -> dict[int, list[Member]]:
    """Who holds which role on each team, from the object permissions (three queries)."""
    rows = (
        UserObjectPermission.objects.filter(
            content_type__app_label="inbox", content_type__model="team",
            object_pk__in=[str(t.id) for t in teams], permission__codename__in=[VIEW_QUEUE, REPLY, SUPERVISE],
        ).values_list("object_pk", "user_id", "permission__codename")
    )
    perms: dict[tuple[int, int], set[str]] = {}
    for team_pk, user_id, codename in rows:
        perms.setdefault((int(team_pk), user_id), set()).add(codename)
    user_ids = {uid for _, uid in perms}
    users = {u.id: u for u in get_user_model().objects.filter(id__in=user_ids).select_related("officer_profile")}
    loads = dict(
        Conversation.objects.filter(assignee_id__in=user_ids, status__in=LOAD_STATUSES)
        .values_list("assignee_id").annotate(n=Count("id")).values_list("assignee_id", "n")
    )
    result: dict[int, list[Member]] = {}
    for (team_id, user_id), codenames in sorted(perms.items()):
        user = users.get(user_id)
        if user is None or REPLY not in codenames:
            continue
        role = SUPERVISOR if SUPERVISE in codenames else OFFICER
        profile = getattr(user, "officer_profile", None) if has_profile(user) else None
        result.setdefault(team_id, []).append(Member(user, role, profile, loads.get(user_id, 0)))
    for members in result.values():
        members.sort(key=lambda m: (not m.user.is_active, m.role != SUPERVISOR, m.user.get_username()))
    return result


def has_profile(user) -> bool:
    try:
        user.officer_profile  # noqa: B018 - reading it tells whether it exists
    except OfficerProfile.DoesNotExist:
        return False
    return True


def people_list():
    """Everyone, with profile and teams (the people page)."""
    users = list(get_user_model().objects.order_by("username").select_related("officer_profile")
                 .prefetch_related("groups"))
    return users
