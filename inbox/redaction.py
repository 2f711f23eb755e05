"""Keep secrets out of what is stored and shown: error texts from HTTP libraries quote the
URL they called, and some platforms (the Graph API) put tokens in the query string."""

from __future__ import annotations

import re

_SECRET_PARAMS = re.compile(
    r"(?i)\b(access_token|appsecret_proof|client_secret|refresh_token|oauth_token|oauth_verifier"
    r"|code_verifier|token|key|secret|signature)=([^&\s'\"]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|oauth)\s+[A-Za-z0-9._~+/=-]{12,}")


def redact_secrets(text: str) -> str:
    """``...?access_token=EAAB...&x=1`` -> ``...?access_token=[redacted]&x=1``."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=[redacted]", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
