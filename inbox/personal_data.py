"""Personal data that must not go out in a public reply.

Officers move to a private message when an answer holds personal data. This check finds
the usual suspects in a reply before it is published: identity numbers (validated with
python-stdnum, so "12345678" alone is not one), bank accounts (IBAN checksum), e-mail
addresses and personal phone numbers (phonenumbers; toll-free and shared-cost service lines
such as 900 or 901 numbers are public information and pass).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType
from stdnum import iban
from stdnum.es import nie, nif

_ID_CANDIDATE = re.compile(r"\b[0-9XYZxyz][0-9]{7}[-\s]?[A-Za-z]\b")
_IBAN_CANDIDATE = re.compile(r"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_PUBLIC_LINES = {
    PhoneNumberType.TOLL_FREE, PhoneNumberType.SHARED_COST, PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL,
}


@dataclass(frozen=True)
class Finding:
    kind: str  # "identity number", "bank account", "e-mail address", "phone number"
    text: str


def personal_data_find(text: str, *, region: str = "ES", public_email_domains: tuple[str, ...] = ()) -> list[Finding]:
    """What looks like personal data in ``text``; addresses at ``public_email_domains`` pass."""
    findings: list[Finding] = []
    for match in _ID_CANDIDATE.finditer(text):
        candidate = match.group().replace("-", "").replace(" ", "").upper()
        if nif.is_valid(candidate) or nie.is_valid(candidate):
            findings.append(Finding("identity number", match.group()))
    for match in _IBAN_CANDIDATE.finditer(text):
        if iban.is_valid(match.group()):
            findings.append(Finding("bank account", match.group()))
    findings += [
        Finding("e-mail address", m.group()) for m in _EMAIL.finditer(text)
        if m.group().rsplit("@", 1)[1].lower() not in public_email_domains
    ]
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        if phonenumbers.number_type(match.number) not in _PUBLIC_LINES:
            findings.append(Finding("phone number", match.raw_string))
    return findings
