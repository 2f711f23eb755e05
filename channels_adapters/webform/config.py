"""A form's settings, kept with the account (``ChannelAccount.credentials``, encrypted at rest)::

    {"consent_text": "...",                      # shown above the consent box; required to send
     "allowed_origins": ["https://www.ajuntament.example"],  # who may frame the form
     "answer_account": "atencio@ajuntament.example",  # the e-mail account answers leave from
     "webhook_secret": "..."}                    # for submissions posted by the site's server

Nothing here is a platform grant: a form without settings works (no consent text: the default
one; no origins: it cannot be framed; no e-mail account: answers by e-mail wait for one).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from inbox.models import ChannelAccount


def simulated_secret(slug: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"webform-sim:{slug}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class FormConfig:
    consent_text: str = ""
    allowed_origins: tuple[str, ...] = ()
    answer_account: str = ""  # external id of an e-mail ChannelAccount
    webhook_secret: str = ""
    extra: dict = field(default_factory=dict)

    def consent(self) -> str:
        return self.consent_text or _(
            "I agree that the administration keeps my message and contact details to answer it, "
            "as its privacy notice describes."
        )


def form_config(account: ChannelAccount) -> FormConfig:
    data = dict(account.credentials or {})
    origins = data.pop("allowed_origins", None) or []
    secret = str(data.pop("webhook_secret", "") or "") or (simulated_secret(account.external_id)
                                                             if account.simulated else "")
    return FormConfig(
        consent_text=str(data.pop("consent_text", "") or ""),
        allowed_origins=tuple(str(o) for o in origins if isinstance(o, str)),
        answer_account=str(data.pop("answer_account", "") or ""),
        webhook_secret=secret, extra=data,
    )


def origin_normalise(value: str) -> str:
    """``https://www.example.org/contact`` → ``https://www.example.org``; ValueError if it is not
    an http(s) origin (a CSP source must be exact: no paths, no wildcards we did not mean)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or "*" in value:
        raise ValueError(value)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"
