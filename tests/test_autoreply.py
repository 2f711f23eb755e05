"""Automatic replies: first contact and out of hours, once per period, in the citizen's
language, through the same channel, cancelled when a person answers first, never the first
response, never to spam, never on X to someone who did not address the account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import formats, timezone, translation

from channels_adapters.outbound import message_deliver, reply_submit
from inbox.models import (
    AutoReplySetting,
    ChannelAccount,
    Contact,
    Conversation,
    Message,
    SavedReply,
)
from routing.autoreply import autoreplies_after_ingest, autoreply_queue
from routing.calendars import calendar_for
from routing.models import ServiceCalendar, SlaClock
from tests.conftest import committed, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def ack(db):
    ack = SavedReply.objects.create(title="Ack", body="Thanks, we will answer soon.", language="en",
                                    kind=SavedReply.Kind.ACKNOWLEDGEMENT)
    ack.versions.create(language="ca", body="Gràcies, us responem aviat.")
    return ack


@pytest.fixture
def closed_hours(db):
    """A calendar open one hour a day, six hours from now: closed now, opening today or tomorrow."""
    cal_tz = "Europe/Madrid"
    hour = (timezone.localtime(timezone.now(), calendar_for(None).tz).hour + 6) % 24
    periods = [{"weekday": d, "opens": f"{hour:02d}:00", "closes": f"{hour + 1:02d}:00" if hour < 23 else "24:00"}
               for d in range(7)]
    return ServiceCalendar.objects.create(name="Short hours", timezone=cal_tz, periods=periods)


@pytest.fixture
def conversation(sim_account, alice):
    post_sim(Client(), sim_body([sim_event(1)]))
    return Conversation.objects.get()


def automatic(conversation):
    return list(conversation.messages.exclude(automatic="").order_by("id"))


def test_a_rule_s_automatic_reply_is_sent_through_the_channel_without_author(conversation, ack):
    message = committed(autoreply_queue, conversation, ack, reason="rule")
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.SENT
    assert message.external_id == f"sim-out-{message.uuid}"  # through the same channel
    assert message.author_user is None and message.automatic == "rule" and message.saved_reply == ack
    assert message.in_reply_to == "m1" and message.visibility == Message.Visibility.PUBLIC


def test_at_most_once_per_conversation_and_period(conversation, ack):
    assert committed(autoreply_queue, conversation, ack, reason="rule") is not None
    assert committed(autoreply_queue, conversation, ack, reason="rule") is None
    Message.objects.filter(automatic="rule").update(sent_at=timezone.now() - timedelta(hours=25))
    assert committed(autoreply_queue, conversation, ack, reason="rule") is not None
    assert len(automatic(conversation)) == 2


def test_the_citizen_s_language_is_used_when_known(conversation, ack):
    Conversation.objects.filter(pk=conversation.pk).update(language="ca")
    message = committed(autoreply_queue, conversation, ack, reason="rule")
    assert message.text == "Gràcies, us responem aviat."
    other = Conversation.objects.create(account=conversation.account, kind="private", thread_key="x",
                                        contact=conversation.contact, team=conversation.team, language="fr")
    assert committed(autoreply_queue, other, ack, reason="rule").text == "Thanks, we will answer soon."


def test_first_contact_acknowledgement_once_per_conversation(sim_account, alice, ack):
    AutoReplySetting.objects.create(account=sim_account, acknowledgement=ack)
    post_sim(Client(), sim_body([sim_event(1)]))
    post_sim(Client(), sim_body([sim_event(2, thread="t1")]))  # the citizen writes again
    conversation = Conversation.objects.get()
    (message,) = automatic(conversation)
    assert message.automatic == Message.Automatic.FIRST_CONTACT
    assert message.delivery_status == Message.Delivery.SENT


def test_no_setting_no_automatic_reply(conversation):
    assert automatic(conversation) == []


def test_out_of_hours_message_says_when_the_service_opens_again(sim_account, alice, closed_hours):
    sim_account.calendar = closed_hours
    sim_account.save()
    closed = SavedReply.objects.create(title="Closed", language="es",
                                       body="Ahora estamos cerrados. Volvemos a abrir el {next_opening}.")
    ack = SavedReply.objects.create(title="Hi", body="Hello")
    AutoReplySetting.objects.create(account=sim_account, acknowledgement=ack, out_of_hours=closed)
    post_sim(Client(), sim_body([sim_event(1)]))  # Spanish text: language es
    conversation = Conversation.objects.get()
    (message,) = automatic(conversation)  # out of hours replaces the acknowledgement
    assert message.automatic == Message.Automatic.OUT_OF_HOURS
    cal = calendar_for(closed_hours)
    opening = cal.next_opening(timezone.now())
    with translation.override("es"):
        expected = formats.date_format(timezone.localtime(opening, cal.tz), "DATETIME_FORMAT")
    assert message.text == f"Ahora estamos cerrados. Volvemos a abrir el {expected}."
    assert "{next_opening}" not in message.text


def test_delayed_reply_is_cancelled_when_an_officer_answers_first(conversation, alice, ack):
    message = committed(autoreply_queue, conversation, ack, reason=Message.Automatic.FIRST_CONTACT, delay_minutes=10)
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.QUEUED  # the countdown task found it not yet due
    assert message.next_attempt_at > timezone.now() + timedelta(minutes=9)
    committed(reply_submit, conversation=conversation, user=alice, text="Ho mirem ara.", option_key="public")
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())  # its time comes
    assert message_deliver(message.id) == "not-claimed"
    message.refresh_from_db()
    assert message.delivery_status == Message.Delivery.CANCELLED
    assert message.delivery_attempts.count() == 0


def test_delayed_reply_is_sent_when_nobody_answered(conversation, ack):
    message = committed(autoreply_queue, conversation, ack, reason=Message.Automatic.FIRST_CONTACT, delay_minutes=10)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message.id) == "sent"


def test_delayed_reply_is_cancelled_when_the_conversation_is_resolved(conversation, ack):
    message = committed(autoreply_queue, conversation, ack, reason="rule", delay_minutes=10)
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.RESOLVED)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message.id) == "not-claimed"


def test_an_automatic_reply_never_counts_as_the_first_response(conversation, alice, ack):
    committed(autoreply_queue, conversation, ack, reason=Message.Automatic.FIRST_CONTACT)
    conversation.refresh_from_db()
    assert conversation.first_response_at is None
    assert not SlaClock.objects.filter(conversation=conversation, state=SlaClock.State.MET).exists()
    reply = committed(reply_submit, conversation=conversation, user=alice, text="Ho mirem ara.", option_key="public")
    conversation.refresh_from_db()
    reply.refresh_from_db()
    assert conversation.first_response_at == reply.delivered_at


def test_never_to_spam(conversation, ack):
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.SPAM)
    assert committed(autoreply_queue, conversation, ack, reason="rule") is None


def test_never_through_an_account_that_needs_reconnecting(conversation, ack):
    ChannelAccount.objects.update(status=ChannelAccount.Status.NEEDS_RECONNECT)
    assert committed(autoreply_queue, conversation, ack, reason="rule") is None


# --- X: only to citizens who addressed the account --------------------------------------------


@pytest.fixture
def x_account(db, team_a):
    return ChannelAccount.objects.create(platform="x", external_id="42", name="Ajuntament", handle="bcn",
                                         default_team=team_a, credentials={"access_token": "t"})


def x_conversation(account, *, kind, text, in_reply_to="", thread="1"):
    contact = Contact.objects.create(platform="x", external_id=f"u{thread}", handle=f"user{thread}")
    conversation = Conversation.objects.create(
        account=account, kind="private" if kind == "dm" else "public", thread_key=thread, contact=contact,
        team=account.default_team)
    Message.objects.create(conversation=conversation, account=account, direction="in", kind=kind,
                           visibility="private" if kind == "dm" else "public", external_id=f"in{thread}",
                           author_contact=contact, text=text, in_reply_to=in_reply_to, sent_at=timezone.now())
    return conversation


@pytest.mark.parametrize(("kind", "text", "in_reply_to", "allowed"), [
    ("mention", "@bcn el contenidor és ple", "", True),  # a post that mentions the account
    ("dm", "Hola, tinc un dubte", "", True),  # a direct message
    ("mention", "@veina @bcn quina vergonya", "999", False),  # only among the reply's leading @handles
    ("mention", "@veina quina vergonya, @bcn ho veieu?", "999", True),  # named in the text
    ("reply", "quina vergonya", "999", False),
])
def test_on_x_only_a_citizen_who_addressed_the_account(x_account, ack, kind, text, in_reply_to, allowed):
    conversation = x_conversation(x_account, kind=kind, text=text, in_reply_to=in_reply_to)
    message = autoreply_queue(conversation, ack, reason="rule")  # not committed: nothing is sent
    assert (message is not None) is allowed


def test_on_x_a_reply_to_the_account_s_own_post_addressed_it(x_account, ack):
    conversation = x_conversation(x_account, kind="mention", text="@bcn i el meu carrer?", in_reply_to="777")
    Message.objects.create(conversation=conversation, account=x_account, direction="out", kind="reply",
                           visibility="public", external_id="777", text="Avui recollim...", sent_at=timezone.now())
    assert autoreply_queue(conversation, ack, reason="rule") is not None


def test_one_automatic_answer_at_a_time(conversation, ack):
    """A routing rule's automatic reply (sent just before) stands for the account's."""
    AutoReplySetting.objects.create(account=conversation.account, acknowledgement=ack)
    committed(autoreply_queue, conversation, ack, reason="rule")
    inbound = list(conversation.messages.filter(direction="in").values_list("id", flat=True))
    assert autoreplies_after_ingest([conversation.id], inbound) == []
    Message.objects.exclude(automatic="").update(sent_at=timezone.now() - timedelta(hours=25))
    assert len(autoreplies_after_ingest([conversation.id], inbound)) == 1
