from __future__ import annotations

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from channels_adapters.registry import connect_pages
from inbox.models import ChannelAccount
from inbox.permissions import ADMIN, SUPERVISOR, can_manage_channels, role_names


def _is_supervisor(user) -> bool:
    return bool(user.is_staff or user.is_superuser or role_names(user) & {SUPERVISOR, ADMIN})


def _accounts_needing_reconnect(user) -> list[ChannelAccount]:
    if not _is_supervisor(user):
        return []
    return list(
        ChannelAccount.objects.filter(status=ChannelAccount.Status.NEEDS_RECONNECT)
        .only("id", "platform", "name").order_by("platform", "name")[:10]
    )


def navigation(request):
    """What the page frame needs. Lazy: fragments and pages without the frame pay nothing."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"login_cooloff_minutes": settings.LOGIN_COOLOFF_MINUTES}
    return {
        "accounts_needing_reconnect": SimpleLazyObject(lambda: _accounts_needing_reconnect(user)),
        # Admins connect channel accounts on each platform's own page (from the registry).
        "channel_connect_pages": SimpleLazyObject(lambda: connect_pages() if can_manage_channels(user) else []),
        # The supervisors' dashboard link (the page itself checks the team permissions).
        "nav_dashboard": SimpleLazyObject(lambda: _is_supervisor(user)),
    }
