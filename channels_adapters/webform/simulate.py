"""Contact-form submissions for the demo, built from the simulated citizen feed.

A form has no threads: every feed event (a follow-up included) is a new submission with its
own reference, as a citizen who writes again through a form makes. The body is the JSON the
public form stores (``payloads.py``), posted to ``/webhooks/webform/`` signed with the
simulated form's secret (``config.simulated_secret``), so the demo runs through ``verify``
and ``parse``. Four in five citizens ask for an answer by e-mail; some leave a phone number;
the consent is the form's own text, in the citizen's language where the interface has it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import datetime

from django.utils import translation

from channels_adapters.base import SimulatedAccount
from channels_adapters.webform import payloads
from channels_adapters.webform.config import form_config
from channels_adapters.webform.webhook import SIGNATURE_HEADER, sign
from inbox.models import ChannelAccount

ACCOUNTS = [
    SimulatedAccount("webform", "ajuntament-contacte", "Formulari de contacte", "ajuntament-contacte", team="general"),
]
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _reference(event_id: str, year: int) -> str:
    digest = _digest(f"ref:{event_id}")
    return f"F-{year}-" + "".join(_ALPHABET[b % 32] for b in digest[:8])


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum() or c == ".") or "citizen"


def webform_payloads(feed_event: dict, account: ChannelAccount) -> tuple[bytes, dict[str, str]]:
    """One feed event -> (a submission, the headers of a signed POST to /webhooks/webform/)."""
    created = datetime.fromisoformat(feed_event["created_at"])
    author = feed_event["from"]
    name = author.get("name") or author.get("handle") or ""
    digest = _digest(author["id"])
    reply_by = "inbox" if digest[0] % 5 == 0 else "email"
    language = feed_event.get("language") or ""
    config = form_config(account)
    with translation.override(language or "en"):
        consent = config.consent()
    submission = payloads.Submission(
        form=account.external_id, reference=_reference(feed_event["id"], created.year),
        submitted_at=created.isoformat(), name=name,
        email=f"{_ascii(name).replace(' ', '.')}@example.org" if reply_by == "email" or digest[1] % 2 else "",
        phone=f"+34 6{int.from_bytes(digest[2:6], 'big') % 10**8:08d}" if digest[6] % 3 == 0 else "",
        message=feed_event["text"], reply_by=reply_by, consent_text=consent, language=language,
    )
    body = json.dumps(submission.as_json(), ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, config.webhook_secret)}
