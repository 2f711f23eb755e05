"""Settings helpers fail at start-up on bad values; secrets are encrypted at rest."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config.env import env_bool, env_int, env_list, env_str
from inbox.models import ChannelAccount


def test_env_helpers_parse_and_reject(monkeypatch, tmp_path):
    monkeypatch.setenv("CI_FLAG", "yes")
    monkeypatch.setenv("CI_NUM", "42")
    monkeypatch.setenv("CI_LIST", "a.example, b.example ,")
    assert env_bool("CI_FLAG") is True
    assert env_int("CI_NUM", 1) == 42
    assert env_list("CI_LIST") == ["a.example", "b.example"]
    monkeypatch.setenv("CI_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="CI_FLAG"):
        env_bool("CI_FLAG")
    monkeypatch.setenv("CI_NUM", "forty")
    with pytest.raises(ImproperlyConfigured, match="CI_NUM"):
        env_int("CI_NUM", 1)
    with pytest.raises(ImproperlyConfigured, match="at least"):
        monkeypatch.setenv("CI_NUM", "0")
        env_int("CI_NUM", 1, minimum=1)


def test_secrets_can_come_from_files(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("CI_SECRET_FILE", str(secret))
    assert env_str("CI_SECRET") == "s3cr3t"
    monkeypatch.setenv("CI_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="CI_SECRET_FILE"):
        env_str("CI_SECRET")


@pytest.mark.django_db
def test_channel_credentials_are_encrypted_at_rest():
    account = ChannelAccount.objects.create(
        platform="simulator", external_id="enc", name="Enc", credentials={"access_token": "tok-very-secret"}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [account.id])
        stored = cursor.fetchone()[0]
    assert "tok-very-secret" not in stored
    assert ChannelAccount.objects.get(id=account.id).credentials == {"access_token": "tok-very-secret"}


def test_language_detection_covers_the_feed_languages():
    from inbox.language import language_detect

    assert language_detect("Quan passaran a recollir els mobles vells del carrer?") == "ca"
    assert language_detect("¿Cuándo pasa el autobús nocturno por la plaza?") == "es"
    assert language_detect("Kiedy będzie wywóz śmieci na naszej ulicy?") == "pl"
    assert language_detect("چراغ‌های خیابان ما از دوشنبه خاموش است") == "fa"
    assert language_detect("@ajuntament 👍") == ""
