"""Spam resistance without third-party services: what a submission must pass before it is kept.

In the order the view applies them (cheapest first):

1. **Too many posts from one address** (``WEBFORM_POSTS_PER_ADDRESS``, default 20 per 10 min,
   counted on every POST) — answered 429 before the form is read.
2. **The signed form token** (``token_issue`` / ``token_read``): issued with the page, signed
   with SECRET_KEY for this form, carrying the time it was issued and a nonce. It replaces the
   CSRF cookie, which a browser does not send to a form framed on another site (a third-party
   cookie, or a SameSite=Lax one in a cross-site frame): the view acts for nobody (no session, no
   user), so there is no ambient authority for a forged request to borrow; the token proves the
   post follows a page we served for this form, recently (``WEBFORM_TOKEN_MAX_AGE``, 2 h), and
   once (the nonce is spent in the cache). A post whose ``Origin`` is another site is refused.
3. **The honeypot**: a field people never see or reach (``hp_url``); a value there is a bot.
4. **Minimum fill time** (``WEBFORM_MIN_SECONDS``, 3 s) from the token's time.
5. **Under attack, a challenge**: when one form receives more than ``WEBFORM_ATTACK_POSTS`` posts
   (default 30 per 5 min, every post counted), it is under attack for ``WEBFORM_ATTACK_HOLD``
   (30 min): every page then carries a proof of work, solved by ``static/js/webform.js``
   (SHA-256 of ``<seed>:<n>`` with ``WEBFORM_POW_BITS`` leading zero bits, about a second in a
   browser), and a plain question for people without JavaScript. Either passes.
6. **Accepted submissions per address and per e-mail** (``WEBFORM_SUBMISSIONS_PER_ADDRESS``,
   5 an hour; ``WEBFORM_SUBMISSIONS_PER_EMAIL``, 3 an hour).

Every refusal re-renders the form with what the citizen typed and a fresh token, and says
why, so a person loses nothing. Counters live in the cache (Redis); with Redis away the
counting steps aside (the token, honeypot, timing and challenge checks do not need it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from config.client_ip import client_ip

logger = logging.getLogger(__name__)


def setting(name: str, default):
    return getattr(settings, name, default)


def client_address(request: HttpRequest) -> str:
    return client_ip(request) or "?"


@contextmanager
def cache_may_be_down():
    try:
        yield
    except RedisError:
        logger.warning("webform: the cache is unreachable; submissions are not counted meanwhile")


# --- rate limits (django-ratelimit, fixed windows in the cache) ------------------------------

def _limited(request: HttpRequest, group: str, key: str, rate: str, *, increment: bool) -> bool:
    """With ``increment``: count this one, True past the limit. Without: would one more be past it?"""
    limited = False
    with cache_may_be_down():
        usage = get_usage(request, group=group, key=lambda _g, _r: key, rate=rate, increment=increment)
        if usage is not None:
            limited = usage["count"] > usage["limit"] if increment else usage["count"] >= usage["limit"]
    return limited


def posts_flooding(request: HttpRequest, slug: str) -> bool:
    """Count this post against its address; True past the limit (answered 429 unread)."""
    return _limited(request, f"webform-posts:{slug}", client_address(request),
                    setting("WEBFORM_POSTS_PER_ADDRESS", "20/10m"), increment=True)


def submissions_limited(request: HttpRequest, slug: str, email: str, *, increment: bool) -> bool:
    """Accepted submissions per address and per e-mail address (counted only when accepted)."""
    by_address = _limited(request, f"webform-sent:{slug}", client_address(request),
                          setting("WEBFORM_SUBMISSIONS_PER_ADDRESS", "5/h"), increment=increment)
    by_email = bool(email) and _limited(request, f"webform-email:{slug}", email.lower(),
                                        setting("WEBFORM_SUBMISSIONS_PER_EMAIL", "3/h"), increment=increment)
    return by_address or by_email


def _attack_key(slug: str) -> str:
    return f"webform:attack:{slug}"


def load_count(request: HttpRequest, slug: str) -> None:
    """Count a post to the form; past the threshold, the form is under attack for a while."""
    if _limited(request, "webform-load", slug, setting("WEBFORM_ATTACK_POSTS", "30/5m"), increment=True):
        with cache_may_be_down():
            if cache.add(_attack_key(slug), int(time.time()), timeout=setting("WEBFORM_ATTACK_HOLD", 1800)):
                logger.warning("webform %s: more than %s posts; the challenge is on", slug,
                               setting("WEBFORM_ATTACK_POSTS", "30/5m"))


def under_attack(slug: str) -> bool:
    with cache_may_be_down():
        return bool(cache.get(_attack_key(slug)))
    return False


def attack_end(slug: str) -> None:
    with cache_may_be_down():
        cache.delete(_attack_key(slug))


# --- the signed form token ---------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    issued: float
    nonce: str
    challenge: str  # the proof-of-work seed; "" when no challenge was asked
    question: int  # which question (index), -1 when none


class TokenInvalid(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _salt(slug: str) -> str:
    return f"webform:{slug}"


def token_issue(slug: str, *, challenge: bool, issued: float | None = None) -> str:
    return signing.dumps({
        "t": round(issued if issued is not None else time.time(), 3),
        "n": secrets.token_urlsafe(12),
        "c": secrets.token_hex(8) if challenge else "",
        "q": secrets.randbelow(len(QUESTIONS)) if challenge else -1,
    }, salt=_salt(slug), compress=False)


def token_read(slug: str, value: str) -> Token:
    try:
        data = signing.loads(value or "", salt=_salt(slug))
        token = Token(issued=float(data["t"]), nonce=str(data["n"]), challenge=str(data["c"]), question=int(data["q"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise TokenInvalid("bad") from None
    age = time.time() - token.issued
    if age > setting("WEBFORM_TOKEN_MAX_AGE", 7200) or age < -60:
        raise TokenInvalid("expired")
    return token


def nonce_spend(slug: str, token: Token) -> bool:
    """True the first time a token is used; False after (a replay, or a double submit)."""
    spent = True
    with cache_may_be_down():
        spent = cache.add(f"webform:nonce:{slug}:{token.nonce}", 1, timeout=setting("WEBFORM_TOKEN_MAX_AGE", 7200) + 60)
    return spent


def too_fast(token: Token) -> bool:
    return time.time() - token.issued < setting("WEBFORM_MIN_SECONDS", 3)


# --- the challenge: a proof of work, or a question -------------------------------------------

def pow_bits() -> int:
    return int(setting("WEBFORM_POW_BITS", 16))


def pow_valid(seed: str, answer: str, bits: int | None = None) -> bool:
    """``sha256("<seed>:<answer>")`` starts with ``bits`` zero bits (what webform.js searches)."""
    bits = pow_bits() if bits is None else bits
    if not seed or not answer.isdigit() or len(answer) > 12:
        return False
    digest = int.from_bytes(hashlib.sha256(f"{seed}:{answer}".encode()).digest(), "big")
    return digest >> (256 - bits) == 0 if bits else True


def pow_solve(seed: str, bits: int | None = None) -> str:
    """What the browser does, in Python (tests, and the docs' measured figures)."""
    n = 0
    while not pow_valid(seed, str(n), bits):
        n += 1
    return str(n)


# Plain questions for visitors without JavaScript. Answers are numbers, so any language's
# digits are accepted (the view folds Persian and Arabic-Indic digits).
QUESTIONS = [
    (_("How many days are there in a week?"), 7),
    (_("What is three plus four?"), 7),
    (_("How many legs does a cat have?"), 4),
    (_("What is ten minus two?"), 8),
    (_("How many months are there in a year?"), 12),
    (_("What is two times five?"), 10),
]

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")


def question_text(token: Token) -> str:
    return str(QUESTIONS[token.question][0]) if 0 <= token.question < len(QUESTIONS) else ""


def question_valid(token: Token, answer: str) -> bool:
    if not 0 <= token.question < len(QUESTIONS):
        return False
    given = answer.strip().translate(_DIGITS)
    return given.isdigit() and hmac.compare_digest(given, str(QUESTIONS[token.question][1]))


def challenge_passed(token: Token, *, pow_answer: str, question_answer: str) -> bool:
    return bool(token.challenge) and (pow_valid(token.challenge, pow_answer) or question_valid(token, question_answer))
