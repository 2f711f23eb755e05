"""Sign-in services: who needs a second factor, enrolment, verification, recovery codes,
the session's sign-in state, API tokens and the site's security settings. Every step is
audited (inbox/audit.py) with the address it came from.

The session carries the state the middleware needs, so that a request pays no query for it:
``STATE_KEY`` (does this user need a second factor, and have they enrolled one) is written at
sign-in, django-otp's ``otp_device_id`` once the second factor is verified, ``ACTIVITY_KEY``
(the time of the user's last request, rewritten at most once a minute) for the idle timeout.
A change of role or of the site's policy applies from the user's next sign-in.
"""

from __future__ import annotations

import io
import re
import time
from base64 import b32encode
from dataclasses import dataclass

import segno
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from config.client_ip import client_ip
from inbox.audit import audit_record
from inbox.models import AuditEvent
from inbox.permissions import ADMIN, SUPERVISE, SUPERVISOR, role_names, teams_for_user
from inbox.security.models import SecuritySettings

STATE_KEY = "signin_two_factor"
ACTIVITY_KEY = "signin_last_activity"
RECOVERY_CODES_SHOWN_KEY = "signin_recovery_codes"  # the new codes, shown once
TOKEN_SHOWN_KEY = "signin_api_token"  # a new API token, shown once
RECOVERY_CODE_COUNT = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"

# Why a user must sign in with a second factor (None: they may choose).
REASON_ADMIN, REASON_SUPERVISOR, REASON_EVERYONE = "admin", "supervisor", "everyone"


# --- Audit ------------------------------------------------------------------------------------

def client_address(request) -> str:
    return client_ip(request)


_SELF = object()


def audit_sign_in(request, verb: str, user=None, *, actor=_SELF, **data) -> AuditEvent:
    """An audit row about a sign-in step; the target is the account concerned, the actor that
    account unless said otherwise (a failed password proves nobody: ``actor=None``)."""
    data = {"ip": client_address(request), **data}
    actor = user if actor is _SELF else actor
    if user is not None:
        return audit_record(actor, verb, user, **data)
    return AuditEvent.objects.create(actor=None, verb=verb, target_type="auth.user", target_id="", data=data)


# --- Who needs a second factor ----------------------------------------------------------------

def two_factor_required(user) -> str | None:
    """Admins (staff, superusers, the admin role) and supervisors (the role, or the supervise
    permission on any team) must; everyone must when an admin says so."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return None
    roles = role_names(user)
    if user.is_superuser or user.is_staff or ADMIN in roles:
        return REASON_ADMIN
    if SUPERVISOR in roles or teams_for_user(user, SUPERVISE).exists():
        return REASON_SUPERVISOR
    if SecuritySettings.current().two_factor_for_everyone:
        return REASON_EVERYONE
    return None


def totp_device(user, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("id").first()


def two_factor_enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# --- The session's sign-in state --------------------------------------------------------------

def session_sign_in_start(request, user) -> dict:
    """At sign-in (after ``django.contrib.auth.login``): what this session must still do."""
    state = {"required": two_factor_required(user), "enrolled": two_factor_enrolled(user)}
    request.session[STATE_KEY] = state
    request.session[ACTIVITY_KEY] = int(time.time())
    return state


def session_state(request) -> dict:
    state = request.session.get(STATE_KEY)
    if state is None:  # a session opened another way (force_login, an older session)
        state = {"required": two_factor_required(request.user), "enrolled": two_factor_enrolled(request.user)}
        request.session[STATE_KEY] = state
    return state


def session_verified(session) -> bool:
    return bool(session.get(DEVICE_ID_SESSION_KEY))


def session_pending_step(session) -> str | None:
    """"verify" (enrolled, second factor not given yet), "enrol" (must enrol and the site
    does not defer it), or None (the session may go anywhere its permissions allow)."""
    state = session.get(STATE_KEY) or {}
    if session_verified(session):
        return None
    if state.get("enrolled"):
        return "verify"
    if state.get("required") and not settings.TWO_FACTOR_DEFER_ENROLMENT:
        return "enrol"
    return None


def session_needs_two_factor(session) -> bool:
    """This user has or needs a second factor (their API token needs a verified session)."""
    state = session.get(STATE_KEY) or {}
    return bool(state.get("enrolled") or state.get("required"))


def session_idle_seconds(session, now: float | None = None) -> float | None:
    last = session.get(ACTIVITY_KEY)
    if last is None:
        return None
    return (now if now is not None else time.time()) - last


def session_idle_expired(session, now: float | None = None) -> bool:
    idle = session_idle_seconds(session, now)
    return idle is not None and idle > settings.SESSION_IDLE_MINUTES * 60


def session_touch(session, now: float | None = None) -> None:
    """Record activity; the session is rewritten at most once a minute (a query)."""
    now = int(now if now is not None else time.time())
    last = session.get(ACTIVITY_KEY)
    if last is None or now - last >= min(60, settings.SESSION_IDLE_MINUTES * 6):
        session[ACTIVITY_KEY] = now


def _session_mark_verified(request, device) -> None:
    otp_login(request, device)
    state = dict(request.session.get(STATE_KEY) or {})
    state["enrolled"] = True
    request.session[STATE_KEY] = state


# --- Enrolment --------------------------------------------------------------------------------

def totp_device_pending(user) -> TOTPDevice:
    """The unconfirmed authenticator of an enrolment in progress (a new secret otherwise)."""
    device = totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def totp_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in (base32, in groups of four)."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def totp_qr_svg(device: TOTPDevice) -> str:
    out = io.BytesIO()  # a standalone document (with its namespace): the page shows it as an <img>
    segno.make(device.config_url, error="m").save(
        out, kind="svg", scale=5, border=2, title=str(settings.OTP_TOTP_ISSUER), dark="#111827", light="#ffffff",
    )
    return out.getvalue().decode()


def _normalise(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


@dataclass
class VerifyResult:
    ok: bool
    method: str = ""  # "totp" or "recovery_code"
    wait_seconds: int = 0  # throttled: try again after this
    recovery_codes_left: int | None = None


def _throttled(device) -> int:
    allowed, data = device.verify_is_allowed()
    if allowed or not data or not data.get("locked_until"):
        return 0
    return max(1, int((data["locked_until"] - timezone.now()).total_seconds()) + 1)


def two_factor_confirm(request, user, code: str) -> list[str] | None:
    """The first code from the new authenticator: it is confirmed, recovery codes are made,
    and this session counts as verified. Returns the recovery codes (None: wrong code)."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
        if device is None:
            return None
        if _throttled(device) or not device.verify_token(_normalise(code)):
            audit_sign_in(request, "two_factor.enrol_failed", user)
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
        codes = _recovery_codes_make(user)
        audit_sign_in(request, "two_factor.enrolled", user, recovery_codes=len(codes))
    _session_mark_verified(request, device)
    return codes


def _recovery_codes_make(user) -> list[str]:
    static, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
    static.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return codes


def recovery_code_display(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def recovery_codes_regenerate(request, user) -> list[str]:
    if not session_verified(request.session):
        raise PermissionDenied("a verified session is needed")
    with transaction.atomic():
        codes = _recovery_codes_make(user)
        audit_sign_in(request, "two_factor.recovery_codes_regenerated", user, recovery_codes=len(codes))
    return codes


# --- Verification at sign-in ------------------------------------------------------------------

def two_factor_verify(request, user, code: str) -> VerifyResult:
    """A code from the authenticator (six digits) or a recovery code (used once)."""
    token = _normalise(code)
    if re.fullmatch(r"\d{6}", token):
        method, devices = "totp", TOTPDevice.objects.filter(user=user, confirmed=True)
    else:
        method, devices = "recovery_code", StaticDevice.objects.filter(user=user, confirmed=True)
    with transaction.atomic():
        device = devices.select_for_update().order_by("id").first()
        if device is None:
            audit_sign_in(request, "two_factor.failed", user, method=method)
            return VerifyResult(ok=False)
        wait = _throttled(device)
        if wait:
            audit_sign_in(request, "two_factor.failed", user, method=method, throttled=True)
            return VerifyResult(ok=False, wait_seconds=wait)
        if not device.verify_token(token):
            audit_sign_in(request, "two_factor.failed", user, method=method)
            return VerifyResult(ok=False, wait_seconds=_throttled(device))
        left = None
        if method == "recovery_code":
            left = recovery_codes_left(user)
            audit_sign_in(request, "two_factor.recovery_code_used", user, recovery_codes_left=left)
        audit_sign_in(request, "two_factor.verified", user, method=method)
    # A recovery code proves the account, not the authenticator: the session is verified by it.
    _session_mark_verified(request, device)
    return VerifyResult(ok=True, method=method, recovery_codes_left=left)


def two_factor_disable(request, user) -> None:
    """Officers who are not required to may turn two-factor sign-in off (verified first)."""
    if not session_verified(request.session):
        raise PermissionDenied("a verified session is needed")
    if two_factor_required(user):
        raise PermissionDenied("two-factor sign-in is required for this account")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        Token.objects.filter(user=user).delete()  # made under the second factor: it goes with it
        audit_sign_in(request, "two_factor.disabled", user)
    request.session.pop(DEVICE_ID_SESSION_KEY, None)
    request.session[STATE_KEY] = {"required": None, "enrolled": False}


# --- API tokens -------------------------------------------------------------------------------

def api_token_may_create(request) -> bool:
    """A token is created in a session that gave its second factor when the user has or needs
    one (a password alone must not mint a credential that skips the second factor)."""
    session = request.session
    session_state(request)
    return session_verified(session) or not session_needs_two_factor(session)


def api_token_create(request, user) -> str:
    """A new token for the signed-in user (the previous one stops working)."""
    if not api_token_may_create(request):
        raise PermissionDenied("a verified session is needed")
    with transaction.atomic():
        replaced = Token.objects.filter(user=user).delete()[0] > 0
        token = Token.objects.create(user=user)
        audit_sign_in(request, "api_token.create", user, replaced=replaced, via="web")
    return token.key


def api_token_revoke(request, user) -> bool:
    with transaction.atomic():
        deleted = Token.objects.filter(user=user).delete()[0] > 0
        if deleted:
            audit_sign_in(request, "api_token.revoke", user, via="web")
    return deleted


# --- The site's settings ----------------------------------------------------------------------

def security_settings_save(*, actor, two_factor_for_everyone: bool) -> SecuritySettings:
    with transaction.atomic():
        current = SecuritySettings.objects.select_for_update().order_by("id").first() or SecuritySettings()
        changed = current.two_factor_for_everyone != two_factor_for_everyone
        current.two_factor_for_everyone = two_factor_for_everyone
        current.updated_at, current.updated_by = timezone.now(), actor
        current.save()
        if changed:
            audit_record(actor, "security.settings_change", current, two_factor_for_everyone=two_factor_for_everyone)
    return current


def session_signed_in(session) -> bool:
    """Whether a session (a live connection's, say) has finished signing in and is not idle."""
    if session is None:
        return False
    return session_pending_step(session) is None and not session_idle_expired(session)
