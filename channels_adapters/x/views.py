"""Admin pages to connect X accounts: OAuth 2.0 with PKCE, or OAuth 1.0a tokens entered by hand.

The PKCE verifier and the state stay in the admin's session; the callback accepts a code
only with the state it was issued with, once.
"""

from __future__ import annotations

import logging
import secrets
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels_adapters.base import AdapterError, constant_time_equals
from channels_adapters.x import client
from channels_adapters.x.connect import x_account_connect
from channels_adapters.x.forms import OAuth1TokensForm
from inbox.models import ChannelAccount
from inbox.permissions import can_manage_channels

logger = logging.getLogger(__name__)

SESSION_KEY = "x_oauth2_pending"


def admin_required(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_manage_channels(user):
            return HttpResponseForbidden(_("Only administrators can connect channel accounts."))
        return view(request, *args, **kwargs)

    return wrapper


def redirect_uri() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("x:callback")


@require_GET
@admin_required
def accounts(request: HttpRequest) -> HttpResponse:
    return render(request, "channels_adapters/x/accounts.html", {
        "accounts": ChannelAccount.objects.filter(platform="x").select_related("default_team").order_by("name"),
        "oauth2_configured": bool(settings.X_CLIENT_ID),
        "oauth1_configured": bool(settings.X_CONSUMER_KEY and settings.X_CONSUMER_SECRET),
        "redirect_uri": redirect_uri(),
    })


@require_POST
@admin_required
def connect(request: HttpRequest) -> HttpResponse:
    if not settings.X_CLIENT_ID:
        messages.error(request, _("X_CLIENT_ID is not configured; see docs/channels/x.md."))
        return redirect("x:accounts")
    authorization = client.oauth2_authorization(redirect_uri(), secrets.token_urlsafe(32))
    request.session[SESSION_KEY] = {"state": authorization.state, "verifier": authorization.code_verifier}
    return redirect(authorization.url)


@require_GET
@admin_required
def callback(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop(SESSION_KEY, None)  # one use, whatever happens next
    state = request.GET.get("state", "")
    if not pending or not state or not constant_time_equals(state, pending["state"]):
        logger.warning("x connect: callback with an unknown state from user %s", request.user.pk)
        return render(request, "channels_adapters/x/error.html",
                      {"reason": _("This authorisation link is not the one we started, or it was already used. Start again.")},
                      status=400)
    if request.GET.get("error"):
        messages.error(request, _("X did not authorise the account: %(error)s.") % {"error": request.GET["error"]})
        return redirect("x:accounts")
    code = request.GET.get("code", "")
    if not code:
        return render(request, "channels_adapters/x/error.html", {"reason": _("X sent no authorisation code.")}, status=400)
    try:
        token = client.oauth2_exchange(code, pending["verifier"], redirect_uri())
        credentials = {"oauth2": token}
        profile = client.XApi(credentials).me()
    except AdapterError as exc:
        messages.error(request, _("The X account could not be connected: %(error)s") % {"error": exc})
        return redirect("x:accounts")
    account = x_account_connect(user=request.user, credentials=credentials, profile=profile, method="oauth2")
    messages.success(request, _("@%(handle)s is connected.") % {"handle": account.handle})
    return redirect("x:accounts")


@require_http_methods(["GET", "POST"])
@admin_required
def oauth1_tokens(request: HttpRequest) -> HttpResponse:
    form = OAuth1TokensForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = {"oauth1": {
            "access_token": form.cleaned_data["access_token"],
            "access_token_secret": form.cleaned_data["access_token_secret"],
        }}
        try:
            profile = client.XApi(credentials).me()
        except AdapterError as exc:
            form.add_error(None, _("X did not accept these tokens: %(error)s") % {"error": exc})
        else:
            account = x_account_connect(user=request.user, credentials=credentials, profile=profile, method="oauth1")
            messages.success(request, _("@%(handle)s is connected with OAuth 1.0a tokens.") % {"handle": account.handle})
            return redirect("x:accounts")
    return render(request, "channels_adapters/x/oauth1.html", {
        "form": form, "oauth1_configured": bool(settings.X_CONSUMER_KEY and settings.X_CONSUMER_SECRET),
    })
