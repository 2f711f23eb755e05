"""The only module that talks to the Graph API, through facebook-sdk 3.1.0.

facebook-sdk is old: its ``GraphAPI`` constructor refuses versions after 3.1 and it never
looks at HTTP status codes. So this module builds the SDK object, then pins the version
from settings; injects a requests session (timeouts, a hook that reads the usage headers,
and the one place tests intercept); adds ``appsecret_proof`` to every call; and turns the
SDK's error results into ``AdapterError`` values the outbound and poll code understand.

Rate limits: Meta reports how much of a Page's budget is used in the
``X-Business-Use-Case-Usage`` header (and the app's in ``X-App-Usage``). Past
``SLOW_DOWN_AT`` per cent polling slows down; past ``PAUSE_AT`` (or when Meta gives an
``estimated_time_to_regain_access``) every worker stops calling for that Page until the
time given, instead of being cut off by Meta.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from channels_adapters.base import AdapterError

# facebook-sdk 3.1.0 has a regex written as "^\d\.\d{1,2}$" (not a raw string): compiling
# it warns (DeprecationWarning on 3.11, SyntaxWarning from 3.12). Silence exactly that
# warning from exactly that file; every other warning stays visible.
_SDK_FILE = r"(.*[/\\])?facebook([/\\]__init__)?$"


def silence_sdk_import_warning() -> None:
    for category in (DeprecationWarning, SyntaxWarning):
        warnings.filterwarnings("ignore", message=r"invalid escape sequence", category=category, module=_SDK_FILE)


silence_sdk_import_warning()

import facebook  # noqa: E402 - after the narrow warning filter above

logger = logging.getLogger(__name__)

SDK_MAX_VERSION = "3.1"  # the newest version the SDK's constructor accepts

SLOW_DOWN_AT = 75  # per cent of a usage budget: poll less often
PAUSE_AT = 95  # per cent: stop calling until the budget recovers
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=15)

# Graph API error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling).
TOKEN_INVALID = 190
RATE_LIMIT_CODES = {4, 17, 32, 613} | set(range(80001, 80015))
TRANSIENT_CODES = {1, 2}
PERMISSION_CODE = 10
OUTSIDE_WINDOW_SUBCODE = 2018278


@dataclass(frozen=True)
class Usage:
    """The highest share of any budget Meta reported for an object, and when it recovers."""

    percent: int
    regain_at: datetime | None = None


def _usage_key(object_id: str) -> str:
    return f"meta:usage:{object_id}"


def usage_for(object_id: str) -> Usage | None:
    data = cache.get(_usage_key(object_id))
    if not data:
        return None
    regain = datetime.fromisoformat(data["regain_at"]) if data.get("regain_at") else None
    return Usage(percent=int(data.get("percent", 0)), regain_at=regain)


def usage_reset(object_id: str) -> None:
    cache.delete(_usage_key(object_id))


def _percent(value) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def usage_from_headers(headers, *, now: datetime) -> dict[str, Usage]:
    """Per business object id, the usage Meta reported in this response's headers."""
    found: dict[str, Usage] = {}
    data = _json_header(headers, "X-Business-Use-Case-Usage")
    if data:
        for object_id, buckets in data.items():
            percent, regain = 0, None
            for bucket in buckets if isinstance(buckets, list) else []:
                if not isinstance(bucket, dict):
                    continue
                percent = max(percent, *(_percent(bucket.get(k)) for k in ("call_count", "total_cputime", "total_time")))
                minutes = _percent(bucket.get("estimated_time_to_regain_access"))
                if minutes > 0:
                    at = now + timedelta(minutes=minutes)
                    regain = at if regain is None else max(regain, at)
            found[str(object_id)] = Usage(percent, regain)
    data = _json_header(headers, "X-App-Usage")
    if data:
        percent = max(_percent(data.get(k)) for k in ("call_count", "total_cputime", "total_time"))
        found["app"] = Usage(percent, None)
    return found


def _json_header(headers, name: str) -> dict:
    """A usage header's JSON object, or {} when absent or unreadable (never fail a call on it)."""
    try:
        data = json.loads(headers.get(name) or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _remember_usage(usages: dict[str, Usage], *, now: datetime) -> None:
    for object_id, usage in usages.items():
        regain = usage.regain_at
        if regain is None and usage.percent >= PAUSE_AT:
            # Meta gives no time yet: budgets are rolling one-hour windows; wait a while.
            regain = now + DEFAULT_RATE_LIMIT_PAUSE
        cache.set(
            _usage_key(object_id),
            {"percent": usage.percent, "regain_at": regain.isoformat() if regain else ""},
            timeout=3600,
        )


def appsecret_proof(access_token: str, app_secret: str) -> str:
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class _GraphAPI(facebook.GraphAPI):
    """The SDK's client, with ``appsecret_proof`` on every call that carries a token."""

    app_secret = ""

    def request(self, path, args=None, post_args=None, files=None, method=None):
        args = dict(args or {})
        token = (post_args or {}).get("access_token") or args.get("access_token") or self.access_token
        if token and self.app_secret:
            args.setdefault("appsecret_proof", appsecret_proof(token, self.app_secret))
        return super().request(path, args=args, post_args=post_args, files=files, method=method)


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "citizen-inbox (+https://github.com/)"
    return session


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the error says no connection was made (so nothing reached Meta)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError)


class MetaClient:
    """Graph API calls made with one Page access token.

    ``object_id`` is the business object whose budget the calls spend (the Page).
    """

    def __init__(self, access_token: str, *, object_id: str = "", session: requests.Session | None = None):
        if not access_token:
            raise AdapterError("No Page access token is stored for this account.", permanent=True,
                               needs_reconnect=True, code="no-token")
        self.object_id = object_id
        self.session = session or _session()
        self.session.hooks["response"].append(self._on_response)
        self.last_response: requests.Response | None = None
        self.graph = _GraphAPI(
            access_token=access_token, timeout=settings.PLATFORM_HTTP_TIMEOUT,
            version=SDK_MAX_VERSION, session=self.session,
        )
        # The constructor only validates "2.8".."3.1"; the requests use whatever is here.
        self.graph.version = settings.META_GRAPH_VERSION
        self.graph.app_secret = settings.META_APP_SECRET

    # --- plumbing -------------------------------------------------------------------------

    def _on_response(self, response: requests.Response, *args, **kwargs) -> None:
        self.last_response = response
        usages = usage_from_headers(response.headers, now=timezone.now())
        if usages:
            _remember_usage(usages, now=timezone.now())

    def _check_budget(self) -> None:
        for object_id, whose in ((self.object_id, "the Page's"), ("app", "the app's")):
            usage = usage_for(object_id) if object_id else None
            if usage and usage.regain_at and usage.regain_at > timezone.now():
                raise AdapterError(
                    f"Paused to stay under Meta's rate limit ({usage.percent}% of {whose} budget used) "
                    f"until {usage.regain_at:%H:%M} UTC.",
                    retry_at=usage.regain_at, code="throttled",
                )

    def usage(self) -> Usage | None:
        return usage_for(self.object_id) if self.object_id else None

    def _call(self, func, *args, write: bool = False, **kwargs):
        self._check_budget()
        self.last_response = None
        try:
            return func(*args, **kwargs)
        except facebook.GraphAPIError as exc:
            raise self._error(exc, write=write) from exc
        # The requests exceptions quote the URL, and the SDK puts the page token and its
        # appsecret_proof in the query string: only the exception's kind goes into the error.
        except requests.Timeout as exc:
            # A write that timed out may have reached Meta: the caller must not resend blindly.
            raise AdapterError(f"Meta did not answer in time ({type(exc).__name__}).", uncertain=write, code="timeout") from exc
        except requests.ConnectionError as exc:
            # A connection dropped after the request went out may have been acted on by Meta;
            # only "could not connect at all" is safe to retry for a write.
            raise AdapterError(f"Cannot reach the Graph API ({type(exc).__name__}).", code="connection",
                               uncertain=write and not _never_connected(exc)) from exc
        except (ValueError, KeyError, requests.RequestException) as exc:
            raise AdapterError(f"Unreadable answer from the Graph API ({type(exc).__name__}).",
                               uncertain=write, code="bad-response") from exc

    def _error(self, exc: facebook.GraphAPIError, *, write: bool) -> AdapterError:
        result = exc.result if isinstance(exc.result, dict) else {}
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        status = self.last_response.status_code if self.last_response is not None else 0
        if not error:
            # Not a Graph error body (an HTML gateway page, an empty answer).
            if status >= 500 or status == 0:
                return AdapterError(f"Graph API answered HTTP {status or '?'} without an error body.",
                                    uncertain=write, code=f"http-{status}")
            return AdapterError(f"Graph API answered HTTP {status}: {exc}", permanent=True, code=f"http-{status}")
        code = error.get("code")
        subcode = error.get("error_subcode")
        label = f"{code}/{subcode}" if subcode else str(code)
        message = error.get("error_user_msg") or error.get("message") or str(exc)
        text = f"Meta error {label}: {message}"
        if code == TOKEN_INVALID:
            return AdapterError(
                f"{text} The Page access token is no longer valid; an admin must reconnect the Page.",
                permanent=True, needs_reconnect=True, code=label,
            )
        if code in RATE_LIMIT_CODES:
            usage = self.usage()
            retry_at = usage.regain_at if usage and usage.regain_at else None
            if retry_at is None or retry_at <= timezone.now():
                retry_at = timezone.now() + DEFAULT_RATE_LIMIT_PAUSE
                if self.object_id:
                    _remember_usage({self.object_id: Usage(100, retry_at)}, now=timezone.now())
            return AdapterError(f"{text} (rate limited; retrying at {retry_at:%H:%M} UTC)", retry_at=retry_at, code=label)
        if code == PERMISSION_CODE and subcode == OUTSIDE_WINDOW_SUBCODE:
            return AdapterError(f"{text} (outside the messaging window)", permanent=True, code=label)
        if code in TRANSIENT_CODES or error.get("is_transient") is True:
            # An error body means Meta answered and did not apply the call: safe to retry.
            return AdapterError(text, code=label)
        return AdapterError(text, permanent=True, code=label)

    # --- reads ----------------------------------------------------------------------------

    def get(self, path: str, **args) -> dict:
        result = self._call(self.graph.request, f"{self.graph.version}/{path}", args)
        if not isinstance(result, dict):
            raise AdapterError("Unexpected Graph API answer (not an object).", code="bad-response")
        return result

    def pages(self, path: str, *, max_pages: int = 5, **args):
        """Yield the ``data`` items of a list edge, following ``paging.cursors.after``."""
        args = dict(args)
        for _ in range(max_pages):
            page = self.get(path, **args)
            yield from page.get("data") or []
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not after or not paging.get("next"):
                return
            args["after"] = after

    def pages_following_next(self, path: str, *, max_pages: int, **args):
        """Yield whole pages of a list edge (``data`` and ``paging``), following ``paging.next``.

        Meta says to stop only when a page has no ``next`` (a page may be empty and still
        have one). The next URL's own query is used, whatever the pagination kind (cursors,
        or ``since``/``until`` on time-paginated edges); the token and proof it carries are
        dropped: this client adds its own. The caller sees ``paging`` to tell whether the
        edge was read to its end.
        """
        args = dict(args)
        for _ in range(max_pages):
            page = self.get(path, **args)
            yield page
            next_url = (page.get("paging") or {}).get("next") if isinstance(page.get("paging"), dict) else None
            if not isinstance(next_url, str) or not next_url:
                return
            parsed = urlsplit(next_url)
            segments = parsed.path.strip("/").split("/")
            if segments and segments[0].startswith("v") and segments[0][1:].replace(".", "").isdigit():
                segments = segments[1:]  # the version: this client adds the pinned one
            path = "/".join(segments)
            args = {k: v for k, v in parse_qsl(parsed.query, keep_blank_values=True)
                    if k not in ("access_token", "appsecret_proof")}

    def me(self, fields: str) -> dict:
        return self.get("me", fields=fields)

    def user_profile(self, user_id: str, *, instagram: bool) -> dict:
        """A Messenger user's (PSID) or an Instagram user's (IGSID) public profile: Meta
        answers only for someone who wrote to the Page or account, with their consent."""
        fields = "name,username" if instagram else "first_name,last_name"
        return self.get(user_id, fields=fields)

    # --- writes ---------------------------------------------------------------------------

    def post(self, path: str, **data) -> dict:
        result = self._call(
            self.graph.request, f"{self.graph.version}/{path}", post_args=data, write=True
        )
        if not isinstance(result, dict):
            raise AdapterError("Unexpected Graph API answer (not an object).", uncertain=True, code="bad-response")
        return result

    def comment_reply(self, comment_id: str, text: str, *, instagram: bool) -> str:
        """Public reply: Facebook ``/{comment}/comments``, Instagram ``/{comment}/replies``."""
        edge = "replies" if instagram else "comments"
        return str(self.post(f"{comment_id}/{edge}", message=text)["id"])

    def mention_reply(self, ig_user_id: str, media_id: str, comment_id: str, text: str) -> str:
        """Reply to a mention in a comment, or (no ``comment_id``) in a post's caption."""
        extra = {"comment_id": comment_id} if comment_id else {}
        return str(self.post(f"{ig_user_id}/mentions", media_id=media_id, message=text, **extra)["id"])

    def message_send(self, page_id: str, *, recipient: dict, text: str, messaging_type: str = "RESPONSE",
                     tag: str = "") -> str:
        data = {
            "recipient": json.dumps(recipient), "messaging_type": messaging_type,
            "message": json.dumps({"text": text}, ensure_ascii=False),
        }
        if tag:
            data["tag"] = tag
        result = self.post(f"{page_id}/messages", **data)
        if not result.get("message_id"):
            raise AdapterError("The Send API answered without a message id.", uncertain=True, code="bad-response")
        return str(result["message_id"])

    def comment_hide(self, comment_id: str, *, instagram: bool, hidden: bool = True) -> None:
        flag = "true" if hidden else "false"
        self.post(comment_id, **({"hide": flag} if instagram else {"is_hidden": flag}))

    def page_subscribe(self, page_id: str, fields: list[str]) -> None:
        result = self.post(f"{page_id}/subscribed_apps", subscribed_fields=",".join(fields))
        if str(result.get("success")).lower() != "true":
            raise AdapterError(f"Meta did not confirm the webhook subscription: {result}", permanent=True,
                               code="subscribe")


def app_client(session: requests.Session | None = None) -> MetaClient:
    """A client with the app access token (``app-id|app-secret``), for app-level settings."""
    if not (settings.META_APP_ID and settings.META_APP_SECRET):
        raise AdapterError("META_APP_ID and META_APP_SECRET must be set.", permanent=True, code="config")
    return MetaClient(f"{settings.META_APP_ID}|{settings.META_APP_SECRET}", session=session)


def app_subscribe(client: MetaClient, *, object_type: str, fields: list[str], callback_url: str) -> None:
    """Subscribe the app to an object's webhook fields (Instagram's are set per app)."""
    client.post(
        f"{settings.META_APP_ID}/subscriptions", object=object_type, callback_url=callback_url,
        fields=",".join(fields), verify_token=settings.META_VERIFY_TOKEN, include_values="true",
    )
