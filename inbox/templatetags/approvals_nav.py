"""The top bar's "Approvals" link for supervisors and admins, with the number of replies
waiting for them (docs/approvals.md).

The count costs no query on most pages: it is cached per team (``approvals-pending:<team>``)
and the key is deleted whenever a draft of that team changes (``inbox.services.approvals
.draft_announce`` calls ``approvals_pending_forget``). A miss costs one grouped query for the
teams missing, whatever their number.
"""

from __future__ import annotations

from django import template
from django.core.cache import cache
from django.db.models import Count

from inbox.models import ReplyDraft
from inbox.permissions import SUPERVISE, sees_unrouted, team_ids_for_user

register = template.Library()

CACHE_SECONDS = 600
UNROUTED = "none"


def _key(team_id) -> str:
    return f"approvals-pending:{team_id if team_id is not None else UNROUTED}"


def approvals_pending_forget(team_id: int | None) -> None:
    cache.delete(_key(team_id))


def approvals_pending_count(team_ids: list[int], *, unrouted: bool = False) -> int:
    teams: list[int | None] = [*team_ids, *([None] if unrouted else [])]
    if not teams:
        return 0
    keys = {_key(t): t for t in teams}
    found = cache.get_many(list(keys))
    missing = [t for k, t in keys.items() if k not in found]
    if missing:
        pending = ReplyDraft.objects.filter(status=ReplyDraft.Status.PENDING)
        rows = dict(
            pending.filter(conversation__team_id__in=[t for t in missing if t is not None])
            .values_list("conversation__team_id").annotate(n=Count("id")).order_by()
        )
        if None in missing:
            rows[None] = pending.filter(conversation__team__isnull=True).count()
        fresh = {_key(t): rows.get(t, 0) for t in missing}
        cache.set_many(fresh, CACHE_SECONDS)
        found.update(fresh)
    return sum(found.values())


@register.simple_tag
def approvals_link(user) -> dict:
    """``show``: the user supervises a team (or unrouted conversations); ``count``: drafts
    waiting for them."""
    if not user.is_authenticated:
        return {"show": False, "count": 0}
    team_ids = team_ids_for_user(user, SUPERVISE)
    unrouted = sees_unrouted(user)
    if not team_ids and not unrouted:
        return {"show": False, "count": 0}
    return {"show": True, "count": approvals_pending_count(team_ids, unrouted=unrouted)}
