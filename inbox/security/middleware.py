"""Every signed-in request passes here (after authentication and django-axes):

- a session idle for longer than ``SESSION_IDLE_MINUTES`` ends, and the user is sent to the
  sign-in page with a note saying why; background requests of an open page (live fragment
  polls, the presence heartbeat) neither keep a session alive nor end one early;
- a user who has a second factor, or must enrol one, reaches nothing but the sign-in steps
  until it is done (an API request gets a 403 in JSON, a page a redirect).

It reads the session only (see inbox/security/services.py): no query on an ordinary request.
Requests without a session (webhooks, the API with a token) pass untouched.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inbox.security import services

# The sign-in steps themselves, and what never needs a user.
OPEN_URL_NAMES = (
    "login", "logout", "signed_out", "security:verify", "security:setup", "security:qr",
    "security:recovery_codes_shown", "language",
)
OPEN_PREFIXES = ("/static/", "/healthz", "/webhooks/", "/i18n/")


def _is_background(request) -> bool:
    """A request a page makes on its own, not its user's doing."""
    if request.method == "GET" and request.headers.get("X-Requested-With") == "fetch":
        return True
    return request.path_info.endswith("/presence/heartbeat/")


class SignInMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths: frozenset[str] | None = None
        self._open_prefixes: tuple[str, ...] | None = None

    def open_paths(self) -> frozenset[str]:
        if self._open_paths is None:
            paths = set()
            for name in OPEN_URL_NAMES:
                try:
                    paths.add(reverse(name))
                except Exception:  # noqa: S112 - a page another part of the app may not have
                    continue
            self._open_paths = frozenset(paths)
        return self._open_paths

    def open_prefixes(self) -> tuple[str, ...]:
        """OPEN_PREFIXES and the channel packages' pages for citizens (the contact form): a
        signed-in officer with a step still due can look at the form as a citizen sees it."""
        if self._open_prefixes is None:
            from channels_adapters.registry import public_url_prefixes

            self._open_prefixes = OPEN_PREFIXES + public_url_prefixes()
        return self._open_prefixes

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is None or not session.session_key or not request.user.is_authenticated:
            return self.get_response(request)

        if services.session_idle_expired(session):
            return self._end_idle_session(request)
        if not _is_background(request):
            services.session_touch(session)

        path = request.path_info
        if path in self.open_paths() or path.startswith(self.open_prefixes()):
            return self.get_response(request)
        services.session_state(request)
        step = services.session_pending_step(session)
        request.two_factor_setup_due = bool(
            step is None and not services.session_verified(session)
            and (session.get(services.STATE_KEY) or {}).get("required")
        )
        if step is None:
            return self.get_response(request)
        if path.startswith("/api/"):
            return JsonResponse({"detail": _("Two-factor verification required: finish signing in in the browser.")},
                                status=403)
        target = reverse("security:verify" if step == "verify" else "security:setup")
        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")

    def _end_idle_session(self, request):
        user = request.user
        services.audit_sign_in(request, "auth.logout", user, reason="idle",
                               idle_minutes=settings.SESSION_IDLE_MINUTES)
        path = request.get_full_path()
        logout(request)
        minutes = settings.SESSION_IDLE_MINUTES
        messages.info(request, ngettext(
            "You were signed out after %(minutes)d minute without activity. Sign in again to go on.",
            "You were signed out after %(minutes)d minutes without activity. Sign in again to go on.",
            minutes,
        ) % {"minutes": minutes})
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": _("Your session ended after a time without activity.")}, status=401)
        return redirect(f"{reverse('login')}?{urlencode({'next': path})}")
