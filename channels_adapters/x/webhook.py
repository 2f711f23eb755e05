"""X's webhook security: the CRC challenge and the signature on every POST.

Both are ``sha256=`` + base64 of an HMAC-SHA256. X signs with the app's OAuth 1.0a consumer
secret (``X-Twitter-Webhooks-Signature``) and, for apps that have one, also with the OAuth
2.0 client secret (``X-Twitter-Webhooks-Signature-OAuth2``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings

SIGNATURE_HEADER = "X-Twitter-Webhooks-Signature"
SIGNATURE_HEADER_OAUTH2 = "X-Twitter-Webhooks-Signature-OAuth2"


def sign(data: bytes | str, secret: str | None = None) -> str:
    secret = secret if secret is not None else settings.X_CONSUMER_SECRET
    data = data.encode() if isinstance(data, str) else data
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_secret() -> str:
    """The consumer secret when configured (what X uses for OAuth 1.0a apps), else the client secret."""
    return settings.X_CONSUMER_SECRET or settings.X_CLIENT_SECRET


def crc_response_token(crc_token: str) -> str:
    return sign(crc_token, crc_secret())
