"""Telegram's webhook security: the secret token in ``X-Telegram-Bot-Api-Secret-Token``.

Telegram signs nothing; it repeats the ``secret_token`` given to ``setWebhook`` in that header
of every POST. Telegram allows ``A-Z a-z 0-9 _ -`` up to 256 characters, so the token is
``<bot id>_<webhook secret>``: the bot id says which bot (and whose secret) to compare with,
and the whole header is compared in constant time. A request without the header is 401, one
with a wrong or unknown one 403; the secret is never stored with the RawEvent.

Simulated bots (the demo) have no credentials: their secret is derived from SECRET_KEY, as the
demo's X and Meta signing secrets are.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from django.conf import settings
from django.http import HttpRequest

from channels_adapters.base import WebhookRejected, constant_time_equals
from inbox.models import ChannelAccount

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_TOKEN = re.compile(r"(\d{1,20})_[A-Za-z0-9_-]{1,235}")


def simulated_secret(bot_id: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"telegram-sim:{bot_id}".encode(), hashlib.sha256).hexdigest()


def secret_token(bot_id: str, webhook_secret: str) -> str:
    """The header value for a bot: ``<bot id>_<secret>`` (a secret that already starts with
    ``<bot id>_`` is used as it is, so either form works in a credentials file)."""
    prefix = f"{bot_id}_"
    return webhook_secret if webhook_secret.startswith(prefix) else prefix + webhook_secret


def expected_token(account: ChannelAccount) -> str:
    secret = str((account.credentials or {}).get("webhook_secret") or "")
    if not secret and account.simulated:
        secret = simulated_secret(account.external_id)
    return secret_token(account.external_id, secret) if secret else ""


def bot_id(request: HttpRequest) -> str:
    """The bot a request names in its secret-token header ("" if it names none)."""
    match = _TOKEN.fullmatch(request.headers.get(SECRET_HEADER, ""))
    return match.group(1) if match else ""


def verify(request: HttpRequest) -> None:
    header = request.headers.get(SECRET_HEADER, "")
    if not header:
        raise WebhookRejected("missing secret token", status=401)
    named = bot_id(request)
    account = (
        ChannelAccount.objects.filter(platform="telegram", external_id=named).only("external_id", "credentials",
                                                                                   "simulated").first()
        if named else None
    )
    expected = expected_token(account) if account is not None else ""
    # Compared even when no bot matched, so an unknown bot id costs the same as a wrong secret.
    if not constant_time_equals(header, expected or "\0" * len(header)) or not expected:
        raise WebhookRejected("bad secret token", status=403)
