"""Who may see and do what. Object permissions sit on Team and ChannelAccount.

A user's conversations are those of the teams they may see (``view_team_queue``), held
either on the team (django-guardian) or globally (supervisors and admins of the whole
administration). Everything that lists or fetches conversations goes through here.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, Group
from guardian.shortcuts import assign_perm, get_objects_for_user, get_users_with_perms, remove_perm

from inbox.models import Team

OFFICER, SUPERVISOR, ADMIN = "officer", "supervisor", "admin"
ROLES = (OFFICER, SUPERVISOR, ADMIN)

VIEW_QUEUE = "view_team_queue"
REPLY = "reply_in_team"
SUPERVISE = "supervise_team"
ROLE_TEAM_PERMS = {
    OFFICER: (VIEW_QUEUE, REPLY),
    SUPERVISOR: (VIEW_QUEUE, REPLY, SUPERVISE),
    ADMIN: (VIEW_QUEUE, REPLY, SUPERVISE),
}


def teams_for_user(user, perm: str = VIEW_QUEUE):
    """The teams on which ``user`` holds ``perm``, on the team or globally."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_active:
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    return get_objects_for_user(user, f"inbox.{perm}", klass=Team, accept_global_perms=True)


def team_ids_for_user(user, perm: str = VIEW_QUEUE) -> list[int]:
    cache_attr = f"_team_ids_{perm}"
    cached = getattr(user, cache_attr, None)
    if cached is None:
        cached = list(teams_for_user(user, perm).values_list("id", flat=True))
        if user is not None and not isinstance(user, AnonymousUser):
            setattr(user, cache_attr, cached)
    return cached


def user_has_team_perm(user, team: Team | None, perm: str) -> bool:
    if team is None:
        return bool(user.is_superuser or user.has_perm(f"inbox.{perm}"))
    return team.id in team_ids_for_user(user, perm)


def sees_unrouted(user) -> bool:
    """Conversations no team has yet are visible to those who supervise globally."""
    return bool(user.is_active and (user.is_superuser or user.has_perm(f"inbox.{SUPERVISE}")))


def role_names(user) -> frozenset[str]:
    """The user's role groups, read once per user object (a request's user)."""
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) if user.is_authenticated else frozenset()
        user._role_names = cached
    return cached


def can_manage_channels(user) -> bool:
    """Connecting and reconnecting channel accounts: admins only."""
    return bool(
        user is not None and user.is_authenticated and user.is_active
        and (user.is_superuser or ADMIN in role_names(user))
    )


def team_member_add(team: Team, user, role: str = OFFICER) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    for perm in ROLE_TEAM_PERMS[role]:
        assign_perm(f"inbox.{perm}", user, team)


def team_member_remove(team: Team, user) -> None:
    for perm in (VIEW_QUEUE, REPLY, SUPERVISE):
        remove_perm(f"inbox.{perm}", user, team)


def team_officers(team: Team) -> list:
    """Users who may answer the team's conversations, by id (for assignment)."""
    users = get_users_with_perms(
        team, only_with_perms_in=[REPLY], with_superusers=False, with_group_users=True
    )
    return sorted((u for u in users if u.is_active), key=lambda u: u.id)
