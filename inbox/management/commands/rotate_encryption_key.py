"""Re-encrypt every stored credential with the first key of FIELD_ENCRYPTION_KEYS.

Rotation without downtime: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old one
after it) and restart; every process can then read both. Run this command; when it reports
that nothing is left under an old key, drop the old key from the setting.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from inbox.audit import audit_record
from inbox.encryption import fernet
from inbox.models import ChannelAccount


class Command(BaseCommand):
    help = "Re-encrypt every channel credential with the first key of FIELD_ENCRYPTION_KEYS (no downtime)."

    def handle(self, *args, **options):
        table = connection.ops.quote_name(ChannelAccount._meta.db_table)
        first = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
        rotated = 0
        ids = list(ChannelAccount.objects.order_by("id").values_list("id", flat=True))
        for account_id in ids:
            with transaction.atomic(), connection.cursor() as cursor:
                # The raw token, locked: a concurrent reconnect waits, and its write (with the
                # first key already) is never overwritten by an older value.
                cursor.execute(f"SELECT credentials FROM {table} WHERE id = %s FOR UPDATE", [account_id])  # noqa: S608
                row = cursor.fetchone()
                if row is None or not row[0]:
                    continue
                try:
                    first.decrypt(row[0].encode())
                    continue  # already under the first key
                except InvalidToken:
                    token = fernet().rotate(row[0].encode()).decode()
                cursor.execute(f"UPDATE {table} SET credentials = %s WHERE id = %s", [token, account_id])  # noqa: S608
                rotated += 1
        if rotated:
            audit_record(None, "credentials.rotate", ChannelAccount(pk=0), accounts=rotated)
        self.stdout.write(f"{rotated} of {len(ids)} channel account(s) re-encrypted with the first key.")
