"""The simulated platform's webhook security: ``X-Simulator-Signature`` on every POST.

``sha256=`` + hex HMAC-SHA256 of the raw body, keyed with ``SIMULATOR_SECRET``, as a real
platform would sign it.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest

from channels_adapters.base import WebhookRejected, constant_time_equals

SIGNATURE_HEADER = "X-Simulator-Signature"


def sign(body: bytes, secret: str | None = None) -> str:
    secret = secret or settings.SIMULATOR_SECRET
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(request: HttpRequest) -> None:
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise WebhookRejected("missing signature", status=401)
    if not constant_time_equals(signature, sign(request.body)):
        raise WebhookRejected("bad signature", status=403)
