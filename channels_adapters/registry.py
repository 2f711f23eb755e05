"""The explicit registry of platform adapters: platform name -> adapter class.

The mapping lives in ``settings.CHANNEL_ADAPTERS`` (dotted paths, imported lazily), so
the core can offer platform choices without importing any platform package.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from channels_adapters.base import Adapter


class UnknownPlatform(LookupError):
    pass


@cache
def _adapter(platform: str, path: str) -> Adapter:
    return import_string(path)()


def get_adapter(platform: str) -> Adapter:
    try:
        path = settings.CHANNEL_ADAPTERS[platform]
    except KeyError:
        raise UnknownPlatform(platform) from None
    return _adapter(platform, path)


def platform_label(platform: str) -> str:
    """The name the interface shows for ``platform`` (its adapter's), or the code, titled."""
    try:
        adapter = get_adapter(platform)
    except UnknownPlatform:
        return platform.title()
    return str(adapter.platform_labels.get(platform, adapter.label))


def platforms() -> list[str]:
    return list(settings.CHANNEL_ADAPTERS)


def connect_pages() -> list[tuple[str, str]]:
    """(label, URL name) of each platform's page for connecting accounts, once per adapter."""
    pages: dict[str, str] = {}
    for platform in platforms():
        adapter = get_adapter(platform)
        if adapter.connect_url_name:
            pages.setdefault(adapter.connect_url_name, adapter.label)
    return [(label, url_name) for url_name, label in pages.items()]


def public_url_prefixes() -> tuple[str, ...]:
    """``/<prefix>/`` of each package's pages for citizens (no sign-in; channels_adapters/public_urls.py)."""
    return tuple(sorted({f"/{get_adapter(p).public_url_prefix}/" for p in platforms() if get_adapter(p).public_url_prefix}))


def adapter_for_webhook(slug: str) -> Adapter:
    """Webhook URLs are named by ``Adapter.webhook_slug`` (Facebook and Instagram share "meta")."""
    for platform in platforms():
        adapter = get_adapter(platform)
        if (adapter.webhook_slug or adapter.platform) == slug:
            return adapter
    raise UnknownPlatform(slug)
