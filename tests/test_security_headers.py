"""Browser security headers on every response, and templates a strict CSP does not break.

The policy itself is in config/settings.py ("Browser security") and docs/configuration.md;
tests/test_security_headers_browser.py loads the main pages in Chromium and fails on any
violation the browser reports.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import login

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        part.split()[0]: part.split()[1:]
        for part in (p.strip() for p in header.split(";")) if part
    }


@pytest.mark.parametrize("path", ["/login/", "/healthz", "/inbox/"])
def test_every_response_carries_the_policy_headers(client, path):
    response = client.get(path)
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert set(policy["connect-src"]) == {"'self'", "ws:", "wss:"}
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions


def test_signed_in_pages_carry_it_too(alice):
    response = login(alice).get("/inbox/")
    assert response.status_code == 200
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_swagger_ui_alone_may_style_inline_and_still_runs_no_inline_script(dave):
    client = login(dave)
    if "django_otp" in settings.INSTALLED_APPS:  # a verified second factor, as after signing in
        from tests.test_permission_matrix import signed_in

        client = signed_in(dave)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = _policy(response)
    assert "'unsafe-inline'" in policy["style-src"]
    assert policy["script-src"] == ["'self'"]
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", html), "Swagger UI's start-up script must be a file"


def test_cookies_are_http_only_and_same_site(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code in (200, 403)
    response = client.get("/login/")
    csrf = response.cookies.get(settings.CSRF_COOKIE_NAME)
    assert csrf is not None and csrf["httponly"] and csrf["samesite"] == "Lax"
    session = login(alice).get("/inbox/")
    assert session.status_code == 200
    assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_cookies_are_secure_unless_debug_and_hsts_behind_https(client, settings):
    # config/settings.py: SECURE_COOKIES defaults to "not DEBUG"; the test settings run with
    # DEBUG off, so the cookies are marked secure here as in production.
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    assert "Strict-Transport-Security" not in client.get("/login/")  # plain HTTP: never
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_docs_list_the_browser_security_settings():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name in ("SECURE_COOKIES", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
                 "SECURE_SSL_REDIRECT", "BEHIND_PROXY", "CSP_REPORT_URI"):
        assert f"`{name}`" in text, name
    for header in ("Content-Security-Policy", "Referrer-Policy", "Permissions-Policy", "X-Frame-Options",
                   "Strict-Transport-Security"):
        assert header in text, header


# --- Templates a strict policy does not break -------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=\s*[\"']|javascript:", re.I)


def test_no_template_has_inline_script_style_or_event_handler():
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, INLINE_STYLE):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0).strip()}")
    assert not offenders, "Inline code the Content-Security-Policy would block:\n" + "\n".join(offenders)


def test_no_script_sets_style_attributes_or_evaluates_strings():
    """``el.setAttribute("style", ...)`` and string ``eval`` are blocked by the policy
    (``el.style.x = ...`` through the CSSOM is not, and stays allowed)."""
    pattern = re.compile(r"setAttribute\(\s*[\"']style|\beval\(|new Function\(|setTimeout\(\s*[\"']|cssText")
    offenders = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for path in sorted((ROOT / "static" / "js").rglob("*.js"))
        for text in [path.read_text(encoding="utf-8")]
        for m in pattern.finditer(text)
    ]
    assert not offenders, offenders
