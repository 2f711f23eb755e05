"""Per-address limits count the client, not the proxy in front of the app (config/client_ip.py)."""

from __future__ import annotations

import pytest
from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from django.test import RequestFactory, override_settings
from django_ratelimit.core import is_ratelimited

from config.client_ip import client_ip

rf = RequestFactory()


def _request(xff: str | None = None, peer: str = "10.0.0.2"):
    extra = {"REMOTE_ADDR": peer}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return rf.post("/webhooks/simulator/", **extra)


@pytest.fixture
def behind_one_proxy():
    # DRF reloads its settings on setting_changed, as TRUSTED_PROXY_COUNT=1 would set them.
    with override_settings(TRUSTED_PROXY_COUNT=1, REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        yield


def test_without_trusted_proxies_the_header_is_ignored():
    # A client cannot choose its own address (and escape its limits) by sending the header.
    assert client_ip(_request("198.51.100.7")) == "10.0.0.2"
    assert get_client_ip_address(_request("198.51.100.7")) == "10.0.0.2"
    assert client_ip(None) == ""


def test_behind_one_proxy_the_address_it_appended_counts(behind_one_proxy):
    # nginx's $proxy_add_x_forwarded_for: what the client sent, then the peer the proxy saw.
    assert client_ip(_request("6.6.6.6, 198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request("198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request()) == "10.0.0.2"
    # django-axes (the sign-in lock-out) asks the same function.
    assert get_client_ip_address(_request("6.6.6.6, 198.51.100.7")) == "198.51.100.7"


def test_rate_limits_count_each_citizen_apart_behind_the_proxy(behind_one_proxy):
    group = "test-client-ip"
    cache.clear()
    for _ in range(4):  # one over the limit
        is_ratelimited(_request("203.0.113.1"), group=group, key="ip", rate="3/m", increment=True)
    assert is_ratelimited(_request("203.0.113.1"), group=group, key="ip", rate="3/m", increment=False)
    # Another citizen behind the same proxy is not limited by the first one's requests.
    assert not is_ratelimited(_request("203.0.113.2"), group=group, key="ip", rate="3/m", increment=False)
