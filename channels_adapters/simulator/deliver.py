"""Deliver simulated citizen events to a running server, shaped like each platform's webhooks.

Every registered platform whose adapter can be simulated (``Adapter.simulated_accounts`` and
``simulated_payload``, implemented in its package's ``simulate.py``) is fed: the simulator
names no platform.
"""

from __future__ import annotations

from collections.abc import Callable

from channels_adapters.base import Adapter
from channels_adapters.registry import get_adapter, platforms
from inbox.models import ChannelAccount

Shaper = Callable[[dict, ChannelAccount], tuple[str, bytes, dict[str, str]]]


def simulated_adapters() -> dict[str, Adapter]:
    """ChannelAccount.platform -> adapter, for every registered platform the simulator feeds."""
    adapters = {}
    for platform in platforms():
        adapter = get_adapter(platform)
        if any(spec.platform == platform for spec in adapter.simulated_accounts()):
            adapters[platform] = adapter
    return adapters


def _shaper(adapter: Adapter) -> Shaper:
    slug = adapter.webhook_slug or adapter.platform

    def shape(event: dict, account: ChannelAccount) -> tuple[str, bytes, dict[str, str]]:
        body, headers = adapter.simulated_payload(account, event)
        return slug, body, headers

    return shape


def demo_accounts() -> list[tuple[ChannelAccount, Shaper]]:
    """The active simulated accounts, each with the function turning a feed event into
    (webhook slug, body, headers) for it."""
    shaping = {platform: _shaper(adapter) for platform, adapter in simulated_adapters().items()}
    accounts = ChannelAccount.objects.filter(
        platform__in=list(shaping), status=ChannelAccount.Status.ACTIVE, simulated=True
    ).order_by("id")
    return [(account, shaping[account.platform]) for account in accounts]
