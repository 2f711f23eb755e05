"""Submissions posted by an administration's own server (and by the demo's simulator).

An administration whose site already has a form can keep it and post each submission, in the
JSON shape of ``payloads.py``, to ``/webhooks/webform/``, signed like Meta's and the
simulator's deliveries: ``X-Webform-Signature: sha256=<hex HMAC-SHA256 of the raw body>``
with the form's ``webhook_secret`` (shown on the form's settings page). The body names the
form (``"form": "<slug>"``): its secret is the one compared, in constant time. Missing: 401;
wrong, or an unknown form: 403. The public form itself never goes through here: it stores
its submissions directly, after its own checks (``guard.py``).
"""

from __future__ import annotations

import hashlib
import hmac

from django.http import HttpRequest

from channels_adapters.base import MalformedPayload, WebhookRejected, constant_time_equals
from channels_adapters.webform import payloads
from channels_adapters.webform.config import form_config
from inbox.models import ChannelAccount

SIGNATURE_HEADER = "X-Webform-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(request: HttpRequest) -> None:
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not header:
        raise WebhookRejected("missing signature", status=401)
    try:
        slug = payloads.form_of(request.body)
    except MalformedPayload:
        slug = ""
    account = (ChannelAccount.objects.filter(platform=payloads.PLATFORM, external_id=slug[:100])
               .only("external_id", "credentials", "simulated").first() if slug else None)
    secret = form_config(account).webhook_secret if account is not None else ""
    expected = sign(request.body, secret) if secret else ""
    # Compared even when no form matched, so an unknown form costs the same as a wrong secret.
    if not constant_time_equals(header, expected or "\0" * len(header)) or not expected:
        raise WebhookRejected("bad signature", status=403)
