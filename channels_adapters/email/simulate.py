"""E-mail as the demo's citizens would send it, built from the simulated feed.

Real shapes, chosen per event from its id so the demo shows each: a plain-text mail, an
HTML mail with its text alternative (Gmail's ``multipart/alternative``), a mail with a PDF
attached (``multipart/mixed``), names and subjects that need RFC 2047 encoded words (the
feed's accents), and follow-ups that are replies in the thread (``In-Reply-To``,
``References``, ``Subject: Re: …``, the earlier message quoted below, as mail clients do).
The body is signed for ``/webhooks/email/`` (``webhook.simulated_secret``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from html import escape

from channels_adapters.base import SimulatedAccount
from channels_adapters.email.webhook import MAILBOX_HEADER, SIGNATURE_HEADER, sign, simulated_secret

ACCOUNTS = [
    # No handle: an address is not an @name (the address is the account's id).
    SimulatedAccount("email", "atencio@ajuntament.example", "Atenció ciutadana (e-mail)", "", team="general"),
]
SUBJECTS = {
    "ca": "Consulta a l'Ajuntament", "es": "Consulta al Ayuntamiento", "en": "Question for the City Council",
    "fr": "Question à la mairie", "pl": "Pytanie do urzędu miasta",
}
# A tiny but well-formed PDF: what a citizen attaches (a form, a receipt).
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


# A follow-up answers with its thread's subject (remembered per process, as a mail client
# remembers what it replies to); a thread it does not know gets the generic one.
_subjects: dict[str, str] = {}


def _subject(text: str) -> str:
    """What citizens put in a subject: the start of what they write."""
    first = text.replace("\n", " ").split(". ")[0].split("? ")[0].strip(" .?!")
    return first if len(first) <= 60 else first[:57].rsplit(" ", 1)[0] + "…"


def _shape(event_id: str) -> int:
    return hashlib.sha256(event_id.encode()).digest()[0] % 3


def _address(author: dict) -> str:
    handle = "".join(c for c in (author.get("handle") or author.get("id") or "citizen").lower()
                     if (c.isascii() and c.isalnum()) or c in "._-") or "citizen"
    return f"{handle}@correu.example"


def _id(event_id: str) -> str:
    return f"<{event_id}@correu.example>"


def email_payloads(feed_event: dict, address: str) -> tuple[bytes, dict[str, str]]:
    """One feed event -> (an RFC 5322 message, the headers an MTA would POST it with)."""
    author = feed_event["from"]
    created = datetime.fromisoformat(feed_event["created_at"])
    language = feed_event.get("language") or "ca"
    text = feed_event["text"]
    thread = feed_event.get("thread_id") or feed_event["id"]
    mail = EmailMessage()
    mail["From"] = formataddr((author.get("name") or "", _address(author)))  # encoded words when needed
    mail["To"] = address
    mail["Date"] = format_datetime(created)
    mail["Message-ID"] = _id(feed_event["id"])
    subject = _subjects.get(thread) or _subject(text) or SUBJECTS.get(language, SUBJECTS["en"])
    _subjects[feed_event["id"]] = subject
    while len(_subjects) > 2000:
        _subjects.pop(next(iter(_subjects)))
    if thread != feed_event["id"]:
        mail["Subject"] = f"Re: {subject}"
        mail["In-Reply-To"] = _id(thread)
        mail["References"] = _id(thread)
        quoted = f"\n\nOn {format_datetime(created)}, {author.get('name') or ''} wrote:\n> ..."
        mail.set_content(text + quoted)
    else:
        mail["Subject"] = subject
        shape = _shape(feed_event["id"])
        mail.set_content(f"{text}\n\n-- \n{author.get('name') or ''}\n")
        if shape == 1:
            mail.add_alternative(f"<html><body><p>{escape(text)}</p><p>-- <br>{escape(author.get('name') or '')}"
                                 "</p></body></html>", subtype="html")
        elif shape == 2:
            mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="sol·licitud.pdf")
    mail["X-Mailer"] = "Simulated citizen"
    body = mail.as_bytes()
    return body, {"Content-Type": "message/rfc822", MAILBOX_HEADER: address,
                  SIGNATURE_HEADER: sign(body, simulated_secret(address))}
