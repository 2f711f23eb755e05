"""X's webhook security: the CRC challenge and the signature on every POST.

Both are ``sha256=`` + base64 of an HMAC-SHA256 with the app's consumer secret (API secret
key), as X's webhook documentation requires: never the bearer token or the OAuth 2.0 client
secret. Without ``X_CONSUMER_SECRET`` the webhook cannot be verified and refuses everything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from channels_adapters.base import WebhookRejected, constant_time_equals

SIGNATURE_HEADER = "X-Twitter-Webhooks-Signature"


def sign(data: bytes | str, secret: str | None = None) -> str:
    secret = secret if secret is not None else settings.X_CONSUMER_SECRET
    data = data.encode() if isinstance(data, str) else data
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response_token(crc_token: str) -> str:
    return sign(crc_token, settings.X_CONSUMER_SECRET)


def handshake(request: HttpRequest) -> HttpResponse:
    """X's challenge-response check (CRC): a GET with ``crc_token``, answered with its HMAC."""
    crc_token = request.GET.get("crc_token", "")
    if not crc_token:
        raise WebhookRejected("missing crc_token", status=400)
    return JsonResponse({"response_token": crc_response_token(crc_token)})


def verify(request: HttpRequest) -> None:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise WebhookRejected("missing signature", status=401)
    if not settings.X_CONSUMER_SECRET or not constant_time_equals(signature, sign(request.body)):
        raise WebhookRejected("bad signature", status=403)
