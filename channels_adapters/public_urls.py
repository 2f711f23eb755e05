"""Pages for citizens that a platform package serves itself, found through the registry.

An adapter with a ``public_url_prefix`` has its package's ``public_urls.py`` mounted at
``/<prefix>/`` under the URL namespace ``<package>_public``. These pages need no sign-in;
each view sets its own frame and CSRF policy (the web contact form is embedded in the
administration's site).
"""

from __future__ import annotations

from importlib import import_module

from django.urls import include, path

from channels_adapters.registry import get_adapter, platforms

urlpatterns = []
_mounted: set[str] = set()
for _platform in platforms():
    _adapter = get_adapter(_platform)
    _package = type(_adapter).__module__.rsplit(".", 1)[0]
    if _adapter.public_url_prefix and _package not in _mounted:
        _mounted.add(_package)
        _name = _package.rsplit(".", 1)[-1]
        urlpatterns.append(path(f"{_adapter.public_url_prefix}/",
                                include((import_module(f"{_package}.public_urls"), f"{_name}_public"))))
