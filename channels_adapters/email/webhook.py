"""Mail posted to ``/webhooks/email/``: an MTA's instant delivery, and the demo's.

IMAP is how an account reads its mailbox. A site that runs its own MTA can also deliver
each message the moment it arrives, by POSTing the raw RFC 5322 bytes (``Content-Type:
message/rfc822``) with two headers:

- ``X-Email-Mailbox``: the account's address (its ``external_id``), which says whose secret to
  check;
- ``X-Email-Signature``: ``sha256=`` + the hex HMAC-SHA256 of the body with the account's
  ``webhook_secret`` (``openssl dgst -sha256 -hmac "$SECRET"`` in a pipe transport).

Missing signature: 401; wrong one or unknown mailbox: 403, compared in constant time. A posted
copy and the same message read by IMAP have the same Message-ID and are stored once.
Simulated accounts (the demo) sign with a secret derived from SECRET_KEY.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest

from channels_adapters.base import WebhookRejected, constant_time_equals
from inbox.models import ChannelAccount

SIGNATURE_HEADER = "X-Email-Signature"
MAILBOX_HEADER = "X-Email-Mailbox"


def simulated_secret(address: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"email-sim:{address}".encode(), hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def mailbox(request: HttpRequest) -> str:
    return request.headers.get(MAILBOX_HEADER, "").strip().lower()[:100]


def _secret(account: ChannelAccount) -> str:
    secret = str((account.credentials or {}).get("webhook_secret") or "")
    if not secret and account.simulated:
        secret = simulated_secret(account.external_id)
    return secret


def verify(request: HttpRequest) -> None:
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not header:
        raise WebhookRejected("missing signature", status=401)
    named = mailbox(request)
    account = (ChannelAccount.objects.filter(platform="email", external_id=named)
               .only("external_id", "credentials", "simulated").first() if named else None)
    secret = _secret(account) if account is not None else ""
    expected = sign(request.body, secret) if secret else ""
    # Compared even when no account matched: an unknown mailbox costs what a wrong signature does.
    if not constant_time_equals(header, expected or "\0" * len(header)) or not expected:
        raise WebhookRejected("bad signature", status=403)
