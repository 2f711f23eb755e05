"""Every way an officer answers on Facebook and Instagram, through reply_submit, with the
real facebook-sdk code and Graph API answers intercepted at its session."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
import time_machine

from channels_adapters.base import ReplyRefused
from channels_adapters.meta.tests.conftest import (
    GRAPH,
    PAGE_ID,
    TOKEN,
    committed,
    deliver,
    fixture_bytes,
    fixture_json,
)
from channels_adapters.outbound import outbound_sweep, reply_options, reply_submit
from inbox.models import ChannelAccount, Conversation, DeliveryAttempt, Message

pytestmark = pytest.mark.django_db

MARTA_COMMENT = "1029384756473829_1203948576012345"
JORDI_REPLY = "1029384756473829_1203948576099999"
PSID = "6512345678901234"
IGSID = "1234567890123456"
IG_COMMENT = "17890123456789012"
IG_REPLY = "17890123456789099"
# The fixtures' citizen messages were written on 2026-11-20 around 09:00 UTC.
SOON = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TWO_DAYS_LATER = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
EIGHT_DAYS_LATER = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
SWEPT = datetime(2026, 11, 20, 10, 40, tzinfo=UTC)  # the sweep settles a reply in doubt
BUSY_REPLIES = {None: "graph_comment_replies__busy_page1_of_3.json",
                "QVFIUmxtbVd5N2NPbmVfM1M2d2ZA1": "graph_comment_replies__busy_page2_of_3.json",
                "QVFIUmxtbVd5N2NPbmVfM1M2d2ZA3": "graph_comment_replies__busy_page3_of_3.json"}


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(call.request.url).query).items()}


def submit(conversation: Conversation, user, option: str, text: str = "Bon dia, ho hem passat al servei.") -> Message:
    message = committed(reply_submit, conversation=conversation, user=user, text=text, option_key=option)
    message.refresh_from_db()
    return message


def options(conversation: Conversation) -> dict:
    return {o.key: o for o in reply_options(conversation)}


class Edge:
    """A Graph API list edge: the fixture it answers for each ``after`` cursor (None: the first
    page). Swap ``pages`` to change what Meta shows; the queries are kept."""

    def __init__(self, graph, url: str, pages: dict):
        self.pages, self.queries = pages, []
        graph.add_callback(responses.GET, url, callback=self, content_type="application/json")

    def __call__(self, request):
        found = parse_qs(urlparse(request.url).query)
        self.queries.append(found)
        name = self.pages[found.get("after", [None])[0]]
        return (500 if name.startswith("graph_error__") else 200), {}, fixture_bytes(name)


def sends(graph) -> int:
    return sum(1 for c in graph.calls if c.request.method == "POST")


@pytest.fixture
def at_soon():
    with time_machine.travel(SOON, tick=False):
        yield


@pytest.fixture
def comment_thread(page, alice):
    deliver("feed_comment__add.json")
    return Conversation.objects.get(account=page)


@pytest.fixture
def messenger_thread(page, alice):
    deliver("messaging__text.json")
    return Conversation.objects.get(account=page)


# --- Facebook comments -----------------------------------------------------------------------


def test_public_reply_goes_under_the_top_level_comment(page, alice, graph, at_soon):
    deliver("feed_comment__add.json", "feed_comment__reply.json")
    conversation = Conversation.objects.get()
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", json=fixture_json("comment_reply__success.json"))

    message = submit(conversation, alice, "public")

    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1029384756473829_1203948576077777"
    assert message.kind == Message.Kind.REPLY and message.visibility == Message.Visibility.PUBLIC
    (call,) = graph.calls
    assert form(call)["message"] == "Bon dia, ho hem passat al servei."
    assert form(call)["access_token"] == TOKEN
    expected_proof = hmac.new(b"test-meta-app-secret", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert query(call)["appsecret_proof"] == expected_proof
    assert "/v26.0/" in call.request.url  # the pinned version, not the SDK's 3.1 ceiling
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None


def test_private_reply_to_a_comment_is_possible_once(comment_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("send_api__success.json"))
    assert options(comment_thread)["private"].available

    message = submit(comment_thread, alice, "private")

    assert message.delivery_status == Message.Delivery.SENT
    assert message.in_reply_to == MARTA_COMMENT
    sent = form(graph.calls[0])
    assert json.loads(sent["recipient"]) == {"comment_id": MARTA_COMMENT}
    assert json.loads(sent["message"]) == {"text": "Bon dia, ho hem passat al servei."}
    again = options(comment_thread)["private"]
    assert not again.available and "only one" in again.reason
    with pytest.raises(ReplyRefused, match="only one"):
        submit(comment_thread, alice, "private")
    assert len(graph.calls) == 1
    assert options(comment_thread)["public"].available


def test_private_reply_closes_seven_days_after_the_comment(comment_thread, alice, graph):
    with time_machine.travel(EIGHT_DAYS_LATER, tick=False):
        option = options(comment_thread)["private"]
        assert not option.available and "within 7 days" in option.reason
        with pytest.raises(ReplyRefused):
            submit(comment_thread, alice, "private")

    assert not graph.calls
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def test_public_reply_to_a_deleted_thread_is_not_offered(page, alice, graph, at_soon):
    deliver("feed_comment__add.json", "feed_comment__remove.json")
    conversation = Conversation.objects.get()

    found = options(conversation)

    assert not found["public"].available and "deleted" in found["public"].reason
    assert not found["private"].available and "deleted" in found["private"].reason


# --- Messenger -------------------------------------------------------------------------------


def test_messenger_reply_inside_24_hours_is_a_response(messenger_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("send_api__success.json"))
    found = options(messenger_thread)
    assert found["message"].available
    assert not found["human_agent"].available and "window is open" in found["human_agent"].reason

    message = submit(messenger_thread, alice, "message")

    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "m_OurReplyFromTheSendApi0000aaaabbbbccccddddeeeeffff00001111"
    sent = form(graph.calls[0])
    assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent
    assert json.loads(sent["recipient"]) == {"id": PSID}


def test_after_24_hours_only_the_human_agent_tag_is_possible(messenger_thread, alice, graph):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("send_api__success.json"))
    with time_machine.travel(TWO_DAYS_LATER, tick=False):
        found = options(messenger_thread)
        assert not found["message"].available and "24-hour window closed" in found["message"].reason
        assert found["human_agent"].available
        with pytest.raises(ReplyRefused, match="24-hour window closed"):
            submit(messenger_thread, alice, "message")

        message = submit(messenger_thread, alice, "human_agent")

    assert message.delivery_status == Message.Delivery.SENT
    sent = form(graph.calls[0])
    assert sent["messaging_type"] == "MESSAGE_TAG" and sent["tag"] == "HUMAN_AGENT"


def test_after_seven_days_nothing_can_be_sent(messenger_thread, alice, graph):
    with time_machine.travel(EIGHT_DAYS_LATER, tick=False):
        found = options(messenger_thread)
        for option in found.values():
            with pytest.raises(ReplyRefused, match="within 7 days"):
                submit(messenger_thread, alice, option.key)
    assert all(not o.available for o in found.values())
    assert not graph.calls


def test_officer_of_another_team_cannot_reply(messenger_thread, bob, graph, at_soon):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        submit(messenger_thread, bob, "message")
    assert not graph.calls and not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


# --- Instagram -------------------------------------------------------------------------------


def test_instagram_comment_public_and_private_replies(instagram, alice, graph, at_soon):
    deliver("ig_comments__add.json", "ig_comments__reply.json")
    conversation = Conversation.objects.get()
    graph.post(f"{GRAPH}/{IG_COMMENT}/replies", json={"id": "17890123456789777"})
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("send_api__success.json"))

    public = submit(conversation, alice, "public", "Merci, c'est transmis.")
    private = submit(conversation, alice, "private", "Pourriez-vous nous donner l'adresse exacte ?")

    assert public.delivery_status == private.delivery_status == Message.Delivery.SENT
    assert public.external_id == "17890123456789777"
    assert form(graph.calls[0])["message"] == "Merci, c'est transmis."
    assert json.loads(form(graph.calls[1])["recipient"]) == {"comment_id": IG_REPLY}  # the latest comment
    assert form(graph.calls[1])["access_token"] == TOKEN  # Instagram answers go with the Page token


def test_instagram_direct_message_reply(instagram, alice, graph, at_soon):
    deliver("ig_messaging__text.json")
    conversation = Conversation.objects.get()
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("send_api__success.json"))

    message = submit(conversation, alice, "message", "Dzień dobry! Można to zrobić online.")

    assert message.delivery_status == Message.Delivery.SENT
    # The first message also asks the Graph API for the citizen's name (a GET): the send is the POST.
    sent = form(next(call for call in graph.calls if call.request.method == "POST"))
    assert json.loads(sent["recipient"]) == {"id": IGSID} and sent["messaging_type"] == "RESPONSE"
    assert options(conversation)["message"].max_length == 1000


# --- Graph API errors ------------------------------------------------------------------------


def test_expired_token_fails_the_reply_and_asks_for_reconnection(messenger_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("graph_error__token_expired.json"), status=400)

    message = submit(messenger_thread, alice, "message")

    assert message.delivery_status == Message.Delivery.FAILED
    assert "Session has expired" in message.delivery_error
    assert message.delivery_attempts.get().platform_code == "190/463"
    page = ChannelAccount.objects.get(external_id=PAGE_ID)
    assert page.status == ChannelAccount.Status.NEEDS_RECONNECT


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("graph_error__rate_limit_app.json", "4"),
        ("graph_error__rate_limit_user.json", "17/2446079"),
        ("graph_error__rate_limit_page.json", "32"),
        ("graph_error__rate_limit_custom.json", "613"),
    ],
)
def test_rate_limited_reply_is_retried_later(messenger_thread, alice, graph, at_soon, fixture, code):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json(fixture), status=400)

    message = submit(messenger_thread, alice, "message")

    assert message.delivery_status == Message.Delivery.QUEUED
    assert message.next_attempt_at > SOON
    attempt = message.delivery_attempts.get()
    assert attempt.outcome == DeliveryAttempt.Outcome.RETRY and attempt.platform_code == code
    assert ChannelAccount.objects.get(external_id=PAGE_ID).status == ChannelAccount.Status.ACTIVE


def test_rate_limit_retry_waits_for_metas_estimated_time(messenger_thread, alice, graph, at_soon):
    usage = {PAGE_ID: [{"type": "messenger", "call_count": 100, "total_cputime": 40, "total_time": 55,
                        "estimated_time_to_regain_access": 30}]}
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("graph_error__rate_limit_page.json"), status=400,
               headers={"X-Business-Use-Case-Usage": json.dumps(usage)})

    message = submit(messenger_thread, alice, "message")

    assert message.next_attempt_at == SOON + timedelta(minutes=30)


def test_outside_the_messaging_window_fails_with_metas_reason(messenger_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("graph_error__outside_window.json"), status=400)

    message = submit(messenger_thread, alice, "message")

    assert message.delivery_status == Message.Delivery.FAILED
    assert "sent outside of allowed window" in message.delivery_error
    assert message.delivery_attempts.get().platform_code == "10/2018278"


def test_rejected_public_reply_fails_without_retry(comment_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", json=fixture_json("graph_error__bad_parameter.json"), status=400)

    message = submit(comment_thread, alice, "public")

    assert message.delivery_status == Message.Delivery.FAILED
    assert message.attempts == 1 and "does not exist" in message.delivery_error


def test_transient_meta_error_is_retried(comment_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", json=fixture_json("graph_error__unknown_transient.json"),
               status=500)

    message = submit(comment_thread, alice, "public")

    assert message.delivery_status == Message.Delivery.QUEUED
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.RETRY


def test_timeout_then_found_on_meta_is_sent_not_resent(comment_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", body=requests.Timeout("read timed out"))
    graph.get(f"{GRAPH}/{MARTA_COMMENT}/comments", json={"data": [{
        "id": "1029384756473829_1203948576088888", "message": "Bon dia, ho hem passat al servei.",
        "created_time": "2026-11-20T10:00:00+0000", "from": {"id": PAGE_ID, "name": "Ajuntament de Vilanova"},
    }]})

    message = submit(comment_thread, alice, "public")

    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1029384756473829_1203948576088888"
    assert [c.request.method for c in graph.calls] == ["POST", "GET"]


def test_timeout_not_found_on_meta_is_failed_as_uncertain(messenger_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", body=requests.Timeout("read timed out"))
    graph.get(f"{GRAPH}/{PAGE_ID}/conversations", json={"data": []})

    message = submit(messenger_thread, alice, "message")
    assert message.delivery_status == Message.Delivery.SENDING  # in doubt: the sweep decides
    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert "not known whether" in message.delivery_error and "no conversation" in message.delivery_error
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.UNCERTAIN
    assert query(graph.calls[1])["user_id"] == PSID
    assert sends(graph) == 1


def test_public_reply_on_the_third_page_of_replies_is_found_by_the_sweep(comment_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", body=requests.Timeout("read timed out"))
    replies = Edge(graph, f"{GRAPH}/{MARTA_COMMENT}/comments", {None: "graph_comment_replies__empty.json"})
    message = submit(comment_thread, alice, "public")
    assert message.delivery_status == Message.Delivery.SENDING  # Meta does not show it yet

    replies.pages = BUSY_REPLIES  # 231 replies under Marta's comment by 10:40
    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1029384756473829_1203948576200014"
    assert message.delivered_at == datetime(2026, 11, 20, 10, 0, 6, tzinfo=UTC)
    assert sends(graph) == 1
    assert [q.get("after", [None])[0] for q in replies.queries] == [None, *BUSY_REPLIES]
    for found in replies.queries:  # paging.next followed, with this client's token only
        assert found["access_token"] == [TOKEN] and found["limit"] == ["100"]


def test_public_reply_not_under_the_comment_is_posted_again_once(comment_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", body=requests.ConnectionError("connection reset by peer"))
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", json=fixture_json("comment_reply__success.json"))
    Edge(graph, f"{GRAPH}/{MARTA_COMMENT}/comments", {None: "graph_comment_replies__without_our_reply.json"})
    message = submit(comment_thread, alice, "public")
    assert message.delivery_status == Message.Delivery.SENDING and sends(graph) == 1

    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "1029384756473829_1203948576077777"
    assert sends(graph) == 2
    first, second = message.delivery_attempts.all()
    assert (first.outcome, first.platform_code) == (DeliveryAttempt.Outcome.RETRY, "not-found")
    assert second.outcome == DeliveryAttempt.Outcome.SENT


def test_meta_error_during_the_search_fails_the_reply_as_uncertain_never_resent(comment_thread, alice, graph,
                                                                                 at_soon):
    graph.post(f"{GRAPH}/{MARTA_COMMENT}/comments", body=requests.Timeout("read timed out"))
    Edge(graph, f"{GRAPH}/{MARTA_COMMENT}/comments", {None: "graph_error__unknown_transient.json"})
    message = submit(comment_thread, alice, "public")

    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.UNCERTAIN
    assert "not known whether" in message.delivery_error and "search on the platform failed" in message.delivery_error
    assert sends(graph) == 1


def test_messenger_reply_found_in_the_conversation_by_the_sweep(messenger_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", body=requests.Timeout("read timed out"))
    conversations = Edge(graph, f"{GRAPH}/{PAGE_ID}/conversations", {None: "graph_conversations__none.json"})
    message = submit(messenger_thread, alice, "message")

    conversations.pages = {None: "graph_conversations__with_our_reply.json"}
    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == "m_OurReplyFromTheSendApi0000aaaabbbbccccddddeeeeffff00001111"
    assert conversations.queries[-1]["fields"] == ["messages.limit(20){id,message,created_time,from}"]
    assert sends(graph) == 1


def test_messenger_reply_absent_back_past_the_window_is_sent_again(messenger_thread, alice, graph, at_soon):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", body=requests.Timeout("read timed out"))
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("send_api__success.json"))
    Edge(graph, f"{GRAPH}/{PAGE_ID}/conversations",
         {None: "graph_conversations__back_past_the_window_without_our_reply.json"})
    message = submit(messenger_thread, alice, "message")

    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert sends(graph) == 2
    assert [a.outcome for a in message.delivery_attempts.all()] == ["retry", "sent"]


def test_conversation_busier_than_meta_shows_cannot_tell(messenger_thread, alice, graph, at_soon):
    """Meta details only a conversation's 20 most recent messages: all after the attempt here."""
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", body=requests.Timeout("read timed out"))
    Edge(graph, f"{GRAPH}/{PAGE_ID}/conversations", {None: "graph_conversations__busier_than_meta_shows.json"})
    message = submit(messenger_thread, alice, "message")

    with time_machine.travel(SWEPT, tick=False):
        committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert "not known whether" in message.delivery_error and "more than 20 messages" in message.delivery_error
    assert sends(graph) == 1


@pytest.mark.parametrize("header", [
    {"X-Business-Use-Case-Usage": json.dumps({PAGE_ID: [{"type": "pages", "call_count": 96, "total_cputime": 10,
                                                         "total_time": 10, "estimated_time_to_regain_access": 0}]})},
    {"X-App-Usage": json.dumps({"call_count": 97, "total_cputime": 20, "total_time": 30})},
], ids=["page-budget", "app-budget"])
def test_paused_before_the_limit_no_call_is_made(messenger_thread, alice, graph, at_soon, header):
    graph.post(f"{GRAPH}/{PAGE_ID}/messages", json=fixture_json("send_api__success.json"), headers=header)
    first = submit(messenger_thread, alice, "message", "Primera resposta.")

    second = submit(messenger_thread, alice, "message", "Segona resposta.")

    assert first.delivery_status == Message.Delivery.SENT
    assert second.delivery_status == Message.Delivery.QUEUED  # waits instead of hitting the wall
    assert second.delivery_attempts.get().platform_code == "throttled"
    assert len(graph.calls) == 1


def test_instagram_message_limit_is_counted_in_bytes(instagram, alice, at_soon):
    from channels_adapters.outbound import reply_submit

    deliver("ig_messaging__text.json")
    conversation = Conversation.objects.get()
    text = "à" * 600  # 600 characters, 1,200 bytes

    with pytest.raises(ReplyRefused, match="1000 bytes"):
        reply_submit(conversation=conversation, user=alice, text=text, option_key="message")
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()


def test_no_public_reply_under_a_hidden_instagram_comment(instagram, at_soon):
    from django.utils import timezone

    deliver("ig_comments__add.json")
    conversation = Conversation.objects.get()
    conversation.messages.update(hidden_at=timezone.now())

    public = options(conversation)["public"]

    assert not public.available and "hidden" in public.reason
