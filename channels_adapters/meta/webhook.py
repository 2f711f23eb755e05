"""The Meta webhook edge: the subscription handshake and the signature on the raw body.

Meta signs every POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body,
keyed with the app secret>``. The HMAC is computed over the bytes as received: a body
that was parsed and re-serialised no longer matches, which is the point.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from channels_adapters.base import WebhookRejected, constant_time_equals

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Meta sends an integer; anything else is not echoed back.
_CHALLENGE = re.compile(r"^[0-9A-Za-z_.-]{1,256}$")


def sign(body: bytes, secret: str | None = None) -> str:
    secret = settings.META_APP_SECRET if secret is None else secret
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def handshake(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode", "")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if mode != "subscribe" or not challenge:
        raise WebhookRejected("expected hub.mode=subscribe with a hub.challenge", status=400)
    if not settings.META_VERIFY_TOKEN or not constant_time_equals(token, settings.META_VERIFY_TOKEN):
        raise WebhookRejected("bad verify token", status=403)
    if not _CHALLENGE.match(challenge):
        raise WebhookRejected("unexpected hub.challenge", status=400)
    return HttpResponse(challenge, content_type="text/plain")


def verify(request: HttpRequest) -> None:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise WebhookRejected("missing signature", status=401)
    if not settings.META_APP_SECRET:
        raise WebhookRejected("META_APP_SECRET is not configured", status=403)
    if not constant_time_equals(signature, sign(request.body)):
        raise WebhookRejected("bad signature", status=403)

