"""The address a request came from, as seen past the reverse proxies we were told to trust.

Behind a proxy every request arrives from the proxy itself: per-address limits keyed on
``REMOTE_ADDR`` alone (the sign-in lock-out, the webhook flood guard, the contact form's
limits) would then count every citizen together, and one attacker would lock everyone out.
``TRUSTED_PROXY_COUNT`` says how many proxies in front of the app append to
``X-Forwarded-For`` (0, the default: trust no header and use the peer's address, so a
client cannot pick its own address by sending the header).

The parsing is Django REST framework's (``NUM_PROXIES``, set from the same setting), so the
API's throttles and these limits agree on who is who.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

_IDENT = BaseThrottle()


def client_ip(request: HttpRequest | None) -> str:
    """The client's address: the ``TRUSTED_PROXY_COUNT``-th from the right of
    ``X-Forwarded-For`` when proxies are trusted, else the peer's; "" without a request."""
    if request is None:
        return ""
    return _IDENT.get_ident(request) or ""
