"""The standard cast from tests/conftest.py, an X account, and HTTP interception for X."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import responses
from django.test import Client

from inbox.models import ChannelAccount
from tests.conftest import alice, bob, carol, committed, dave, eager_tasks, login, team_a, team_b  # noqa: F401

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ACCOUNT_ID = "1480000000000000001"
CITIZEN_ID = "1620000000000000002"
HOSTS = ("https://api.x.com", "https://api.twitter.com")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


@pytest.fixture
def x_account(db, team_a):  # noqa: F811 - the imported fixture, requested by name
    return ChannelAccount.objects.create(
        platform="x", external_id=ACCOUNT_ID, name="Ciutat Exemple", handle="CiutatExemple", default_team=team_a,
        credentials={"oauth2": {"access_token": "user-access-token", "refresh_token": "user-refresh-token",
                                "expires_at": int(time.time()) + 7200, "scope": "tweet.read tweet.write"}},
    )


@pytest.fixture(params=HOSTS, ids=["api.x.com", "api.twitter.com"])
def api(request, settings):
    """X's API at either host: tweepy 4.17 calls api.twitter.com, the setting moves it to api.x.com."""
    settings.X_API_BASE_URL = request.param
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.base = request.param
        yield mock


def post_x(body: bytes, *, signature: str | None = None, headers: dict | None = None):
    from channels_adapters.x.webhook import SIGNATURE_HEADER, sign

    headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}
    if signature != "":
        headers[SIGNATURE_HEADER] = signature or sign(body)
    return committed(Client().post, "/webhooks/x/", data=body, content_type="application/json", headers=headers)
