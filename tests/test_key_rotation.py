"""Rotating the credential encryption key re-encrypts every credential, readable throughout."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from inbox.encryption import _fernet
from inbox.models import ChannelAccount

pytestmark = pytest.mark.django_db


def _raw(account_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [account_id])
        return cursor.fetchone()[0]


def test_rotation_re_encrypts_with_the_new_first_key_and_the_old_key_can_then_go(settings, team_a, capsys):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    account = ChannelAccount.objects.create(platform="x", external_id="42", name="City", credentials={"token": "s3cret"})
    new = Fernet.generate_key().decode()

    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # deploy: new key first, old one still readable
    _fernet.cache_clear()
    assert ChannelAccount.objects.get(id=account.id).credentials == {"token": "s3cret"}
    call_command("rotate_encryption_key")
    assert "1 of 1 channel account(s) re-encrypted" in capsys.readouterr().out
    Fernet(new.encode()).decrypt(_raw(account.id).encode())  # written with the new key

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is dropped
    _fernet.cache_clear()
    assert ChannelAccount.objects.get(id=account.id).credentials == {"token": "s3cret"}
    call_command("rotate_encryption_key")
    assert "0 of 1" in capsys.readouterr().out
