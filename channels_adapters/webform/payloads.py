"""A contact-form submission: the JSON kept as the RawEvent, and its reading into an InboundMessage.

A submission is stored as the record of what arrived (``RawEvent.body``), in one shape whether
it came from the public form (``views.contact``) or from an administration's own server by
the signed webhook (``webhook.py``)::

    {"form": "ajuntament-contacte",          # the account's external id (its public slug)
     "reference": "F-2026-7KQ3M9XD",         # shown to the citizen; the message's id
     "submitted_at": "2026-03-02T10:15:00+01:00",
     "name": "Maria Puig", "email": "maria@example.org", "phone": "+34 600 000 000",
     "message": "...",
     "reply_by": "email",                     # or "inbox": answers are not delivered
     "consent": {"given": true, "text": "..."},  # the text the citizen agreed to, as shown
     "language": "ca"}                        # the language the form was shown in

Each submission opens its own conversation. Its thread key says how the citizen asked to be
answered (``email:<reference>`` or ``inbox:<reference>``), so the composer knows it without
a query. The citizen is the contact of their e-mail address (lower-cased), else of their
phone number, else of the submission alone: repeat writers meet their earlier conversations.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from channels_adapters.base import InboundAuthor, InboundMessage, MalformedPayload, ParseResult
from channels_adapters.readers import iso_time, json_object, opt_str, req_dict, req_str
from inbox.models import Message

PLATFORM = "webform"
REPLY_BY = ("email", "inbox")
MAX_MESSAGE = 5000
# Crockford's base 32 without I, L, O, U: read aloud on the phone without confusion.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_REFERENCE = re.compile(r"F-\d{4}-[0-9A-HJKMNP-TV-Z]{8}")


def reference_new(year: int) -> str:
    """A reference the citizen can quote: random (40 bits), so it reveals no volume and cannot
    be guessed; the year helps a person on the phone."""
    return f"F-{year}-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def thread_key(reference: str, reply_by: str) -> str:
    return f"{reply_by}:{reference}"


def reply_by_of(key: str) -> str:
    """How the citizen asked to be answered, from the conversation's thread key."""
    mode, _, _reference = key.partition(":")
    return mode if mode in REPLY_BY else ""


def reference_of(key: str) -> str:
    return key.partition(":")[2]


def contact_id(*, email: str, phone: str, reference: str) -> str:
    if email:
        return email.lower()[:100]
    digits = "".join(c for c in phone if c.isdigit() or c == "+")
    return f"tel:{digits}"[:100] if len(digits) > 3 else f"anon:{reference}"


@dataclass(frozen=True)
class Submission:
    form: str
    reference: str
    submitted_at: str  # ISO 8601 with its offset
    name: str
    email: str
    phone: str
    message: str
    reply_by: str
    consent_text: str
    language: str

    def as_json(self) -> dict:
        return {
            "form": self.form, "reference": self.reference, "submitted_at": self.submitted_at,
            "name": self.name, "email": self.email, "phone": self.phone, "message": self.message,
            "reply_by": self.reply_by, "consent": {"given": True, "text": self.consent_text},
            "language": self.language,
        }


def form_of(body: bytes) -> str:
    """The account a submission is addressed to (a MalformedPayload when it cannot be read)."""
    return req_str(json_object(body).get("form"), "form")


def parse(body: bytes) -> ParseResult:
    data = json_object(body)
    result = ParseResult()
    # One submission per body; read through ParseResult so a bad one is quarantined with its reason.
    result.read("submission", data, _submission, data)
    return result


def _submission(data: dict) -> InboundMessage:
    reference = req_str(data.get("reference"), "reference")
    if not _REFERENCE.fullmatch(reference):
        raise MalformedPayload(f"reference {reference!r} is not F-<year>-<8 characters>")
    reply_by = req_str(data.get("reply_by"), "reply_by")
    if reply_by not in REPLY_BY:
        raise MalformedPayload(f"reply_by must be one of {REPLY_BY}")
    email = (opt_str(data.get("email"), "email") or "").strip()
    phone = (opt_str(data.get("phone"), "phone") or "").strip()
    if reply_by == "email" and "@" not in email:
        raise MalformedPayload("an answer by e-mail needs an e-mail address")
    text = req_str(data.get("message"), "message").strip()
    if not text or len(text) > MAX_MESSAGE:
        raise MalformedPayload(f"the message must have 1 to {MAX_MESSAGE} characters")
    consent = req_dict(data.get("consent"), "consent")
    if consent.get("given") is not True:
        raise MalformedPayload("a submission is kept only with the citizen's consent")
    name = (opt_str(data.get("name"), "name") or "").strip()
    language = (opt_str(data.get("language"), "language") or "")[:8]
    profile = {"reply_by": reply_by, "reference": reference, "consent_text": str(consent.get("text") or "")[:2000]}
    profile.update({k: v for k, v in (("email", email), ("phone", phone), ("language", language)) if v})
    return InboundMessage(
        platform=PLATFORM, account_external_id=req_str(data.get("form"), "form"), external_id=reference,
        thread_key=thread_key(reference, reply_by), kind=Message.Kind.DM, visibility=Message.Visibility.PRIVATE,
        author=InboundAuthor(external_id=contact_id(email=email, phone=phone, reference=reference),
                             handle=email or phone, name=name[:200], profile=profile),
        text=text, sent_at=iso_time(data.get("submitted_at"), "submitted_at"),
    )
