"""The e-mail channel against real servers on loopback: Dovecot (IMAP) and aiosmtpd (SMTP).

Mail is put into the account's Dovecot mailbox by IMAP APPEND and read by the real poll and
pipeline (``poll_result_store``); answers go out through the real SMTP client and are read
back as aiosmtpd received them. Fixtures are shaped after the mail clients they are named
for (headers and MIME structure as Gmail, Outlook, Thunderbird and Apple Mail write them;
the DSN as Postfix writes it), with public test corpora (mail-parser's and flanker's
fixtures) as references for the shapes.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.utils import timezone

from channels_adapters.base import AdapterError
from channels_adapters.email.adapter import MAILBOX, EmailAdapter, our_message_id
from channels_adapters.email.tests.conftest import credentials_for, deliver, fixture_bytes, new_user
from channels_adapters.pipeline import poll_result_store
from channels_adapters.registry import get_adapter
from inbox.models import ChannelAccount, Conversation, Message, QuarantinedItem
from inbox.services import message_reply_create

pytestmark = pytest.mark.django_db


def poll(account: ChannelAccount) -> int:
    account.refresh_from_db()
    return poll_result_store(account, get_adapter("email").poll(account))


def poll_all(account: ChannelAccount) -> int:
    pages = 0
    while True:
        read = poll(account)
        pages += read
        if not read:
            return pages


def mail(subject: str, text: str, *, sender: str = "maria@correu.example", **headers) -> bytes:
    message = EmailMessage()
    message["From"] = f"Maria Serra <{sender}>"
    message["To"] = "atencio@ajuntament.test"
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = headers.pop("message_id", None) or make_msgid(domain="correu.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes()


def answer(conversation: Conversation, user, text: str) -> Message:
    reply = message_reply_create(conversation=conversation, user=user, text=text,
                                 visibility=Message.Visibility.PRIVATE, kind=Message.Kind.EMAIL)
    result = get_adapter("email").send(conversation.account, conversation, reply)
    Message.objects.filter(pk=reply.pk).update(external_id=result.external_id, delivery_status="sent")
    reply.refresh_from_db()
    return reply


# --- reading the mailbox ---------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_mail_in_the_mailbox_is_read_over_starttls_and_implicit_tls(db, dovecot, smtp_servers, team_a, security):
    address = new_user(dovecot)
    account = ChannelAccount.objects.create(platform="email", external_id=address, name="Atenció",
                                            default_team=team_a,
                                            credentials=credentials_for(address, dovecot, smtp_servers,
                                                                        security=security))
    deliver(account, dovecot, fixture_bytes("gmail__html_alternative.eml"),
            fixture_bytes("thunderbird__iso_8859_1_flowed.eml"))

    assert poll(account) == 2

    texts = {m.author_contact.external_id: m for m in Message.objects.select_related("author_contact")}
    gmail = texts["nuria.puig@gmail.example"]
    assert gmail.kind == "email" and gmail.external_id == "CAH8yC8kq0X9ZmC2n8vJt+1w4pXk6fQ@mail.gmail.example"
    assert gmail.text.startswith("Certificat d'empadronament — urgent\n\nBon dia,")
    assert gmail.author_contact.name == "Núria Puig"
    assert "Ça sent très mauvais" in texts["francoise@correu.example"].text
    assert "06 12 34 56 78" not in texts["francoise@correu.example"].text  # the signature is folded away
    account.refresh_from_db()
    assert account.cursors[MAILBOX]["last_uid"] == 2 and account.cursors[MAILBOX]["uidvalidity"]


def test_the_cursor_survives_a_restart_nothing_is_read_twice_or_missed(mailbox, dovecot):
    deliver(mailbox, dovecot, mail("Primer", "u"), mail("Segon", "dos"))
    assert poll(mailbox) == 2
    # A crash after reading but before the commit: the cursor did not move, the same UIDs
    # are read again and stored once.
    deliver(mailbox, dovecot, mail("Tercer", "tres"))
    mailbox.refresh_from_db()
    EmailAdapter().poll(mailbox)  # read, never stored
    assert Message.objects.count() == 2
    restarted = ChannelAccount.objects.get(pk=mailbox.pk)  # a new worker process
    assert poll(restarted) == 1
    assert poll(restarted) == 0
    assert sorted(Message.objects.values_list("text", flat=True)) == ["Primer\n\nu", "Segon\n\ndos", "Tercer\n\ntres"]
    # The same mail read again (a new UIDVALIDITY makes the folder new) is stored once.
    cursor = dict(restarted.cursors[MAILBOX], uidvalidity=1)
    ChannelAccount.objects.filter(pk=mailbox.pk).update(cursors={MAILBOX: cursor})
    assert poll(restarted) == 3
    assert Message.objects.count() == 3


def test_a_mail_bomb_of_a_thousand_messages_is_read_in_batches_and_nothing_is_lost(mailbox, dovecot, settings):
    settings.EMAIL_POLL_BATCH = 100
    bomb = [mail(f"Queixa {i}", f"Missatge número {i}", sender=f"c{i % 37}@correu.example") for i in range(1000)]
    started = time.monotonic()
    deliver(mailbox, dovecot, *bomb)
    delivered = time.monotonic()
    polls = 0
    while poll(mailbox):
        polls += 1
    read = time.monotonic()
    assert Message.objects.count() == 1000
    assert polls == 10
    mailbox.refresh_from_db()
    assert mailbox.cursors[MAILBOX]["last_uid"] == 1000
    print(f"\nmail bomb: 1000 messages appended in {delivered - started:.1f}s, "
          f"read and stored in {polls} polls in {read - delivered:.1f}s")


def test_an_attachment_over_the_limit_is_noted_and_the_rest_of_the_message_is_kept(mailbox, dovecot, settings):
    settings.EMAIL_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
    big = EmailMessage()
    big["From"] = "Jordi <jordi@correu.example>"
    big["To"] = mailbox.external_id
    big["Subject"] = "Plànol de l'obra"
    big["Message-ID"] = "<big-1@correu.example>"
    big.set_content("Us envio el plànol i la foto.")
    big.add_attachment(b"\x89PNG small photo", maintype="image", subtype="png", filename="foto.png")
    big.add_attachment(b"%PDF" + b"x" * (30 * 1024 * 1024), maintype="application", subtype="pdf",
                       filename="planol.pdf")
    deliver(mailbox, dovecot, big.as_bytes())

    assert poll(mailbox) == 1

    stored = Message.objects.get()
    assert stored.text == "Plànol de l'obra\n\nUs envio el plànol i la foto."
    names = [a["name"] for a in stored.attachments]
    assert any(n.startswith("foto.png") for n in names)
    assert any(n.startswith("planol.pdf — not kept: 31457284 bytes, over the 25.0 MB limit") for n in names), names
    assert len(bytes(stored.raw_event.body)) < 1024 * 1024  # the 30 MB are not stored


def test_an_attachment_within_the_limit_is_kept_and_served_to_the_team(mailbox, dovecot, settings, alice, bob):
    settings.EMAIL_MAX_ATTACHMENT_BYTES = 40 * 1024 * 1024
    deliver(mailbox, dovecot, fixture_bytes("applemail__attachment.eml"))
    poll(mailbox)
    stored = Message.objects.get()
    photo = next(a for a in stored.attachments if a["name"].startswith("IMG_0412.png"))
    assert photo["type"] == "image"
    from tests.conftest import login

    response = login(alice).get(photo["url"])
    assert response.status_code == 200 and bytes(response.content).startswith(b"\x89PNG")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert login(bob).get(photo["url"]).status_code == 404  # another team's conversation


# --- threading -------------------------------------------------------------------------------


def test_an_answer_threads_in_the_citizens_client_and_her_reply_joins_the_conversation(mailbox, dovecot, smtp,
                                                                                      alice):
    deliver(mailbox, dovecot, fixture_bytes("gmail__html_alternative.eml"))
    poll(mailbox)
    conversation = Conversation.objects.get()

    reply = answer(conversation, alice, "Bon dia Núria,\nel pot demanar a la seu electrònica.")

    sender, recipients, _raw = smtp.messages[-1]
    received = smtp.parsed()
    assert recipients == ["nuria.puig@gmail.example"] and sender == mailbox.external_id
    original = "<CAH8yC8kq0X9ZmC2n8vJt+1w4pXk6fQ@mail.gmail.example>"
    assert received["In-Reply-To"] == original
    assert received["References"] == original
    assert received["Subject"] == "Re: Certificat d'empadronament — urgent"
    assert received["Message-ID"] == our_message_id(mailbox, reply)
    assert reply.external_id == received["Message-ID"].strip("<>")
    assert "Auto-Submitted" not in received
    assert received.get_content().replace("\r\n", "\n").strip() == "Bon dia Núria,\nel pot demanar a la seu electrònica."

    citizen = fixture_bytes("gmail__reply_quoting_our_answer.eml").replace(b"{OUR_ID}", received["Message-ID"].encode())
    deliver(mailbox, dovecot, citizen)
    poll(mailbox)
    assert Conversation.objects.count() == 1
    follow_up = conversation.messages.filter(direction="in").order_by("-sent_at").first()
    assert follow_up.text == "Perfecte, ja l'he demanat. Moltes gràcies!"  # the quote is folded away
    assert follow_up.in_reply_to == reply.external_id


def test_without_references_a_reply_joins_by_subject_and_sender(mailbox, dovecot):
    deliver(mailbox, dovecot, mail("Soroll al carrer Provença", "Cada nit hi ha obres."))
    poll(mailbox)
    deliver(mailbox, dovecot, mail("RE: Fwd: AW: soroll  al carrer provença", "Encara continua."),
            mail("Soroll al carrer Provença", "Una altra persona.", sender="other@correu.example"),
            mail("Una altra cosa", "Tema nou."))
    poll(mailbox)
    assert Conversation.objects.count() == 3
    first = Conversation.objects.get(contact__external_id="maria@correu.example", subject__startswith="Soroll")
    assert list(first.messages.order_by("sent_at", "id").values_list("text", flat=True)) == [
        "Soroll al carrer Provença\n\nCada nit hi ha obres.", "Encara continua."]


def test_a_reply_read_in_the_same_batch_as_its_original_joins_it(mailbox, dovecot):
    deliver(mailbox, dovecot, mail("Bus V15", "Retard.", message_id="<root@correu.example>"),
            mail("Re: Bus V15", "Ara ja ha passat.", In_Reply_To="<root@correu.example>",
                 References="<root@correu.example>"))
    poll(mailbox)
    assert Conversation.objects.count() == 1 and Message.objects.count() == 2


# --- no mail loops ---------------------------------------------------------------------------


def test_an_out_of_office_or_a_bounce_never_opens_a_conversation(mailbox, dovecot):
    deliver(mailbox, dovecot, fixture_bytes("out_of_office__new.eml"),
            fixture_bytes("dsn__bounce_of_our_answer.eml").replace(b"{OUR_ID}", b"<ci.unknown@ajuntament.test>"),
            mail("Newsletter", "Bulk", Precedence="bulk"), mail("Llista", "x", List_Id="<veins.correu.example>"))
    assert poll(mailbox) == 4
    assert Conversation.objects.count() == 0 and Message.objects.count() == 0


def test_automatic_mail_in_reply_to_our_answer_is_kept_and_never_answered(mailbox, dovecot, smtp, alice):
    deliver(mailbox, dovecot, fixture_bytes("gmail__html_alternative.eml"))
    poll(mailbox)
    conversation = Conversation.objects.get()
    ours = answer(conversation, alice, "Bon dia").external_id
    adapter = get_adapter("email")
    assert adapter.allows_automatic_reply(conversation)

    deliver(mailbox, dovecot,
            fixture_bytes("out_of_office__reply_to_our_answer.eml").replace(b"{OUR_ID}", f"<{ours}>".encode()),
            fixture_bytes("dsn__bounce_of_our_answer.eml").replace(b"{OUR_ID}", f"<{ours}>".encode()))
    poll(mailbox)

    assert Conversation.objects.count() == 1
    kept = conversation.messages.filter(direction="in").order_by("sent_at", "id")
    assert kept.count() == 3
    notices = [a for m in kept for a in m.attachments if a["type"] == "auto-submitted"]
    assert len(notices) == 2
    assert not adapter.allows_automatic_reply(Conversation.objects.get())
    # The next answer goes to the citizen, after her own message, not to the mailer daemon.
    answer(Conversation.objects.get(), alice, "Li tornem a escriure.")
    assert smtp.messages[-1][1] == ["nuria.puig@gmail.example"]
    assert smtp.parsed()["In-Reply-To"] == "<CAH8yC8kq0X9ZmC2n8vJt+1w4pXk6fQ@mail.gmail.example>"


def test_automatic_replies_we_send_are_marked_auto_submitted(mailbox, smtp):
    sent = get_adapter("email").send_email(mailbox, to="maria@correu.example", subject="Consulta", text="Rebut.",
                                           in_reply_to="<abc@correu.example>", automatic=True)
    received = smtp.parsed()
    assert received["Auto-Submitted"] == "auto-replied"
    assert received["Subject"] == "Re: Consulta" and received["In-Reply-To"] == "<abc@correu.example>"
    assert received["Message-ID"] == sent.message_id


# --- bad input and failures ------------------------------------------------------------------


def test_malformed_mime_is_stored_as_well_as_it_can_and_unreadable_bytes_are_quarantined(mailbox, dovecot):
    deliver(mailbox, dovecot, fixture_bytes("mime__malformed.eml"), fixture_bytes("mime__nothing_readable.eml"),
            fixture_bytes("outlook__windows_1252_html.eml"))
    assert poll(mailbox) == 3
    texts = list(Message.objects.order_by("id").values_list("text", flat=True))
    assert len(texts) == 2
    assert "Bon dia, el formulari no funciona." in texts[0]
    assert "¿cómo lo reclamo?" in texts[1] and "– " in texts[1]  # windows-1252 read as such
    assert QuarantinedItem.objects.count() == 1
    mailbox.refresh_from_db()
    assert mailbox.cursors[MAILBOX]["last_uid"] == 3  # the unreadable one does not hold the cursor back


def test_a_wrong_password_asks_for_a_reconnect(mailbox):
    mailbox.credentials = {**mailbox.credentials, "password": "wrong"}
    with pytest.raises(AdapterError) as caught:
        EmailAdapter().poll(mailbox)
    assert caught.value.needs_reconnect and caught.value.permanent


def test_an_address_the_server_refuses_marks_the_conversation_unreachable_not_the_account(mailbox, smtp):
    with pytest.raises(AdapterError) as caught:
        get_adapter("email").send_email(mailbox, to="nobody@correu.example", subject="x", text="y")
    assert caught.value.permanent and caught.value.recipient_unreachable and caught.value.code == "550"
    assert smtp.messages == []


def test_answers_leave_over_implicit_tls_too_and_a_wrong_smtp_login_asks_for_a_reconnect(db, dovecot, smtp_servers,
                                                                                       smtp):
    address = new_user(dovecot)
    account = ChannelAccount.objects.create(platform="email", external_id=address, name="Atenció",
                                            credentials=credentials_for(address, dovecot, smtp_servers,
                                                                        security="ssl"))
    get_adapter("email").send_email(account, to="maria@correu.example", subject="Hola", text="Bon dia")
    assert smtp.messages[-1][1] == ["maria@correu.example"] and smtp.parsed()["Subject"] == "Hola"

    account.credentials = {**account.credentials, "smtp_password": "wrong", "smtp_security": "starttls",
                           "smtp_port": smtp_servers["ports"]["starttls"]}
    with pytest.raises(AdapterError) as caught:
        get_adapter("email").send_email(account, to="maria@correu.example", subject="Hola", text="Bon dia")
    assert caught.value.needs_reconnect and caught.value.permanent and len(smtp.messages) == 1
