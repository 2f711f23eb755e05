"""The only module that talks to X: tweepy's Client for the API v2, oauthlib for OAuth 2.0.

Every call has a timeout and every platform failure leaves here as an ``AdapterError``
that says whether to retry, when, and whether the account must be reconnected. Nothing
else in the project imports tweepy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
import tweepy
from django.conf import settings
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient

from channels_adapters.base import AdapterError

logger = logging.getLogger(__name__)

# tweepy 4.17 builds every URL on this host; X serves the same API v2 on api.x.com.
TWEEPY_HOST = "https://api.twitter.com"
SCOPES = ("tweet.read", "tweet.write", "users.read", "dm.read", "dm.write", "offline.access")
TWEET_FIELDS = (
    "author_id", "conversation_id", "created_at", "in_reply_to_user_id", "referenced_tweets",
    "attachments", "entities", "lang", "edit_history_tweet_ids", "note_tweet",
)
USER_FIELDS = ("username", "name", "location", "verified", "verified_type", "public_metrics",
               "profile_image_url", "description", "protected")
MEDIA_FIELDS = ("media_key", "type", "url", "preview_image_url", "alt_text")
# X refuses an end_time that is not some seconds in the past (its search endpoints say 10).
END_TIME_MARGIN = timedelta(seconds=30)
DM_EVENT_FIELDS = ("id", "text", "event_type", "created_at", "dm_conversation_id", "sender_id",
                   "participant_ids", "referenced_tweets", "attachments")


class XSession(requests.Session):
    """tweepy's session, pointed at the configured API host and never without a timeout."""

    def __init__(self, base_url: str | None = None, timeout: float | None = None):
        super().__init__()
        self.base_url = (base_url or settings.X_API_BASE_URL).rstrip("/")
        self.timeout = timeout or settings.PLATFORM_HTTP_TIMEOUT

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(TWEEPY_HOST + "/"):
            url = self.base_url + url[len(TWEEPY_HOST):]
        kwargs.setdefault("timeout", self.timeout)  # tweepy passes none: requests would wait forever
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset_at: datetime


@dataclass(frozen=True)
class Page:
    """One API response: X's JSON, untouched, and the rate-limit headers that came with it."""

    body: dict
    rate: RateLimit | None


def rate_limit(response) -> RateLimit | None:
    headers = getattr(response, "headers", None) or {}
    try:
        return RateLimit(
            limit=int(headers["x-rate-limit-limit"]),
            remaining=int(headers["x-rate-limit-remaining"]),
            reset_at=datetime.fromtimestamp(int(headers["x-rate-limit-reset"]), UTC),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _reason(exc: tweepy.HTTPException) -> str:
    messages = [m for m in exc.api_messages if m]
    return "; ".join(messages) or getattr(exc.response, "reason", "") or "no reason given"


def _status(exc: tweepy.HTTPException) -> int:
    return int(getattr(exc.response, "status_code", 0) or 0)


def translate(exc: Exception, *, sending: bool = False) -> AdapterError:
    """Turn what tweepy or requests raised into an AdapterError the tasks know how to handle."""
    if isinstance(exc, tweepy.TooManyRequests):
        reset = exc.reset_time
        retry_at = datetime.fromtimestamp(reset, UTC) + timedelta(seconds=1) if reset else None
        return AdapterError(f"X rate limit reached ({_reason(exc)})", retry_at=retry_at, code="429")
    if isinstance(exc, tweepy.Unauthorized):
        return AdapterError(
            f"X no longer accepts this account's authorisation ({_reason(exc)}); an admin must reconnect it.",
            permanent=True, needs_reconnect=True, code="401",
        )
    if isinstance(exc, tweepy.Forbidden):
        return AdapterError(f"X refused: {_reason(exc)}", permanent=True, code="403")
    if isinstance(exc, tweepy.NotFound):
        return AdapterError(f"X says it does not exist: {_reason(exc)}", permanent=True, code="404")
    if isinstance(exc, tweepy.BadRequest):
        return AdapterError(f"X rejected the request: {_reason(exc)}", permanent=True, code="400")
    if isinstance(exc, tweepy.TwitterServerError):
        return AdapterError(f"X is having trouble ({_status(exc)} {_reason(exc)})", code=str(_status(exc)))
    if isinstance(exc, tweepy.HTTPException):
        return AdapterError(f"X answered {_status(exc)}: {_reason(exc)}", code=str(_status(exc)))
    if isinstance(exc, requests.ConnectTimeout):
        # The connection was never made: nothing reached X.
        return AdapterError(f"X did not answer in time: {exc}", code="timeout")
    if isinstance(exc, requests.RequestException):
        # A read timeout or a dropped connection after the request left: X may have acted on it.
        return AdapterError(f"No answer from X: {exc}", code="network", uncertain=sending)
    return AdapterError(f"{type(exc).__name__}: {exc}", uncertain=sending)


class XApi:
    """A user-context client for one account (OAuth 2.0 user token or OAuth 1.0a tokens)."""

    def __init__(self, credentials: dict, *, session: requests.Session | None = None):
        oauth2 = credentials.get("oauth2") or {}
        oauth1 = credentials.get("oauth1") or {}
        if oauth2.get("access_token"):
            self.client = tweepy.Client(bearer_token=oauth2["access_token"], return_type=requests.Response)
            self.user_auth = False  # a user's OAuth 2.0 token is sent as a bearer token
        elif oauth1.get("access_token") and oauth1.get("access_token_secret"):
            self.client = tweepy.Client(
                consumer_key=settings.X_CONSUMER_KEY, consumer_secret=settings.X_CONSUMER_SECRET,
                access_token=oauth1["access_token"], access_token_secret=oauth1["access_token_secret"],
                return_type=requests.Response,
            )
            self.user_auth = True
        else:
            raise AdapterError("The X account has no credentials; an admin must connect it.",
                               permanent=True, needs_reconnect=True, code="no-credentials")
        self.client.session = session or XSession()

    def _get(self, method, *args, **kwargs) -> Page:
        try:
            response = method(*args, user_auth=self.user_auth, **kwargs)
            return Page(body=response.json(), rate=rate_limit(response))
        except ValueError as exc:  # a 2xx whose body is not JSON
            raise AdapterError(f"X sent an unreadable answer: {exc}") from exc
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise translate(exc) from exc

    def _post(self, method, **kwargs) -> dict:
        try:
            response = method(user_auth=self.user_auth, **kwargs)
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise translate(exc, sending=True) from exc
        try:
            data = response.json().get("data") or {}
        except (ValueError, AttributeError) as exc:
            raise AdapterError("X accepted the request but its answer is unreadable", uncertain=True) from exc
        return data

    # --- reads ---
    def me(self) -> dict:
        page = self._get(self.client.get_me, user_fields=list(USER_FIELDS))
        data = page.body.get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise AdapterError("X did not say who the account is", permanent=True)
        return data

    def mentions(self, user_id: str, *, since_id: str | None = None, pagination_token: str | None = None,
                 max_results: int = 100) -> Page:
        return self._get(
            self.client.get_users_mentions, user_id, since_id=since_id, pagination_token=pagination_token,
            max_results=max_results, tweet_fields=list(TWEET_FIELDS),
            expansions=["author_id", "attachments.media_keys"], user_fields=list(USER_FIELDS),
            media_fields=list(MEDIA_FIELDS),
        )

    def dm_events(self, *, pagination_token: str | None = None, dm_conversation_id: str | None = None,
                  max_results: int = 100) -> Page:
        return self._get(
            self.client.get_direct_message_events, dm_conversation_id=dm_conversation_id,
            pagination_token=pagination_token, max_results=max_results, event_types="MessageCreate",
            dm_event_fields=list(DM_EVENT_FIELDS), expansions=["sender_id", "attachments.media_keys"],
            user_fields=list(USER_FIELDS), media_fields=list(MEDIA_FIELDS),
        )

    def user_posts(self, user_id: str, *, start_time: datetime, end_time: datetime | None = None,
                   pagination_token: str | None = None, max_results: int = 100) -> Page:
        """The account's own posts (replies included) between two times, newest first.

        X wants ``end_time`` in the past (a time after the request is refused as invalid),
        so an end that is not at least ``END_TIME_MARGIN`` old is left out: "up to now".
        """
        if end_time is not None and end_time > datetime.now(UTC) - END_TIME_MARGIN:
            end_time = None
        return self._get(
            self.client.get_users_tweets, user_id, start_time=start_time, end_time=end_time,
            pagination_token=pagination_token, max_results=max_results,
            tweet_fields=["created_at", "referenced_tweets", "conversation_id", "text", "author_id"],
        )

    # --- writes ---
    def reply(self, text: str, in_reply_to: str) -> dict:
        return self._post(self.client.create_tweet, text=text, in_reply_to_tweet_id=in_reply_to)

    def direct_message(self, text: str, *, participant_id: str | None = None,
                       dm_conversation_id: str | None = None) -> dict:
        return self._post(self.client.create_direct_message, text=text, participant_id=participant_id,
                          dm_conversation_id=dm_conversation_id)


# --- OAuth 2.0 authorization code with PKCE ---------------------------------------------------


def token_url() -> str:
    return f"{settings.X_API_BASE_URL}/2/oauth2/token"


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str
    code_verifier: str


def oauth2_authorization(redirect_uri: str, state: str) -> Authorization:
    oauth = WebApplicationClient(settings.X_CLIENT_ID)
    verifier = oauth.create_code_verifier(128)
    url = oauth.prepare_request_uri(
        settings.X_OAUTH_AUTHORIZE_URL, redirect_uri=redirect_uri, scope=list(SCOPES), state=state,
        code_challenge=oauth.create_code_challenge(verifier, "S256"), code_challenge_method="S256",
    )
    return Authorization(url=url, state=state, code_verifier=verifier)


def _token_request(body: str, *, session: requests.Session | None = None) -> dict:
    """POST to X's token endpoint; return the oauth2 credentials dict we store."""
    oauth = WebApplicationClient(settings.X_CLIENT_ID)
    # Confidential clients authenticate with Basic auth; public clients send their id in the body.
    auth = (settings.X_CLIENT_ID, settings.X_CLIENT_SECRET) if settings.X_CLIENT_SECRET else None
    session = session or XSession()
    try:
        response = session.post(
            token_url(), data=body, auth=auth,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    except requests.RequestException as exc:
        raise translate(exc) from exc
    if response.status_code == 429:
        reset = rate_limit(response)
        raise AdapterError("X rate limit reached on the token endpoint", code="429",
                           retry_at=reset.reset_at if reset else None)
    if response.status_code >= 500:
        raise AdapterError(f"X is having trouble ({response.status_code})", code=str(response.status_code))
    try:
        token = oauth.parse_request_body_response(response.text)
    except OAuth2Error as exc:
        # invalid_grant / invalid_request: the grant was revoked, expired or already used.
        raise AdapterError(
            f"X refused the authorisation ({exc.error}: {exc.description or 'no description'}); "
            "an admin must reconnect the account.",
            permanent=True, needs_reconnect=True, code=exc.error or "oauth2",
        ) from exc
    except ValueError as exc:
        raise AdapterError(f"X's token endpoint answered {response.status_code} with no token") from exc
    expires_at = token.get("expires_at")
    return {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token", ""),
        "expires_at": int(expires_at) if expires_at else None,
        "scope": " ".join(token.get("scope") or []) if isinstance(token.get("scope"), list) else token.get("scope", ""),
        "token_type": token.get("token_type", "bearer"),
    }


def oauth2_exchange(code: str, code_verifier: str, redirect_uri: str) -> dict:
    body = WebApplicationClient(settings.X_CLIENT_ID).prepare_request_body(
        code=code, redirect_uri=redirect_uri, code_verifier=code_verifier, include_client_id=True,
    )
    return _token_request(body)


def oauth2_refresh(refresh_token: str) -> dict:
    body = WebApplicationClient(settings.X_CLIENT_ID).prepare_refresh_body(
        refresh_token=refresh_token, client_id=settings.X_CLIENT_ID,
    )
    return _token_request(body)
