"""Personal data replaced by stable tokens, keeping the text's shape.

A token is ``[<kind>:<letters>]``: the letters are an HMAC-SHA256 of the value under
``settings.RECORDS_TOKEN_KEY``, so the same name or phone number gets the same token in every
conversation and every run (statistics can still count a person's conversations), and the
value cannot be read back without the key. Letters only: a token never looks like a phone
number, an identity number or an IBAN to the detector, so scrubbing twice changes nothing.

Erasure uses ``[erased]`` instead: nothing left to link.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

from inbox.personal_data import personal_data_find

_KIND_TAGS = {
    "identity number": "id", "bank account": "iban", "e-mail address": "email", "phone number": "phone",
}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
ERASED = "[erased]"


def value_token(kind: str, value: str, *, key: str | None = None) -> str:
    """``[name:qhzkdtwa]``: the same kind and value give the same token (case and spacing apart)."""
    normal = re.sub(r"\s+", " ", value.strip()).casefold()
    if kind in ("phone", "iban", "id"):
        normal = re.sub(r"[\s().-]", "", normal)
    digest = hmac.new((key or settings.RECORDS_TOKEN_KEY).encode(), f"{kind}:{normal}".encode(), hashlib.sha256).digest()
    return f"[{kind}:{''.join(_LETTERS[b % 26] for b in digest[:8])}]"


@dataclass
class Scrubber:
    """Replaces the known values of a data subject (names, handles, platform ids) and whatever
    the personal-data detector finds; ``erase`` puts ``[erased]`` instead of tokens."""

    known: list[tuple[str, str]] = field(default_factory=list)  # (kind, value)
    erase: bool = False
    replaced: int = 0
    _pattern: re.Pattern | None = field(default=None, init=False, repr=False)
    _by_value: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.add_known(self.known)

    def add_known(self, items: Iterable[tuple[str, str]]) -> None:
        for kind, value in items:
            value = (value or "").strip().lstrip("@")
            if len(value) < 3 or value.casefold() in self._by_value:
                continue
            self._by_value[value.casefold()] = self._token(kind, value)
            if kind == "name":
                # "Hola Maria" in a reply to "Maria Puig": each part of a name on its own too.
                for part in value.split():
                    if len(part) >= 3 and part.casefold() not in self._by_value:
                        self._by_value[part.casefold()] = self._token("name", part)
        # Longest first, whole words only (an "@" before a handle goes with it).
        values = sorted(self._by_value, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<![\w])@?(?:" + "|".join(re.escape(v) for v in values) + r")(?![\w])", re.IGNORECASE
        ) if values else None

    def _token(self, kind: str, value: str) -> str:
        return ERASED if self.erase else value_token(kind, value)

    def text(self, text: str) -> str:
        if not text:
            return text
        # The detector first: "maria.puig@example.org" is one e-mail address, not two names.
        findings = personal_data_find(text, region=settings.PHONE_REGION,
                                      public_email_domains=settings.PUBLIC_EMAIL_DOMAINS)
        # Longest first: a phone number inside an IBAN candidate is replaced with the IBAN.
        for finding in sorted(set(findings), key=lambda f: len(f.text), reverse=True):
            if finding.text in text:
                self.replaced += text.count(finding.text)
                text = text.replace(finding.text, self._token(_KIND_TAGS.get(finding.kind, "data"), finding.text))
        if self._pattern is not None:
            text = self._pattern.sub(self._known_sub, text)
        return text
        if self._pattern is not None:
            text = self._pattern.sub(self._known_sub, text)
        findings = personal_data_find(text, region=settings.PHONE_REGION,
                                      public_email_domains=settings.PUBLIC_EMAIL_DOMAINS)
        # Longest first: a phone number inside an IBAN candidate is replaced with the IBAN.
        for finding in sorted(set(findings), key=lambda f: len(f.text), reverse=True):
            if finding.text in text:
                self.replaced += text.count(finding.text)
                text = text.replace(finding.text, self._token(_KIND_TAGS.get(finding.kind, "data"), finding.text))
        return text

    def _known_sub(self, match: re.Match) -> str:
        self.replaced += 1
        found = match.group()
        return self._by_value.get(found.lstrip("@").casefold(), found)

    def data(self, value):
        """Every string in a JSON-like structure; numbers, booleans and keys are kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        return value

    def payload(self, body: bytes) -> bytes:
        """A raw delivery: JSON is walked string by string (escapes decoded first); anything
        else is scrubbed as text."""
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self.text(body.decode("utf-8", errors="replace")).encode()
        return json.dumps(self.data(parsed), ensure_ascii=False, separators=(",", ":")).encode()
