"""Who may act through the API, on top of the visibility filter of ``conversations_for_user``.

Seeing a conversation is the queryset's business (another team's conversation is a 404);
these checks decide what a user who *sees* it may do with it (a 403 when they may not).
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from inbox.permissions import SUPERVISE, team_ids_for_user


def sees_channel_accounts(user) -> bool:
    """Admins (model permission or superuser) and supervisors of any team."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser or user.has_perm("inbox.view_channelaccount"):
        return True
    return bool(team_ids_for_user(user, SUPERVISE))


class SeesChannelAccounts(BasePermission):
    message = "Only admins and supervisors can list channel accounts."

    def has_permission(self, request, view) -> bool:
        return sees_channel_accounts(request.user)
