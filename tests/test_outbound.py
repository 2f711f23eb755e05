"""Replies leave once: claims, retries at the right time, no resend after a doubt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from channels_adapters import registry
from channels_adapters.base import AdapterError, ReplyRefused
from channels_adapters.confirmation import CLOCK_SKEW
from channels_adapters.outbound import (
    delivery_settle,
    message_deliver,
    outbound_sweep,
    reply_submit,
)
from inbox.models import AuditEvent, ChannelAccount, Conversation, DeliveryAttempt, Message
from tests.conftest import committed, post_sim, sim_body, sim_event
from tests.platform_double import ScriptedPlatform, permanent, transient

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1)]))
    return Conversation.objects.get()


@pytest.fixture
def scripted(settings, conversation):
    settings.CHANNEL_ADAPTERS = {**settings.CHANNEL_ADAPTERS, "scripted": "tests.platform_double.ScriptedPlatform"}
    registry._adapter.cache_clear()
    ScriptedPlatform.script, ScriptedPlatform.sent, ScriptedPlatform.confirmable = [], [], False
    ScriptedPlatform.search_error, ScriptedPlatform.windows = None, []
    ChannelAccount.objects.filter(id=conversation.account_id).update(platform="scripted")
    conversation.refresh_from_db()
    yield ScriptedPlatform
    registry._adapter.cache_clear()


def submit(conversation, user, text="Gràcies, ho mirem ara mateix.", option="public"):
    return committed(reply_submit, conversation=conversation, user=user, text=text, option_key=option)


def test_reply_is_sent_once_and_stops_the_first_response_clock(conversation, alice):
    message = submit(conversation, alice)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == f"sim-out-{message.uuid}"
    assert message.in_reply_to == "m1"
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.SENT
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None
    assert conversation.status == Conversation.Status.OPEN
    assert AuditEvent.objects.filter(verb="message.reply", target_id=str(conversation.id), actor=alice).exists()
    # A redelivered task finds nothing to claim.
    assert message_deliver(message.id) == "not-claimed"
    assert message.delivery_attempts.count() == 1


def test_officer_of_another_team_cannot_reply(conversation, bob):
    with pytest.raises(PermissionDenied):
        submit(conversation, bob)
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


@pytest.mark.parametrize(("text", "reason"), [("   ", "empty"), ("x" * 2001, "limit is 2000")])
def test_reply_the_platform_would_refuse_is_refused_before_sending(conversation, alice, text, reason):
    with pytest.raises(ReplyRefused, match=reason):
        submit(conversation, alice, text=text)
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def test_public_reply_is_not_offered_in_a_private_conversation(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1, channel="dm")]))
    conversation = Conversation.objects.get()
    with pytest.raises(ReplyRefused):
        submit(conversation, alice, option="public")
    assert submit(conversation, alice, option="private").visibility == Message.Visibility.PRIVATE


def test_account_needing_reconnection_refuses_replies(conversation, alice):
    ChannelAccount.objects.update(status=ChannelAccount.Status.NEEDS_RECONNECT)
    conversation.refresh_from_db()
    with pytest.raises(ReplyRefused, match="reconnect"):
        submit(conversation, alice)


def test_transient_failure_is_retried_at_the_platform_reset_time(scripted, conversation, alice):
    reset = timezone.now() + timedelta(minutes=15)
    scripted.script = [transient("429 Too Many Requests", retry_at=reset, code="429")]

    message = submit(conversation, alice)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.QUEUED
    assert message.next_attempt_at == reset
    assert "429" in message.delivery_error
    # Not due yet: nobody may claim it.
    assert message_deliver(message.id) == "not-claimed"
    Message.objects.filter(id=message.id).update(next_attempt_at=timezone.now())
    assert message_deliver(message.id) == "sent"
    assert scripted.sent == [str(message.uuid)]
    assert [a.outcome for a in message.delivery_attempts.all()] == ["retry", "sent"]


def test_permanent_failure_is_shown_and_not_retried(scripted, conversation, alice):
    scripted.script = [permanent()]
    message = submit(conversation, alice)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert "not allowed" in message.delivery_error
    assert scripted.sent == []
    conversation.refresh_from_db()
    assert conversation.first_response_at is None


def test_revoked_grant_marks_the_account_for_reconnection(scripted, conversation, alice):
    scripted.script = [AdapterError("401 Unauthorized", permanent=True, needs_reconnect=True)]
    submit(conversation, alice)
    account = ChannelAccount.objects.get()
    assert account.status == ChannelAccount.Status.NEEDS_RECONNECT
    assert "401" in account.last_error


def age(message, minutes=10):
    """Make the reply's open attempt look as old as it would be when the sweep settles it."""
    DeliveryAttempt.objects.filter(message=message, finished_at__isnull=True).update(
        started_at=timezone.now() - timedelta(minutes=minutes))


def test_uncertain_failure_is_never_resent_blindly(scripted, conversation, alice):
    scripted.script = [(AdapterError("read timeout", uncertain=True), True)]  # it did go out
    message = submit(conversation, alice)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENDING  # in doubt: the sweep decides
    attempt = message.delivery_attempts.get()
    assert attempt.finished_at is None and "read timeout" in attempt.error
    assert committed(outbound_sweep)["settled"] == 0  # too soon to believe a search

    age(message)
    committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert "not known whether" in message.delivery_error and "read timeout" in message.delivery_error
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.UNCERTAIN
    assert scripted.sent == [str(message.uuid)]  # exactly once
    assert message_deliver(message.id) == "not-claimed"


def test_uncertain_failure_confirmed_on_the_platform_counts_as_sent(scripted, conversation, alice):
    scripted.confirmable = True
    scripted.script = [(AdapterError("read timeout", uncertain=True), True)]
    message = submit(conversation, alice)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert scripted.sent == [str(message.uuid)]


def test_reply_that_never_reached_the_platform_is_sent_again_once_the_whole_window_was_searched(
    scripted, conversation, alice
):
    scripted.confirmable = True
    scripted.script = [(AdapterError("read timeout", uncertain=True), False)]  # lost on the way
    message = submit(conversation, alice)
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENDING  # absent so soon proves nothing
    assert scripted.sent == []

    age(message)
    committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert scripted.sent == [str(message.uuid)]  # once
    first, second = message.delivery_attempts.all()
    assert (first.outcome, first.platform_code) == (DeliveryAttempt.Outcome.RETRY, "not-found")
    assert "not on the platform" in first.error and second.outcome == DeliveryAttempt.Outcome.SENT
    # The second search would look back to the first attempt too: its post may come late.
    assert len(scripted.windows) == 2


def test_search_that_fails_leaves_the_reply_failed_as_uncertain_never_resent(scripted, conversation, alice):
    scripted.confirmable = True
    scripted.search_error = transient("503 Service Unavailable")
    scripted.script = [(AdapterError("read timeout", uncertain=True), False)]
    message = submit(conversation, alice)
    age(message)

    committed(outbound_sweep)

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert "not known whether" in message.delivery_error and "503" in message.delivery_error
    assert message.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.UNCERTAIN
    assert scripted.sent == [] and message_deliver(message.id) == "not-claimed"


def test_the_search_covers_the_attempt_however_late_the_sweep_runs(scripted, conversation, alice):
    scripted.script = [(AdapterError("read timeout", uncertain=True), True)]
    message = submit(conversation, alice)
    first_started = message.delivery_attempts.get().started_at
    age(message, minutes=47)  # the beat was down for a while
    started = message.delivery_attempts.get().started_at

    committed(outbound_sweep)

    immediate, settling = scripted.windows
    assert immediate.start == first_started - CLOCK_SKEW and immediate.end is None
    assert settling.start == started - CLOCK_SKEW and settling.end is None  # up to now
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED  # this platform cannot be searched


def test_absence_seen_too_soon_after_the_attempt_is_not_believed(scripted, conversation, alice):
    scripted.confirmable = True
    scripted.script = [(AdapterError("read timeout", uncertain=True), False)]
    message = submit(conversation, alice)
    message.refresh_from_db()
    attempt = message.delivery_attempts.get()

    outcome = delivery_settle(scripted(), message, attempt, now=attempt.started_at + timedelta(minutes=1))

    assert outcome == "uncertain"
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED and scripted.sent == []


def test_a_second_sweep_with_a_stale_view_never_resends(scripted, conversation, alice, django_capture_on_commit_callbacks):
    from inbox.services import message_claim_for_send

    scripted.confirmable = True
    scripted.script = [(AdapterError("read timeout", uncertain=True), False)]
    message = submit(conversation, alice)
    age(message)
    message.refresh_from_db()
    stale_attempt = message.delivery_attempts.get()
    with django_capture_on_commit_callbacks(execute=False):
        assert delivery_settle(scripted(), message, stale_attempt, now=timezone.now()) == "retry"
    _, new_attempt = message_claim_for_send(message.id)  # a worker is sending it again

    # An overlapping sweep, which searched before the requeue, acts on what it saw.
    assert delivery_settle(scripted(), message, stale_attempt, now=timezone.now()) == "settled-elsewhere"

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENDING
    new_attempt.refresh_from_db()
    assert new_attempt.finished_at is None


def test_sweep_settles_a_reply_stuck_in_sending_after_a_crash(scripted, conversation, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # the worker dies before sending
        message = reply_submit(conversation=conversation, user=alice, text="Hola", option_key="public")
    # It claimed the message, then the process was killed.
    Message.objects.filter(id=message.id).update(delivery_status=Message.Delivery.SENDING)
    DeliveryAttempt.objects.create(message=message, started_at=timezone.now() - timedelta(minutes=10))

    assert outbound_sweep() == {"requeued": 0, "settled": 1}

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.FAILED
    assert scripted.sent == []


def test_sweep_requeues_replies_whose_retry_time_passed(scripted, conversation, alice):
    scripted.script = [transient()]
    message = submit(conversation, alice)
    Message.objects.filter(id=message.id).update(next_attempt_at=timezone.now() - timedelta(minutes=5))

    result = committed(outbound_sweep)

    assert result["requeued"] == 1
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT


def test_simulated_account_keeps_the_platform_rules_but_replies_go_to_the_simulator(team_a, alice):
    """Demo X accounts: X's composer rules apply, the simulated network carries the reply."""
    from datetime import UTC, datetime

    from inbox.inbound import InboundAuthor, InboundMessage
    from inbox.services import messages_ingest
    from routing.services import conversations_route

    ChannelAccount.objects.create(
        platform="x", external_id="1590000000000000001", name="Demo X", default_team=team_a, simulated=True
    )
    result = messages_ingest([(InboundMessage(
        platform="x", account_external_id="1590000000000000001", external_id="1860000000000000001",
        thread_key="post:1860000000000000001", kind="mention", visibility="public",
        author=InboundAuthor("42", handle="marta"), text="@ajuntament el bus 24?",
        sent_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    ), None)])
    conversations_route(result.new_conversation_ids)
    conversation = Conversation.objects.get()

    with pytest.raises(ReplyRefused, match="280"):
        submit(conversation, alice, text="a" * 281)
    message = submit(conversation, alice, text="Hola Marta, el 24 va amb retard per obres.")

    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == f"sim-out-{message.uuid}"


def test_a_late_worker_cannot_overwrite_what_the_sweep_settled(conversation, alice, django_capture_on_commit_callbacks):
    from inbox.services import message_claim_for_send, message_mark_sent

    with django_capture_on_commit_callbacks(execute=False):
        message = reply_submit(conversation=conversation, user=alice, text="Hola", option_key="public")
    message, attempt = message_claim_for_send(message.id)
    assert attempt.finished_at is None  # the claim opened its attempt in the same transaction
    DeliveryAttempt.objects.filter(id=attempt.id).update(started_at=timezone.now() - timedelta(minutes=10))
    outbound_sweep()  # the worker looks dead: the sweep settles it (the simulator confirms delivery)
    message.refresh_from_db()
    settled = message.delivery_status

    message_mark_sent(message, attempt, external_id="late")  # the slow worker comes back

    message.refresh_from_db()
    assert message.delivery_status == settled and message.external_id != "late"


def test_the_same_composed_reply_submitted_twice_is_sent_once(conversation, alice):
    first = committed(
        reply_submit, conversation=conversation, user=alice, text="Hola", option_key="public", client_token="t-1"
    )
    again = committed(
        reply_submit, conversation=conversation, user=alice, text="Hola", option_key="public", client_token="t-1"
    )
    assert again.id == first.id
    assert conversation.messages.filter(direction=Message.Direction.OUTBOUND).count() == 1
    assert AuditEvent.objects.filter(verb="message.reply").count() == 1


@pytest.mark.parametrize("text", [
    "Truqui'ns al 612 345 678", "El seu DNI 12345678Z ja consta", "Escrigui a marta.puig@gmail.com",
    "Pagament a ES91 2100 0418 4502 0005 1332",
])
def test_personal_data_is_not_published_without_confirmation(conversation, alice, text):
    from channels_adapters.outbound import PersonalDataInPublicReply

    with pytest.raises(PersonalDataInPublicReply, match="personal data"):
        submit(conversation, alice, text=text)
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
    # In a private message it is what the channel is for.
    assert submit(conversation, alice, text=text, option="private").visibility == "private"


def test_public_service_numbers_pass_and_a_confirmed_public_reply_is_audited(conversation, alice, settings):
    settings.PUBLIC_EMAIL_DOMAINS = ("ajuntament.cat",)
    submit(conversation, alice, text="Truqui al 010 o al 900 123 456, o escrigui a info@ajuntament.cat")

    message = committed(
        reply_submit, conversation=conversation, user=alice, text="Oficina: 933 123 456",
        option_key="public", confirm_public=True,
    )

    assert message.visibility == "public"
    audit = AuditEvent.objects.filter(verb="message.reply").order_by("id").last()
    assert audit.data["personal_data_confirmed_public"] == ["phone number"]


def test_a_due_account_is_leased_so_a_slow_queue_never_polls_it_twice(db, settings):
    import redis

    from channels_adapters.tasks import poll_due_channels
    from config.celery import app as celery_app

    ChannelAccount.objects.create(platform="x", external_id="1590000000000000009", name="X")
    celery_app.conf.task_always_eager = False  # nothing runs the polls: they stay queued
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = broker.llen("default")

    assert poll_due_channels() == 1
    assert poll_due_channels() == 0  # still leased

    assert broker.llen("default") - before == 1
    broker.delete("default")
