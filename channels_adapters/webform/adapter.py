"""The web contact form: a public form per account, answered by e-mail or kept in the inbox.

Inbound: the public form (``views.contact``) checks a submission (``guard.py``) and stores it as
a RawEvent, exactly as the webhook endpoint stores a delivery; an administration's server may
post the same JSON, signed, to ``/webhooks/webform/`` (``webhook.py``). ``parse`` turns it into
one private message that opens its own conversation.

Outbound: the citizen chose, on the form, how to be answered (the thread key keeps it):

- ``email``: the answer leaves through the e-mail channel account set on the form
  (``client.email_send``), with a subject naming the reference. Without such an account the
  option is offered as unavailable, with the reason.
- ``inbox``: nothing can be delivered. The composer's one option says so; the answer is
  recorded as an outbound message and settled as *not delivered* (failed, with the reason),
  for the colleague who takes the citizen's call or visit. It does not stop the SLA clock:
  nothing reached the citizen.

No automatic replies ever: the address on a form is not verified, and an automatic e-mail to
whatever address a bot typed would make the inbox a spam relay.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_adapters.base import (
    Adapter,
    AdapterError,
    DeliveryResult,
    ParseResult,
    ReplyOption,
    ReplyRefused,
    SimulatedAccount,
)
from channels_adapters.webform import client, payloads, simulate, webhook
from channels_adapters.webform.config import form_config
from inbox.models import ChannelAccount, Conversation, Message, RawEvent

EMAIL_MAX_LENGTH = 20_000
NOT_DELIVERED = "not-delivered"


def answer_subject(account: ChannelAccount, reference: str) -> str:
    return _("Your message to %(form)s (reference %(reference)s)") % {"form": account.name, "reference": reference}


class WebformAdapter(Adapter):
    platform = payloads.PLATFORM
    label = gettext_lazy("Contact form")
    webhook_slug = "webform"
    connect_url_name = "webform:connect"
    public_url_prefix = "contact"
    kept_headers = ("Content-Type", "User-Agent")  # never the signature

    # --- inbound -------------------------------------------------------------------------
    def verify(self, request: HttpRequest) -> None:
        webhook.verify(request)

    def webhook_account_ids(self, request: HttpRequest) -> list[str]:
        return [payloads.form_of(request.body)]

    def parse(self, raw: RawEvent) -> ParseResult:
        return payloads.parse(bytes(raw.body))

    # --- outbound ------------------------------------------------------------------------
    def reply_options(self, conversation: Conversation, *, now: datetime) -> list[ReplyOption]:
        if payloads.reply_by_of(conversation.thread_key) == "inbox":
            return [ReplyOption(
                "record", _("Record the answer in the inbox only: the citizen asked not to be answered by e-mail, "
                            "so it will not be delivered"),
                Message.Kind.NOTE, Message.Visibility.PRIVATE, max_length=EMAIL_MAX_LENGTH,
            )]
        option = ReplyOption("email", _("E-mail to the citizen"), Message.Kind.EMAIL, Message.Visibility.PRIVATE,
                             max_length=EMAIL_MAX_LENGTH)
        if not conversation.account.simulated and client.email_account(
                form_config(conversation.account).answer_account) is None:
            option = replace(option, available=False, reason=_(
                "No e-mail account answers this form yet: an admin chooses one on the form's settings page."))
        return [option]

    def validate_reply(self, conversation: Conversation, option: ReplyOption, text: str) -> None:
        super().validate_reply(conversation, option, text)
        if option.key == "email" and "@" not in conversation.contact.profile.get("email", ""):
            raise ReplyRefused(_("The citizen left no e-mail address to answer."))

    def send(self, account: ChannelAccount, conversation: Conversation, message: Message) -> DeliveryResult:
        reference = payloads.reference_of(conversation.thread_key)
        if payloads.reply_by_of(conversation.thread_key) != "email":
            raise AdapterError(_("Not delivered: the citizen chose not to be answered by e-mail (reference "
                                 "%(reference)s). The answer is kept here for whoever they contact.")
                               % {"reference": reference}, permanent=True, code=NOT_DELIVERED)
        mailbox = client.email_account(form_config(account).answer_account)
        if mailbox is None:
            raise AdapterError(_("No e-mail account answers this form: choose one on the form's settings page."),
                               permanent=True, code="no-email-account")
        to = str((conversation.contact.profile or {}).get("email") or "")
        if "@" not in to:
            raise AdapterError(_("The citizen left no e-mail address."), permanent=True)
        domain = str((mailbox.credentials or {}).get("from_address") or mailbox.external_id).rpartition("@")[2]
        sent = client.email_send(mailbox, to=to, subject=answer_subject(account, reference), text=message.text,
                                 message_id=f"<ci.{message.uuid}@{domain or 'localhost'}>")
        return DeliveryResult(external_id=sent.key, sent_at=sent.sent_at)

    def allows_automatic_reply(self, conversation: Conversation) -> bool:
        return False

    # --- the demo's simulated network ----------------------------------------------------
    def simulated_accounts(self) -> list[SimulatedAccount]:
        return simulate.ACCOUNTS

    def simulated_payload(self, account: ChannelAccount, event: dict) -> tuple[bytes, dict[str, str]]:
        return simulate.webform_payloads(event, account)
