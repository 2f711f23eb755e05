"""The adapter registry: every registered platform is a whole adapter, found by name."""

from __future__ import annotations

import pytest
from django.conf import settings

from channels_adapters.base import Adapter
from channels_adapters.registry import _adapter, get_adapter, platforms


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
