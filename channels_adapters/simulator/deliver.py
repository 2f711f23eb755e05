"""Deliver simulated citizen events to a running server, shaped like each platform's webhooks.

The simulator's own payloads always work; X- and Meta-shaped payloads are produced by
those platforms' ``simulate`` modules when the platform is registered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import import_module

from channels_adapters.registry import platforms
from channels_adapters.simulator.feed import Feed
from inbox.models import ChannelAccount

logger = logging.getLogger(__name__)

Shaper = Callable[[dict, ChannelAccount], tuple[str, bytes, dict[str, str]]]


def _simulator(feed: Feed) -> Shaper:
    def shape(event: dict, account: ChannelAccount) -> tuple[str, bytes, dict[str, str]]:
        body, headers = feed.payload(account.external_id, [event])
        return "simulator", body, headers

    return shape


def _x() -> Shaper | None:
    try:
        x_payloads = import_module("channels_adapters.x.simulate").x_payloads
    except (ImportError, AttributeError):
        return None

    def shape(event: dict, account: ChannelAccount) -> tuple[str, bytes, dict[str, str]]:
        body, headers = x_payloads(event, account.external_id)
        return "x", body, headers

    return shape


def _meta() -> Shaper | None:
    try:
        meta_payloads = import_module("channels_adapters.meta.simulate").meta_payloads
    except (ImportError, AttributeError):
        return None

    def shape(event: dict, account: ChannelAccount) -> tuple[str, bytes, dict[str, str]]:
        body, headers = meta_payloads(event, account.external_id, account.platform)
        return "meta", body, headers

    return shape


def shapers(feed: Feed) -> dict[str, Shaper]:
    """Platform -> function turning a feed event into (webhook slug, body, headers)."""
    available: dict[str, Shaper | None] = {"simulator": _simulator(feed)}
    registered = set(platforms())
    if "x" in registered:
        available["x"] = _x()
    meta = _meta() if registered & {"facebook", "instagram"} else None
    for platform in ("facebook", "instagram"):
        if platform in registered:
            available[platform] = meta
    return {k: v for k, v in available.items() if v is not None}


def demo_accounts(feed: Feed) -> list[tuple[ChannelAccount, Shaper]]:
    shaping = shapers(feed)
    accounts = ChannelAccount.objects.filter(
        platform__in=list(shaping), status=ChannelAccount.Status.ACTIVE, simulated=True
    ).order_by("id")
    return [(account, shaping[account.platform]) for account in accounts]
