"""Per-platform pages (connecting accounts, OAuth callbacks), found through the registry.

A platform package that needs pages ships a ``urls.py``; it is mounted at
``/channels/<package>/`` with the URL namespace ``<package>``.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from django.conf import settings
from django.urls import include, path

urlpatterns = []
for package in sorted({p.rsplit(".", 2)[0] for p in settings.CHANNEL_ADAPTERS.values()}):
    if find_spec(f"{package}.urls") is not None:
        name = package.rsplit(".", 1)[-1]
        urlpatterns.append(path(f"{name}/", include((import_module(f"{package}.urls"), name))))
