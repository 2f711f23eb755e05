"""The sign-in pages: password, second factor (verify or enrol), recovery codes, signed out;
the user's Security page (two-factor status, recovery codes, API token) and the admins'
security settings. Views parse and render; inbox/security/services.py does the work."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from inbox.permissions import can_manage_channels
from inbox.security import services
from inbox.security.forms import CodeForm, SecuritySettingsForm
from inbox.security.models import SecuritySettings


def _next_url(request, default: str | None = None) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default or reverse(settings.LOGIN_REDIRECT_URL)


def _with_next(url_name: str, next_url: str) -> str:
    from urllib.parse import urlencode

    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


class SignInView(auth_views.LoginView):
    """Django's login page, plus: the audit, the warning before the last attempt, and the
    second factor straight after the password."""

    redirect_authenticated_user = True
    last_attempt = False

    def form_valid(self, form):
        user = form.get_user()
        response = super().form_valid(form)
        services.session_sign_in_start(self.request, user)
        services.audit_sign_in(self.request, "auth.login", user)
        step = services.session_pending_step(self.request.session)
        if step is not None:
            return redirect(_with_next("security:verify" if step == "verify" else "security:setup",
                                       self.get_success_url()))
        return response

    def form_invalid(self, form):
        username = (form.data.get("username") or "").strip()
        user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        locked = bool(getattr(self.request, "axes_locked_out", False))
        services.audit_sign_in(self.request, "auth.login_failed", user, actor=None, locked_out=locked,
                               **({} if user else {"username": username[:40]}))
        if username and not locked:
            failures = AxesProxyHandler.get_failures(self.request, {"username": username})
            self.last_attempt = settings.AXES_FAILURE_LIMIT - failures == 1
        return super().form_invalid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["last_attempt_warning"] = self.last_attempt
        return context


class SignOutView(auth_views.LogoutView):
    next_page = "signed_out"

    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            services.audit_sign_in(request, "auth.logout", request.user)
        return super().post(request, *args, **kwargs)


def signed_out(request):
    return render(request, "registration/signed_out.html")


# --- The second factor ------------------------------------------------------------------------

@never_cache
@login_required
def two_factor_setup(request):
    user = request.user
    verified = services.session_verified(request.session)
    next_url = _next_url(request)
    if services.two_factor_enrolled(user) and not verified:
        # A password alone never replaces the authenticator of an enrolled account.
        return redirect(_with_next("security:verify", next_url))
    device = services.totp_device_pending(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = services.two_factor_confirm(request, user, form.cleaned_data["code"])
        if codes is not None:
            request.session[services.RECOVERY_CODES_SHOWN_KEY] = codes
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect(_with_next("security:recovery_codes_shown", next_url))
        form.add_error("code", _("That code is not right. Check that the phone's clock is right and "
                                 "type the code the app shows now."))
    state = services.session_state(request)
    return render(request, "registration/two_factor_setup.html", {
        "form": form, "secret": services.totp_secret(device), "next": next_url,
        "required": state.get("required"), "issuer": settings.OTP_TOTP_ISSUER,
        "account": user.get_username(), "signin_step": True,
    })


@never_cache
@login_required
def two_factor_qr(request):
    user = request.user
    if services.two_factor_enrolled(user) and not services.session_verified(request.session):
        raise PermissionDenied
    device = services.totp_device_pending(user)
    return HttpResponse(services.totp_qr_svg(device), content_type="image/svg+xml")


@never_cache
@login_required
def two_factor_verify_view(request):
    user = request.user
    next_url = _next_url(request)
    if services.session_verified(request.session):
        return redirect(next_url)
    if not services.two_factor_enrolled(user):
        return redirect(_with_next("security:setup", next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.two_factor_verify(request, user, form.cleaned_data["code"])
        if result.ok:
            if result.method == "recovery_code":
                messages.warning(request, ngettext(
                    "You signed in with a recovery code; %(n)d is left. Make new ones on your Security page.",
                    "You signed in with a recovery code; %(n)d are left. Make new ones on your Security page.",
                    result.recovery_codes_left,
                ) % {"n": result.recovery_codes_left})
            return redirect(next_url)
        if result.wait_seconds:
            form.add_error("code", ngettext(
                "That code is not right. Too many wrong codes: wait %(s)d second before the next try.",
                "That code is not right. Too many wrong codes: wait %(s)d seconds before the next try.",
                result.wait_seconds,
            ) % {"s": result.wait_seconds})
        else:
            form.add_error("code", _("That code is not right."))
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": next_url, "signin_step": True})


@never_cache
@login_required
def recovery_codes_shown(request):
    codes = request.session.pop(services.RECOVERY_CODES_SHOWN_KEY, None)
    if not codes:
        return redirect("security:page")
    return render(request, "registration/recovery_codes.html", {
        "codes": [services.recovery_code_display(code) for code in codes], "next": _next_url(request),
        "signin_step": True,
    })


@require_POST
@login_required
def recovery_codes_new(request):
    try:
        codes = services.recovery_codes_regenerate(request, request.user)
    except PermissionDenied:
        return redirect(_with_next("security:verify", reverse("security:page")))
    request.session[services.RECOVERY_CODES_SHOWN_KEY] = codes
    return redirect(_with_next("security:recovery_codes_shown", reverse("security:page")))


@require_POST
@login_required
def two_factor_disable_view(request):
    services.two_factor_disable(request, request.user)
    messages.success(request, _("Two-factor sign-in is off."))
    return redirect("security:page")


# --- The Security page ------------------------------------------------------------------------

@never_cache
@login_required
def security_page(request):
    user = request.user
    state = services.session_state(request)
    token = Token.objects.filter(user=user).only("created").first()
    return render(request, "registration/security.html", {
        "enrolled": services.two_factor_enrolled(user),
        "required": services.two_factor_required(user),
        "verified": services.session_verified(request.session),
        "recovery_codes_left": services.recovery_codes_left(user),
        "recovery_code_count": services.RECOVERY_CODE_COUNT,
        "token": token,
        "new_token": request.session.pop(services.TOKEN_SHOWN_KEY, None),
        "may_create_token": services.api_token_may_create(request),
        "may_edit_settings": can_manage_channels(user),
        "idle_minutes": settings.SESSION_IDLE_MINUTES,
        "state": state,
    })


@require_POST
@login_required
def api_token_view(request):
    if request.POST.get("action") == "revoke":
        if services.api_token_revoke(request, request.user):
            messages.success(request, _("Your API token was revoked."))
        return redirect("security:page")
    try:
        request.session[services.TOKEN_SHOWN_KEY] = services.api_token_create(request, request.user)
    except PermissionDenied:
        messages.error(request, _("Sign in with your second factor before you create an API token."))
        if services.two_factor_enrolled(request.user):
            return redirect(_with_next("security:verify", reverse("security:page")))
        return redirect(_with_next("security:setup", reverse("security:page")))
    return redirect("security:page")


@never_cache
@login_required
def security_settings_view(request):
    if not can_manage_channels(request.user):  # admins
        raise PermissionDenied
    current = SecuritySettings.current()
    form = SecuritySettingsForm(request.POST or None, initial={"two_factor_for_everyone": current.two_factor_for_everyone})
    if request.method == "POST" and form.is_valid():
        services.security_settings_save(actor=request.user, **form.cleaned_data)
        messages.success(request, _("Security settings saved."))
        return redirect("security:settings")
    return render(request, "registration/security_settings.html", {
        "form": form, "current": current, "idle_minutes": settings.SESSION_IDLE_MINUTES,
        "defer_enrolment": settings.TWO_FACTOR_DEFER_ENROLMENT,
    })
