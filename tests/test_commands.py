"""`manage.py add_channel_account`: validated input, encrypted credentials, one audit
record, and only the new id on stdout."""

from __future__ import annotations

import io
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from inbox.models import AuditEvent, ChannelAccount
from tests.conftest import login

pytestmark = pytest.mark.django_db

SECRET = "tok-3f9a-very-secret"


def add(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("add_channel_account", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def credentials_file(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"access_token": SECRET, "refresh_token": "r-1"}))
    return path


def test_creates_the_account_and_prints_only_its_id(team_a, credentials_file):
    out, _ = add(
        "--platform", "simulator", "--external-id", "city-2", "--name", "City two", "--handle", "@city2",
        "--team", "mobility", "--credentials-file", str(credentials_file),
    )

    account = ChannelAccount.objects.get()
    assert out.strip() == str(account.id)
    assert (account.platform, account.external_id, account.name, account.handle) == ("simulator", "city-2", "City two", "city2")
    assert account.default_team == team_a
    assert account.credentials == {"access_token": SECRET, "refresh_token": "r-1"}
    assert account.status == ChannelAccount.Status.ACTIVE


def test_credentials_are_encrypted_in_the_database(credentials_file):
    out, _ = add("--platform", "simulator", "--external-id", "city-2", "--name", "City", "--credentials-file", str(credentials_file))

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [int(out)])
        (stored,) = cursor.fetchone()
    assert SECRET not in stored
    assert "access_token" not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token


def test_writes_one_audit_event_without_the_secrets(credentials_file):
    out, _ = add("--platform", "simulator", "--external-id", "city-2", "--name", "City", "--credentials-file", str(credentials_file))

    event = AuditEvent.objects.get()
    assert (event.actor, event.verb, event.target_type, event.target_id) == (
        None, "channel_account.connect", "inbox.channelaccount", out.strip(),
    )
    assert event.data["credentials_set"] is True
    assert SECRET not in json.dumps(event.data)


def test_credentials_can_come_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"bot_token": SECRET})))

    out, _ = add("--platform", "simulator", "--external-id", "bot", "--name", "Bot", "--credentials-file", "-")

    assert ChannelAccount.objects.get(id=int(out)).credentials == {"bot_token": SECRET}


def test_without_credentials_file_the_account_has_none():
    out, _ = add("--platform", "simulator", "--external-id", "x1", "--name", "No secrets")
    account = ChannelAccount.objects.get(id=int(out))
    assert account.credentials == {}
    assert account.status == ChannelAccount.Status.ACTIVE  # the simulated network needs none


@pytest.mark.parametrize("platform", ["x", "facebook", "instagram"])
def test_a_real_platform_account_without_credentials_needs_reconnecting(platform):
    out, err = add("--platform", platform, "--external-id", "1590000000000000009", "--name", "City")

    account = ChannelAccount.objects.get(id=int(out))
    assert out.strip() == str(account.id)
    assert account.status == ChannelAccount.Status.NEEDS_RECONNECT
    assert "without credentials" in account.last_error
    assert "Needs reconnecting" in err
    assert AuditEvent.objects.get().verb == "channel_account.connect"


def test_the_x_page_shows_an_account_added_without_credentials_as_needing_reconnecting(dave):
    add("--platform", "x", "--external-id", "1590000000000000009", "--name", "City on X")

    page = login(dave).get("/channels/x/").content.decode()

    assert "City on X" in page
    assert "Needs reconnecting" in page
    assert ">Active<" not in page


def test_a_real_platform_account_with_credentials_is_active(credentials_file):
    out, err = add("--platform", "x", "--external-id", "1590000000000000009", "--name", "City",
                   "--credentials-file", str(credentials_file))

    account = ChannelAccount.objects.get(id=int(out))
    assert account.status == ChannelAccount.Status.ACTIVE
    assert account.last_error == ""
    assert "Needs reconnecting" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "myspace"], "Unknown platform 'myspace'; known platforms: .*simulator"),
        (["--team", "nope"], "No team with slug 'nope' (teams: mobility)"),
        (["--external-id", "  "], "--external-id must not be empty"),
        (["--name", "n" * 201], "--name is 201 characters long; the limit is 200"),
        (["--credentials-file", "/nonexistent/creds.json"], "Cannot read the credentials file"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(team_a, args, message):
    base = {"--platform": "simulator", "--external-id": "city-2", "--name": "City"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        add(*[item for pair in base.items() for item in pair])

    assert not ChannelAccount.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"access_token": "' + SECRET + '",', "is not valid JSON (line 1, column"),
        ('["' + SECRET + '"]', "must hold a JSON object, not list"),
        (b"\xff\xfe", "is not UTF-8 text"),
    ],
)
def test_credentials_file_must_be_a_json_object_and_errors_do_not_echo_it(tmp_path, content, message):
    path = tmp_path / "creds.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)

    with pytest.raises(CommandError) as excinfo:
        add("--platform", "simulator", "--external-id", "city-2", "--name", "City", "--credentials-file", str(path))

    assert message in str(excinfo.value)
    assert SECRET not in str(excinfo.value)
    assert not ChannelAccount.objects.exists()


def test_duplicate_platform_and_external_id_is_a_clear_error(sim_account):
    before = AuditEvent.objects.count()

    with pytest.raises(CommandError, match=rf"A simulator account with external id 'city-sim' already exists \(id {sim_account.id}"):
        add("--platform", "simulator", "--external-id", "city-sim", "--name", "Again")

    assert ChannelAccount.objects.count() == 1
    assert AuditEvent.objects.count() == before


def test_same_external_id_on_another_platform_is_allowed(sim_account, settings):
    settings.CHANNEL_ADAPTERS = {**settings.CHANNEL_ADAPTERS, "simulator2": settings.CHANNEL_ADAPTERS["simulator"]}

    out, _ = add("--platform", "simulator2", "--external-id", "city-sim", "--name", "Other network")

    assert ChannelAccount.objects.get(id=int(out)).platform == "simulator2"
