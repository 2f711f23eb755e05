"""The interface language: the user's choice, else the browser's (docs/i18n.md).

``LocaleMiddleware`` reads the language cookie or ``Accept-Language``. A signed-in user who
chose a language in the top bar gets it on every device: the choice lives on their
``OfficerProfile``, is copied into the session when they log in (one query, at login, never
per request) and activated by :class:`UserLanguageMiddleware`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from inbox.audit import audit_record
from inbox.models import OfficerProfile

SESSION_KEY = "interface_language"


def interface_languages() -> set[str]:
    return {code for code, _name in settings.LANGUAGES}


class UserLanguageMiddleware:
    """After authentication: the signed-in user's chosen language wins over the browser's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Requests without a session cookie (webhooks, the API with a token) never load one.
        session = getattr(request, "session", None)
        language = session.get(SESSION_KEY) if session is not None and session.session_key else None
        if language and language in interface_languages():
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="inbox.i18n.remember_language")
def remember_language_at_login(sender, request, user, **kwargs) -> None:
    """Copy the user's chosen language into the new session (Django's login hook)."""
    if request is None or not hasattr(request, "session"):
        return
    language = (
        OfficerProfile.objects.filter(user=user).values_list("interface_language", flat=True).first() or ""
    )
    if language in interface_languages():
        request.session[SESSION_KEY] = language
        translation.activate(language)
        request.LANGUAGE_CODE = language


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language menu (top bar, sign-in page): kept in a cookie and, for a signed-in user,
    on their profile and in the session. An empty ``language`` goes back to the browser's.
    """
    language = request.POST.get("language", "")
    if language and language not in interface_languages():
        language = ""
    if request.user.is_authenticated:
        profile, _created = OfficerProfile.objects.get_or_create(user=request.user)
        if profile.interface_language != language:
            OfficerProfile.objects.filter(pk=profile.pk).update(interface_language=language)
            audit_record(request.user, "profile.language_set", profile, language=language)
    next_url = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    if language:
        request.session[SESSION_KEY] = language
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    else:
        request.session.pop(SESSION_KEY, None)
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH,
                               domain=settings.LANGUAGE_COOKIE_DOMAIN)
    return response
