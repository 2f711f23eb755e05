"""The standard cast, a Facebook Page and its Instagram account, signed Meta deliveries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
from django.test import Client

from channels_adapters.meta.client import usage_reset
from channels_adapters.meta.webhook import SIGNATURE_HEADER, sign
from inbox.models import ChannelAccount
from tests.conftest import alice, bob, carol, committed, dave, eager_tasks, login, team_a, team_b  # noqa: F401

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAGE_ID = "104857301234567"
OTHER_PAGE_ID = "108765432109876"
IG_ID = "17841400123456789"
TOKEN = "EAAGm0PX4ZCpsBAPageTokenForTests"
GRAPH = "https://graph.facebook.com/v26.0"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def post_meta(client: Client, body: bytes, *, signature: str | None = None):
    headers = {SIGNATURE_HEADER: sign(body) if signature is None else signature} if signature != "" else {}
    return committed(client.post, "/webhooks/meta/", data=body, content_type="application/json", headers=headers)


def deliver(*names: str) -> None:
    for name in names:
        response = post_meta(Client(), fixture_bytes(name))
        assert response.status_code == 200, (name, response.content)


@pytest.fixture(autouse=True)
def graph_version(settings):
    settings.META_GRAPH_VERSION = "v26.0"
    settings.META_APP_ID = ""


@pytest.fixture(autouse=True)
def fresh_usage():
    """Rate-limit state lives in the cache (shared by workers): start every test clean."""
    for object_id in (PAGE_ID, OTHER_PAGE_ID, "app"):
        usage_reset(object_id)
    yield
    for object_id in (PAGE_ID, OTHER_PAGE_ID, "app"):
        usage_reset(object_id)


@pytest.fixture
def graph():
    """Every HTTP call the SDK makes goes through its requests session: intercepted here."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def page(db, team_a):  # noqa: F811 - the fixture, imported above
    return ChannelAccount.objects.create(
        platform="facebook", external_id=PAGE_ID, name="Ajuntament de Vilanova", handle="ajuntamentvilanova",
        default_team=team_a, credentials={"page_access_token": TOKEN},
    )


@pytest.fixture
def other_page(db, team_b):  # noqa: F811 - the fixture, imported above
    return ChannelAccount.objects.create(
        platform="facebook", external_id=OTHER_PAGE_ID, name="Districte Nord", default_team=team_b,
        credentials={"page_access_token": TOKEN + "2"},
    )


@pytest.fixture
def instagram(db, team_a):  # noqa: F811 - the fixture, imported above
    return ChannelAccount.objects.create(
        platform="instagram", external_id=IG_ID, name="Ajuntament de Vilanova", handle="ajuntamentvilanova",
        default_team=team_a, credentials={"page_access_token": TOKEN, "page_id": PAGE_ID},
    )
