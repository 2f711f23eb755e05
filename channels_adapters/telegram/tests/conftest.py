"""The standard cast, a connected bot, and Updates posted with its secret token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
from django.test import Client

from channels_adapters.telegram.adapter import _bot_id
from channels_adapters.telegram.webhook import SECRET_HEADER, secret_token
from inbox.models import ChannelAccount
from tests.conftest import alice, bob, carol, committed, dave, eager_tasks, login, team_a, team_b  # noqa: F401

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BOT_ID = "7000000001"
TOKEN = f"{BOT_ID}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "s3cr3t-for-tests_0123456789abcdef"
API = "https://api.telegram.org"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def post_telegram(client: Client, body: bytes, *, token: str | None = None):
    token = secret_token(BOT_ID, SECRET) if token is None else token
    headers = {SECRET_HEADER: token} if token else {}
    return committed(client.post, "/webhooks/telegram/", data=body, content_type="application/json", headers=headers)


def deliver(*names: str) -> None:
    for name in names:
        response = post_telegram(Client(), fixture_bytes(name))
        assert response.status_code == 200, (name, response.content)


@pytest.fixture(autouse=True)
def fresh_bot_ids():
    _bot_id.cache_clear()  # account ids are reused across test databases
    yield
    _bot_id.cache_clear()


@pytest.fixture
def telegram():
    """Every Bot API call goes through requests: intercepted here, the real client runs."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def bot(db, team_a):  # noqa: F811 - the fixture, imported above
    return ChannelAccount.objects.create(
        platform="telegram", external_id=BOT_ID, name="012 Telegram", handle="atencio012_bot",
        default_team=team_a, credentials={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
