"""The adapter registry: every registered platform is a whole adapter, found by name.

And what a platform package must provide, so that adding a channel is a new package plus
one entry in ``settings.CHANNEL_ADAPTERS`` and touches no core file
(docs/channels/adding-a-channel.md walks through it).
"""

from __future__ import annotations

import ast
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from channels_adapters.base import Adapter
from channels_adapters.registry import _adapter, get_adapter, platforms
from channels_adapters.simulator.deliver import simulated_adapters
from channels_adapters.simulator.feed import Feed
from inbox.models import ChannelAccount, RawEvent

ROOT = Path(__file__).resolve().parent.parent
# Every platform package: the adapter, payload -> typed values, the webhook's security, and
# the demo's simulated deliveries.
PACKAGE_FILES = ("__init__.py", "adapter.py", "payloads.py", "webhook.py", "simulate.py")
# A package that talks to a real platform also has the one module that imports its SDK, the
# service that connects its accounts, and its own tests with recorded payloads.
NETWORK_FILES = ("client.py", "connect.py", "tests/__init__.py", "fixtures")
# The simulated network talks to no platform: no SDK, no accounts to connect, tested in tests/.
NETWORKLESS = {"channels_adapters.simulator"}
# Core code: it reaches platforms only through the registry, never by importing a package.
CORE = ("inbox", "routing", "config", "channels_adapters")


def _packages() -> list[str]:
    return sorted({path.rsplit(".", 2)[0] for path in settings.CHANNEL_ADAPTERS.values()})


def _directory(package: str) -> Path:
    return Path(find_spec(package).submodule_search_locations[0])


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _modules(directory: Path):
    for path in sorted(directory.rglob("*.py")):
        parts = path.relative_to(directory).parts
        if "tests" not in parts and "migrations" not in parts:
            yield path


@pytest.mark.parametrize("platform", list(settings.CHANNEL_ADAPTERS))
def test_every_registered_platform_loads_as_a_complete_adapter(platform):
    adapter = get_adapter(platform)
    assert isinstance(adapter, Adapter)
    assert platform in adapter.account_platforms()
    assert adapter.label and (adapter.webhook_slug or adapter.platform)


def test_a_half_written_adapter_fails_when_the_registry_loads_it(settings):
    settings.CHANNEL_ADAPTERS = {**settings.CHANNEL_ADAPTERS, "halfway": "tests.test_registry.HalfWritten"}
    _adapter.cache_clear()
    assert "halfway" in platforms()
    with pytest.raises(TypeError, match="abstract"):
        get_adapter("halfway")


class HalfWritten(Adapter):
    platform = "halfway"
    label = "Half written"

    def verify(self, request):  # parse, send, reply_options and webhook_account_ids are missing
        return None


@pytest.mark.parametrize("package", _packages())
def test_every_platform_package_has_the_files_of_the_template(package):
    directory = _directory(package)
    expected = PACKAGE_FILES + (() if package in NETWORKLESS else NETWORK_FILES)
    missing = [name for name in expected if not (directory / name).exists()]
    assert not missing, f"{package} lacks {missing} (docs/channels/adding-a-channel.md)"
    if (directory / "views.py").exists():
        assert (directory / "urls.py").exists(), f"{package} has pages but no urls.py to mount them"


@pytest.mark.parametrize("platform", list(settings.CHANNEL_ADAPTERS))
def test_every_adapter_lives_in_its_package_adapter_module_and_has_its_webhook_url(platform):
    adapter = get_adapter(platform)
    assert type(adapter).__module__.endswith(".adapter")
    slug = adapter.webhook_slug or adapter.platform
    assert reverse("webhooks:receive", args=[slug]) == f"/webhooks/{slug}/"
    if adapter.connect_url_name:  # mounted at /channels/<package>/ by connect_urls, found by name
        assert reverse(adapter.connect_url_name).startswith("/channels/")


@pytest.mark.parametrize("package", sorted(set(_packages()) - NETWORKLESS))
def test_only_client_py_imports_the_platform_sdk(package):
    directory = _directory(package)
    ours = {"django", "channels_adapters", "inbox", "routing", "config", "__future__"}
    sdk = {name.split(".")[0] for name in _imports(directory / "client.py")}
    sdk -= ours | set(sys.stdlib_module_names)
    # A channel without a platform of its own (the web contact form) sends through another
    # channel, reached through the registry: that is its client.py's one way out.
    assert sdk or "channels_adapters.registry" in _imports(directory / "client.py"), (
        f"{package}/client.py imports no SDK")
    offenders = {
        str(path.relative_to(ROOT)): sorted(found)
        for path in _modules(directory) if path.name != "client.py"
        if (found := {n for n in _imports(path) if n.split(".")[0] in sdk})
    }
    assert not offenders, f"only client.py may import {sorted(sdk)}"


def test_no_core_module_and_no_other_platform_imports_a_platform_package():
    packages = _packages()
    offenders = {}
    for top in CORE:
        for path in _modules(ROOT / top):
            if path == ROOT / "config" / "settings.py":
                continue  # the registry itself: the one entry a new channel adds
            own = next((p for p in packages if path.is_relative_to(_directory(p))), None)
            found = {n for n in _imports(path) for p in packages if p != own and (n == p or n.startswith(p + "."))}
            if found and not (own is None and path.is_relative_to(ROOT / "channels_adapters" / "management")
                              and all(n.startswith("channels_adapters.simulator.") for n in found)):
                offenders[str(path.relative_to(ROOT))] = sorted(found)
    # The demo's commands drive the simulator package (the feed), which reaches the platforms
    # through the registry; nothing else names a platform package.
    assert not offenders


@pytest.mark.parametrize("platform", list(settings.CHANNEL_ADAPTERS))
def test_every_platform_has_simulated_accounts_in_the_demo(platform):
    assert platform in simulated_adapters(), (
        f"{platform}: Adapter.simulated_accounts() lists none of its accounts (see its simulate.py)"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("platform", sorted(simulated_adapters()))
def test_a_simulated_platform_delivers_a_feed_event_through_its_own_webhook(platform):
    adapter = get_adapter(platform)
    spec = next(s for s in adapter.simulated_accounts() if s.platform == platform)
    account = ChannelAccount.objects.create(
        platform=platform, external_id=spec.external_id, name=spec.name, handle=spec.handle, simulated=True,
    )
    body, headers = adapter.simulated_payload(account, Feed(seed=1).event())

    response = Client().post(
        f"/webhooks/{adapter.webhook_slug or adapter.platform}/", data=body,
        content_type=headers.pop("Content-Type", "application/json"), headers=headers,
    )

    assert response.status_code == 200, response.content
    assert RawEvent.objects.filter(account=account).count() == 1
