"""Officers answer X mentions publicly and DMs privately, through reply_submit and real tweepy."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
import time_machine
from django.core.exceptions import PermissionDenied

from channels_adapters.base import ReplyRefused
from channels_adapters.confirmation import MAX_SEARCH_PAGES
from channels_adapters.outbound import outbound_sweep, reply_submit
from inbox.models import ChannelAccount, Conversation, DeliveryAttempt, Message

from .conftest import ACCOUNT_ID, CITIZEN_ID, committed, fixture_bytes, post_x

pytestmark = pytest.mark.django_db

TWEETS = "/2/tweets"
DM_WITH_CITIZEN = f"/2/dm_conversations/with/{CITIZEN_ID}/messages"
TEXT = "Bon dia Marta, ho hem passat al servei de neteja del districte. Avui mateix hi passaran."
TIMELINE = f"/2/users/{ACCOUNT_ID}/tweets"
DM_EVENTS = f"/2/dm_conversations/{ACCOUNT_ID}-{CITIZEN_ID}/dm_events"
# X gives it back as "@marta_puig Bon dia ... Neteja &amp; Residus. Detalls: https://t.co/Qw3rTy7UiO".
LINKED_TEXT = ("Bon dia Marta, ho hem passat al servei de Neteja & Residus. Detalls: "
               "https://ajuntament.example.cat/serveis/residus/recollida-de-contenidors?districte=gracia")
# The mention came at 08:15; the officer answered at 09:00; the sweep ran at 09:47.
ANSWERED, SWEPT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC), datetime(2026, 11, 20, 9, 47, tzinfo=UTC)
# The citizen's DM came at 12:00.
DM_ANSWERED, DM_SWEPT = datetime(2026, 11, 20, 12, 5, tzinfo=UTC), datetime(2026, 11, 20, 12, 40, tzinfo=UTC)
BUSY = {None: "users_tweets__busy_page1_of_3.json",
        "7140dibdnow9c7btw3z2vwioeklk0zvkpfobnqdi6ie7w": "users_tweets__busy_page2_of_3.json",
        "7140dibdnow9c7btw3z2vvvtu1dqe6o3b0t3vw1fmd7as": "users_tweets__busy_page3_of_3.json"}


@pytest.fixture
def mention(x_account, alice):
    post_x(fixture_bytes("tweet_create_events__mention.json"))
    return Conversation.objects.get()


@pytest.fixture
def dm(x_account, alice):
    post_x(fixture_bytes("direct_message_events__received.json"))
    return Conversation.objects.get()


def submit(conversation, user, text=TEXT, option="public") -> Message:
    message = committed(reply_submit, conversation=conversation, user=user, text=text, option_key=option)
    message.refresh_from_db()
    return message


def add(api, method, path, fixture=None, status=200, **kwargs):
    body = fixture_bytes(fixture) if fixture else kwargs.pop("body", b"{}")
    api.add(method, api.base + path, body=body, status=status, content_type="application/json", **kwargs)


class Paginated:
    """An X list endpoint: the fixture it answers for each ``pagination_token`` (None: the
    first page; "*": any other). Swap ``pages`` to change what X shows; ``queries`` are kept."""

    def __init__(self, api, path: str, pages: dict):
        self.pages, self.queries = pages, []
        api.add_callback(responses.GET, api.base + path, callback=self, content_type="application/json")

    def __call__(self, request):
        query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        self.queries.append(query)
        name = self.pages.get(query.get("pagination_token"), self.pages.get("*"))
        return (503 if name.startswith("errors__503") else 200), {}, fixture_bytes(name)

    @property
    def tokens(self) -> list:
        return [q.get("pagination_token") for q in self.queries]


def posts_sent(api) -> int:
    return sum(1 for c in api.calls if c.request.method == "POST")


def test_public_reply_is_posted_in_reply_to_the_mention(api, mention, alice):
    add(api, responses.POST, TWEETS, "create_tweet__created.json", status=201)

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1861000000000009001"
    request = api.calls[0].request
    assert request.headers["Authorization"] == "Bearer user-access-token"
    assert json.loads(request.body) == {"text": TEXT, "reply": {"in_reply_to_tweet_id": "1861000000000000101"}}
    mention.refresh_from_db()
    assert mention.first_response_at is not None


def test_dm_is_sent_to_the_citizen_privately(api, dm, alice):
    add(api, responses.POST, DM_WITH_CITIZEN, "create_dm__created.json", status=201)

    message = submit(dm, alice, text="Gràcies, ho revisem.", option="private")

    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1861000000000009501"
    assert message.visibility == Message.Visibility.PRIVATE
    assert json.loads(api.calls[0].request.body) == {"text": "Gràcies, ho revisem."}


def test_a_dm_conversation_offers_no_public_reply(dm, alice):
    with pytest.raises(ReplyRefused):
        submit(dm, alice, option="public")
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def test_officer_of_another_team_cannot_reply(api, mention, bob):
    with pytest.raises(PermissionDenied):
        submit(mention, bob)
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
    assert len(api.calls) == 0


def test_composer_counts_as_x_does_and_refuses_before_sending(api, mention, alice):
    url = "https://ajuntament.example.cat/tramits/residus/recollida-de-mobles-i-trastos-vells?districte=gracia"
    fits = ("x" * 255) + " " + url  # 255 + 1 + 23 = 279 as X counts, though far longer in letters
    too_long = "你好" * 70 + "x"  # 140 wide characters count 280, one more is 281

    with pytest.raises(ReplyRefused, match="281"):
        submit(mention, alice, text=too_long)
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
    assert len(api.calls) == 0

    add(api, responses.POST, TWEETS, "create_tweet__created.json", status=201)
    assert len(fits) > 280
    assert submit(mention, alice, text=fits).delivery_status == Message.Delivery.SENT


def test_duplicate_refused_by_x_is_failed_with_xs_reason_and_not_retried(api, mention, alice):
    add(api, responses.POST, TWEETS, "errors__403_duplicate.json", status=403)

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.FAILED
    assert "duplicate content" in message.delivery_error
    attempt = message.delivery_attempts.get()
    assert attempt.outcome == DeliveryAttempt.Outcome.FAILED and attempt.platform_code == "403"
    assert len(api.calls) == 1


def test_dm_not_allowed_is_failed_with_xs_reason(api, dm, alice):
    add(api, responses.POST, DM_WITH_CITIZEN, "errors__403_dm_not_allowed.json", status=403)

    message = submit(dm, alice, text="Hola", option="private")

    assert message.delivery_status == Message.Delivery.FAILED
    assert "You cannot send messages to this user." in message.delivery_error


def test_401_fails_the_reply_and_marks_the_account_needs_reconnecting(api, mention, alice, x_account):
    add(api, responses.POST, TWEETS, "errors__401.json", status=401)

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.FAILED
    x_account.refresh_from_db()
    assert x_account.status == ChannelAccount.Status.NEEDS_RECONNECT
    mention.refresh_from_db()
    with pytest.raises(ReplyRefused, match="reconnect"):
        submit(mention, alice, text="Una altra resposta")


def test_503_is_retried_later(api, mention, alice):
    add(api, responses.POST, TWEETS, "errors__503.json", status=503)

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.QUEUED
    assert message.next_attempt_at is not None
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.RETRY
    assert len(api.calls) == 1


def test_429_is_retried_at_the_reset_time(api, mention, alice):
    reset = int(time.time()) + 900
    add(api, responses.POST, TWEETS, "errors__429.json", status=429,
        headers={"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.QUEUED
    assert message.next_attempt_at == datetime.fromtimestamp(reset + 1, UTC)


def test_timeout_after_sending_finds_the_reply_instead_of_posting_twice(api, mention, alice):
    api.add(responses.POST, api.base + TWEETS, body=requests.ReadTimeout("read timed out"))
    posts = {"data": [{"id": "1861000000000009001", "text": TEXT, "created_at": "2099-01-01T00:00:00.000Z",
                       "referenced_tweets": [{"type": "replied_to", "id": "1861000000000000101"}]}],
             "meta": {"result_count": 1}}
    add(api, responses.GET, f"/2/users/{ACCOUNT_ID}/tweets", body=json.dumps(posts).encode())

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1861000000000009001"
    assert sum(1 for c in api.calls if c.request.method == "POST") == 1


def test_reply_on_the_third_page_of_a_busy_account_is_found_by_the_sweep_minutes_later(api, mention, alice):
    api.add(responses.POST, api.base + TWEETS, body=requests.ReadTimeout("read timed out"))
    timeline = Paginated(api, TIMELINE, {None: "users_tweets__empty.json"})  # X has not shown it yet
    with time_machine.travel(ANSWERED, tick=False):
        message = submit(mention, alice, text=LINKED_TEXT)
    assert message.delivery_status == Message.Delivery.SENDING  # in doubt, not failed

    timeline.pages = BUSY  # 223 posts since: the reply is on the third page
    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    # Not the same words sent to @laia_m a minute later: the post that answers Marta.
    assert message.external_id == "1861000000000020007"
    assert message.delivered_at == datetime(2026, 11, 20, 9, 0, 7, tzinfo=UTC)
    assert posts_sent(api) == 1
    assert timeline.tokens == [None, None, *list(BUSY)[1:]]
    for query in timeline.queries:  # the attempt's window, not "the last 20 posts"
        assert query["start_time"] == "2026-11-20T08:58:00Z" and query["max_results"] == "100"
        assert "end_time" not in query  # up to now


def test_whole_window_read_without_the_reply_sends_it_again_once(api, mention, alice):
    api.add(responses.POST, api.base + TWEETS, body=requests.ConnectionError("connection reset by peer"))
    add(api, responses.POST, TWEETS, "create_tweet__created.json", status=201)
    timeline = Paginated(api, TIMELINE, {None: "users_tweets__window_without_the_reply.json"})
    with time_machine.travel(ANSWERED, tick=False):
        message = submit(mention, alice)
    assert message.delivery_status == Message.Delivery.SENDING  # absent right away proves nothing
    assert posts_sent(api) == 1

    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1861000000000009001"
    assert posts_sent(api) == 2
    first, second = message.delivery_attempts.all()
    assert (first.outcome, first.platform_code) == (DeliveryAttempt.Outcome.RETRY, "not-found")
    assert "all 4 posts" in first.error and second.outcome == DeliveryAttempt.Outcome.SENT
    assert len(timeline.queries) == 2


def test_another_reply_of_ours_to_the_same_post_is_not_taken_for_absence(api, mention, alice):
    """An officer answered Marta from X's own app meanwhile: that may be a reworded copy."""
    api.add(responses.POST, api.base + TWEETS, body=requests.ReadTimeout("read timed out"))
    Paginated(api, TIMELINE, {None: "users_tweets__another_reply_to_the_same_post.json"})
    with time_machine.travel(ANSWERED, tick=False):
        message = submit(mention, alice)
    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.UNCERTAIN
    assert "1861000000000010301" in message.delivery_error
    assert posts_sent(api) == 1


def test_timeout_that_cannot_be_confirmed_is_failed_as_uncertain_never_resent(api, mention, alice):
    api.add(responses.POST, api.base + TWEETS, body=requests.ReadTimeout("read timed out"))
    timeline = Paginated(api, TIMELINE, {"*": "errors__503.json", None: "errors__503.json"})
    with time_machine.travel(ANSWERED, tick=False):
        message = submit(mention, alice)
    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.UNCERTAIN
    assert "not known whether" in message.delivery_error and "X is having trouble (503" in message.delivery_error
    assert posts_sent(api) == 1 and len(timeline.queries) == 2


def test_a_window_longer_than_the_search_budget_cannot_tell(api, mention, alice):
    api.add(responses.POST, api.base + TWEETS, body=requests.ReadTimeout("read timed out"))
    timeline = Paginated(api, TIMELINE, {None: BUSY[None], "*": BUSY[None]})  # pages without end
    with time_machine.travel(ANSWERED, tick=False):
        message = submit(mention, alice)
    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert "not all of them could be read" in message.delivery_error
    assert len(timeline.queries) == 2 * MAX_SEARCH_PAGES and posts_sent(api) == 1


def test_dm_found_on_the_second_page_of_the_conversation(api, dm, alice):
    api.add(responses.POST, api.base + DM_WITH_CITIZEN, body=requests.ReadTimeout("read timed out"))
    events = Paginated(api, DM_EVENTS, {None: "dm_conversation_events__only_the_citizen.json"})
    with time_machine.travel(DM_ANSWERED, tick=False):
        message = submit(dm, alice, text="Gràcies, ho revisem.", option="private")
    assert message.delivery_status == Message.Delivery.SENDING

    events.pages = {None: "dm_conversation_events__newest_from_the_citizen.json",
                    "0YQ1AC2Q1GAQ0PIVJ6NQ8YJ3LK": "dm_conversation_events__older_with_our_reply.json"}
    with time_machine.travel(DM_SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1861000000000007050"
    assert posts_sent(api) == 1


def test_dm_not_in_the_conversation_back_to_the_window_is_sent_again(api, dm, alice):
    api.add(responses.POST, api.base + DM_WITH_CITIZEN, body=requests.ReadTimeout("read timed out"))
    add(api, responses.POST, DM_WITH_CITIZEN, "create_dm__created.json", status=201)
    events = Paginated(api, DM_EVENTS, {None: "dm_conversation_events__only_the_citizen.json"})
    with time_machine.travel(DM_ANSWERED, tick=False):
        message = submit(dm, alice, text="Gràcies, ho revisem.", option="private")

    events.pages = {None: "dm_conversation_events__newest_from_the_citizen.json",
                    "0YQ1AC2Q1GAQ0PIVJ6NQ8YJ3LK": "dm_conversation_events__older_without_our_reply.json"}
    with time_machine.travel(DM_SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1861000000000009501"
    assert posts_sent(api) == 2
    # It stopped at the first event older than the window: the third page was never asked for.
    assert events.tokens == [None, None, "0YQ1AC2Q1GAQ0PIVJ6NQ8YJ3LK"]


def test_expiring_token_is_refreshed_persisted_and_used(api, mention, alice, x_account, settings):
    settings.X_CLIENT_ID, settings.X_CLIENT_SECRET = "client-id", "client-secret"
    credentials = x_account.credentials
    credentials["oauth2"]["expires_at"] = int(time.time()) + 60
    ChannelAccount.objects.filter(id=x_account.id).update(credentials=credentials)
    mention.account.refresh_from_db()
    add(api, responses.POST, "/2/oauth2/token", "oauth2_token__ok.json")
    add(api, responses.POST, TWEETS, "create_tweet__created.json", status=201)

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.SENT
    token_request = api.calls[0].request
    assert "grant_type=refresh_token" in token_request.body and "refresh_token=user-refresh-token" in token_request.body
    assert token_request.headers["Authorization"].startswith("Basic ")
    fresh = json.loads(fixture_bytes("oauth2_token__ok.json"))
    assert api.calls[1].request.headers["Authorization"] == f"Bearer {fresh['access_token']}"
    x_account.refresh_from_db()
    assert x_account.credentials["oauth2"]["refresh_token"] == fresh["refresh_token"]
    assert x_account.credentials["oauth2"]["expires_at"] > time.time() + 7000


def test_refused_refresh_marks_the_account_needs_reconnecting(api, mention, alice, x_account, settings):
    settings.X_CLIENT_ID = "client-id"
    credentials = x_account.credentials
    credentials["oauth2"]["expires_at"] = int(time.time()) - 10
    ChannelAccount.objects.filter(id=x_account.id).update(credentials=credentials)
    mention.account.refresh_from_db()
    add(api, responses.POST, "/2/oauth2/token", "oauth2_token__invalid_refresh.json", status=400)

    message = submit(mention, alice)

    assert message.delivery_status == Message.Delivery.FAILED
    assert "invalid_request" in message.delivery_error
    x_account.refresh_from_db()
    assert x_account.status == ChannelAccount.Status.NEEDS_RECONNECT
    assert x_account.credentials["oauth2"]["refresh_token"] == "user-refresh-token"  # nothing overwritten
    assert not any(TWEETS in c.request.url for c in api.calls)


def test_oauth1_account_signs_its_requests(api, mention, alice, x_account, settings):
    settings.X_CONSUMER_KEY = "consumer-key"
    ChannelAccount.objects.filter(id=x_account.id).update(
        credentials={"oauth1": {"access_token": f"{ACCOUNT_ID}-abc", "access_token_secret": "secret"}})
    mention.account.refresh_from_db()
    add(api, responses.POST, TWEETS, "create_tweet__created.json", status=201)

    assert submit(mention, alice).delivery_status == Message.Delivery.SENT
    authorization = api.calls[0].request.headers["Authorization"]
    assert authorization.startswith("OAuth ") and 'oauth_consumer_key="consumer-key"' in authorization
