"""Admins connect X accounts: OAuth 2.0 with PKCE, or OAuth 1.0a tokens; nobody else can."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.test import Client

from channels_adapters.x.views import SESSION_KEY
from inbox.models import AuditEvent, ChannelAccount

from .conftest import ACCOUNT_ID, fixture_bytes, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def oauth_app(settings):
    settings.X_CLIENT_ID, settings.X_CLIENT_SECRET = "client-id", "client-secret"
    settings.SITE_URL = "https://inbox.example.gov"


def start(client) -> dict:
    response = client.post("/channels/x/connect/")
    assert response.status_code == 302
    return parse_qs(urlparse(response["Location"]).query)


def test_officer_supervisor_and_anonymous_cannot_connect(oauth_app, alice, carol):
    for client in (login(alice), login(carol)):
        assert client.get("/channels/x/").status_code == 403
        assert client.post("/channels/x/connect/").status_code == 403
        assert client.post("/channels/x/tokens/", {"access_token": f"{ACCOUNT_ID}-a", "access_token_secret": "s"}).status_code == 403
        assert SESSION_KEY not in client.session
    assert Client().post("/channels/x/connect/").status_code == 302  # to the login page
    assert not ChannelAccount.objects.exists() and not AuditEvent.objects.exists()


def test_connect_redirects_to_x_with_pkce_and_keeps_the_verifier_in_the_session(oauth_app, dave):
    client = login(dave)
    query = start(client)

    pending = client.session[SESSION_KEY]
    assert query["state"] == [pending["state"]]
    assert query["client_id"] == ["client-id"]
    assert query["redirect_uri"] == ["https://inbox.example.gov/channels/x/callback/"]
    assert set(query["scope"][0].split()) == {"tweet.read", "tweet.write", "users.read", "dm.read", "dm.write", "offline.access"}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pending["verifier"].encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [challenge] and query["code_challenge_method"] == ["S256"]


def test_callback_exchanges_the_code_and_creates_the_account(api, oauth_app, dave):
    client = login(dave)
    state = start(client)["state"][0]
    verifier = client.session[SESSION_KEY]["verifier"]
    api.add(responses.POST, api.base + "/2/oauth2/token", body=fixture_bytes("oauth2_token__ok.json"),
            content_type="application/json")
    api.add(responses.GET, api.base + "/2/users/me", body=fixture_bytes("users_me__ok.json"),
            content_type="application/json")

    response = client.get("/channels/x/callback/", {"state": state, "code": "auth-code-1"})

    assert response.status_code == 302
    token_request = api.calls[0].request
    body = parse_qs(token_request.body)
    assert body["grant_type"] == ["authorization_code"] and body["code"] == ["auth-code-1"]
    assert body["code_verifier"] == [verifier]
    token = json.loads(fixture_bytes("oauth2_token__ok.json"))
    assert api.calls[1].request.headers["Authorization"] == f"Bearer {token['access_token']}"
    account = ChannelAccount.objects.get(platform="x")
    assert (account.external_id, account.handle, account.status) == (ACCOUNT_ID, "CiutatExemple", "active")
    assert account.credentials["oauth2"]["refresh_token"] == token["refresh_token"]
    audit = AuditEvent.objects.get(verb="channel_account.connect")
    assert audit.actor == dave and audit.target_id == str(account.id)
    assert token["access_token"] not in json.dumps(audit.data)  # no secret in the audit trail
    assert SESSION_KEY not in client.session
    page = client.get("/channels/x/")
    assert b"@CiutatExemple is connected" in page.content


def test_credentials_are_encrypted_at_rest(api, oauth_app, dave):
    from django.db import connection

    client = login(dave)
    state = start(client)["state"][0]
    api.add(responses.POST, api.base + "/2/oauth2/token", body=fixture_bytes("oauth2_token__ok.json"),
            content_type="application/json")
    api.add(responses.GET, api.base + "/2/users/me", body=fixture_bytes("users_me__ok.json"),
            content_type="application/json")
    client.get("/channels/x/callback/", {"state": state, "code": "auth-code-1"})

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials::text FROM inbox_channelaccount WHERE platform = 'x'")
        stored = cursor.fetchone()[0]
    assert "refresh_token" not in stored and "access_token" not in stored


def test_callback_with_a_wrong_state_is_refused_and_calls_nobody(api, oauth_app, dave):
    client = login(dave)
    start(client)

    response = client.get("/channels/x/callback/", {"state": "forged", "code": "auth-code-1"})

    assert response.status_code == 400
    assert len(api.calls) == 0
    assert not ChannelAccount.objects.exists()
    # The pending authorisation is spent: replaying the right state now fails too.
    assert client.get("/channels/x/callback/", {"state": "forged", "code": "x"}).status_code == 400


def test_reconnecting_a_revoked_account_makes_it_active_again(api, oauth_app, dave, x_account):
    ChannelAccount.objects.filter(id=x_account.id).update(status=ChannelAccount.Status.NEEDS_RECONNECT,
                                                          last_error="revoked")
    client = login(dave)
    assert b"Needs reconnecting" in client.get("/channels/x/").content
    state = start(client)["state"][0]
    api.add(responses.POST, api.base + "/2/oauth2/token", body=fixture_bytes("oauth2_token__ok.json"),
            content_type="application/json")
    api.add(responses.GET, api.base + "/2/users/me", body=fixture_bytes("users_me__ok.json"),
            content_type="application/json")

    client.get("/channels/x/callback/", {"state": state, "code": "auth-code-2"})

    x_account.refresh_from_db()
    assert x_account.status == ChannelAccount.Status.ACTIVE and x_account.last_error == ""
    assert x_account.default_team is not None  # the account's settings are kept
    assert AuditEvent.objects.filter(verb="channel_account.reconnect", actor=dave).exists()


def test_oauth1_tokens_are_checked_with_x_then_stored(api, dave, settings):
    settings.X_CONSUMER_KEY = "consumer-key"
    api.add(responses.GET, api.base + "/2/users/me", body=fixture_bytes("users_me__ok.json"),
            content_type="application/json")

    response = login(dave).post("/channels/x/tokens/", {"access_token": f"{ACCOUNT_ID}-AbCdEf",
                                                        "access_token_secret": "token-secret"})

    assert response.status_code == 302
    assert api.calls[0].request.headers["Authorization"].startswith("OAuth ")
    account = ChannelAccount.objects.get(platform="x")
    assert account.credentials == {"oauth1": {"access_token": f"{ACCOUNT_ID}-AbCdEf", "access_token_secret": "token-secret"}}
    assert AuditEvent.objects.filter(verb="channel_account.connect", data__method="oauth1").exists()


def test_oauth1_tokens_x_refuses_are_not_stored(api, dave, settings):
    settings.X_CONSUMER_KEY = "consumer-key"
    api.add(responses.GET, api.base + "/2/users/me", body=fixture_bytes("errors__401.json"), status=401,
            content_type="application/json")

    response = login(dave).post("/channels/x/tokens/", {"access_token": f"{ACCOUNT_ID}-AbCdEf",
                                                        "access_token_secret": "wrong"})

    assert response.status_code == 200 and b"X did not accept these tokens" in response.content
    assert not ChannelAccount.objects.exists()
