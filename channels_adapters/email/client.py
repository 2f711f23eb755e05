"""The only module that talks to mail servers: IMAP with ``imapclient``, SMTP with ``smtplib``.

**Sending an answer by e-mail from another package** (the web contact form answers citizens
through an e-mail channel account). Reach it through the registry, never by importing this
package (``tests/test_registry.py`` forbids one platform package importing another)::

    from channels_adapters.registry import get_adapter

    sent = get_adapter("email").send_email(
        account,                      # a ChannelAccount with platform == "email"
        to="maria@example.org",       # the citizen's address
        subject="Your request 2025/123",  # "Re: " is added when in_reply_to is given
        text="Bon dia, ...",          # plain text; sent as text/plain; charset=utf-8
        in_reply_to="<abc@example.org>",  # optional: the Message-ID being answered
        references=["<root@example.org>", "<abc@example.org>"],  # optional: the thread so far
        message_id=None,              # optional: give one to make a retry resend the same mail
        automatic=False,              # True adds "Auto-Submitted: auto-replied" (RFC 3834)
    )
    sent.message_id   # "<ci.…@ajuntament.cat>": store it (Message.external_id = sent.key)
    sent.key          # the id as stored in Message.external_id / thread keys
    sent.sent_at

It raises ``channels_adapters.base.AdapterError`` with ``permanent`` / ``needs_reconnect`` /
``uncertain`` / ``recipient_unreachable`` set as for every channel. Inside this package the
same call is ``client.smtp_send(credentials, mail)`` with a ``build_mail(...)`` message.

Credentials (``ChannelAccount.credentials``, encrypted at rest by the model field)::

    {"imap_host": "imap.example.org", "imap_port": 993, "imap_security": "ssl",   # or "starttls"
     "smtp_host": "smtp.example.org", "smtp_port": 587, "smtp_security": "starttls",  # or "ssl"
     "username": "atencio@example.org", "password": "...",
     "smtp_username": "", "smtp_password": "",   # when SMTP logs in differently (else the above)
     "from_address": "atencio@example.org", "from_name": "Atenció ciutadana",
     "folder": "INBOX", "webhook_secret": "..."}  # webhook_secret: only for MTA delivery by POST

Both protocols always use TLS: implicit (``ssl``) or upgraded (``starttls``); the certificate
is verified against the system's authorities, or ``settings.EMAIL_TLS_CAFILE`` when set (a
private CA, and the tests' own). Every call has a timeout.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

import imapclient
from django.conf import settings
from django.utils import timezone
from imapclient.exceptions import IMAPClientError, LoginError

from channels_adapters.base import AdapterError

SECURITY = ("ssl", "starttls")
DEFAULT_TIMEOUT = 30.0


def timeout() -> float:
    return float(getattr(settings, "EMAIL_CHANNEL_TIMEOUT", DEFAULT_TIMEOUT))


def tls_context() -> ssl.SSLContext:
    cafile = getattr(settings, "EMAIL_TLS_CAFILE", "") or None
    return ssl.create_default_context(cafile=cafile)


def message_key(message_id: str) -> str:
    """A Message-ID as stored (``Message.external_id``, thread keys): without the angle
    brackets and spaces; one longer than the column is kept as its hash."""
    import hashlib

    value = "".join(message_id.split()).strip("<>")
    if len(value) > 180:
        value = "h:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    return value


@dataclass(frozen=True)
class SentMail:
    message_id: str  # "<...@domain>" as in the header
    key: str  # message_key(message_id)
    sent_at: datetime


def _security(credentials: dict, prefix: str) -> str:
    security = str(credentials.get(f"{prefix}_security") or "ssl")
    if security not in SECURITY:
        raise AdapterError(f"{prefix.upper()} security must be one of {', '.join(SECURITY)}", permanent=True,
                           needs_reconnect=True, code="config")
    return security


def _required(credentials: dict, *names: str) -> None:
    missing = [n for n in names if not credentials.get(n)]
    if missing:
        raise AdapterError(f"The e-mail account lacks {', '.join(missing)}; an admin must connect it.",
                           permanent=True, needs_reconnect=True, code="no-credentials")


# --- IMAP ------------------------------------------------------------------------------------


class Mailbox:
    """One IMAP session on the account's folder, read-only (no flag is ever changed)."""

    def __init__(self, credentials: dict):
        _required(credentials, "imap_host", "username", "password")
        self.credentials = credentials
        self.folder = str(credentials.get("folder") or "INBOX")
        self.client: imapclient.IMAPClient | None = None
        self.uidvalidity: int | None = None
        self.capabilities: set[bytes] = set()

    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        c = self.credentials
        security = _security(c, "imap")
        port = int(c.get("imap_port") or (993 if security == "ssl" else 143))
        try:
            client = imapclient.IMAPClient(str(c["imap_host"]), port=port, ssl=security == "ssl",
                                           ssl_context=tls_context(), timeout=timeout())
            if security == "starttls":
                client.starttls(tls_context())
            client.login(str(c["username"]), str(c["password"]))
            selected = client.select_folder(self.folder, readonly=True)
            self.capabilities = set(client.capabilities())
        except LoginError as exc:
            raise AdapterError(f"The mail server refused the login: {_text(exc)}", permanent=True,
                               needs_reconnect=True, code="auth") from None
        except ssl.SSLError as exc:
            raise AdapterError(f"TLS with the IMAP server failed: {_text(exc)}", code="tls") from None
        except (OSError, IMAPClientError) as exc:
            raise AdapterError(f"IMAP: {_text(exc)}", code="imap") from None
        self.client = client
        self.uidvalidity = int(selected[b"UIDVALIDITY"])

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError, IMAPClientError):
                self.client.logout()
            self.client = None

    @property
    def can_idle(self) -> bool:
        return b"IDLE" in self.capabilities

    def uids_after(self, last_uid: int, *, since: date | None = None) -> list[int]:
        """UIDs above ``last_uid``, ascending (``UID n:*`` also answers the highest UID
        when nothing is newer: filtered)."""
        criteria: list = ["UID", f"{last_uid + 1}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        try:
            return sorted(u for u in self.client.search(criteria) if u > last_uid)
        except (OSError, IMAPClientError) as exc:
            raise AdapterError(f"IMAP search: {_text(exc)}", code="imap") from None

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The messages' bytes exactly as the server keeps them (``BODY.PEEK[]``: no \\Seen)."""
        if not uids:
            return {}
        try:
            data = self.client.fetch(list(uids), ["BODY.PEEK[]"])
        except (OSError, IMAPClientError) as exc:
            raise AdapterError(f"IMAP fetch: {_text(exc)}", code="imap") from None
        return {uid: bytes(item.get(b"BODY[]") or b"") for uid, item in data.items()}

    def wait(self, seconds: float) -> bool:
        """IMAP IDLE up to ``seconds``: True when the server announced a new message."""
        try:
            self.client.idle()
            responses = self.client.idle_check(timeout=seconds)
            self.client.idle_done()
        except (OSError, IMAPClientError) as exc:
            raise AdapterError(f"IMAP IDLE: {_text(exc)}", code="imap") from None
        return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)

    def append(self, folder: str, raw: bytes) -> None:
        try:
            self.client.append(folder, raw, flags=[imapclient.SEEN])
        except (OSError, IMAPClientError) as exc:
            raise AdapterError(f"IMAP append: {_text(exc)}", code="imap") from None

    def search_header(self, folder: str, name: str, value: str) -> list[int]:
        try:
            self.client.select_folder(folder, readonly=True)
            return list(self.client.search(["HEADER", name, value]))
        except (OSError, IMAPClientError) as exc:
            raise AdapterError(f"IMAP search in {folder}: {_text(exc)}", code="imap") from None


def _text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


# --- SMTP ------------------------------------------------------------------------------------


def build_mail(*, from_address: str, from_name: str, to: str, subject: str, text: str,
               in_reply_to: str = "", references: Sequence[str] = (), message_id: str | None = None,
               automatic: bool = False) -> EmailMessage:
    """A plain-text answer with the headers that thread it in the citizen's mail client:
    our own Message-ID, In-Reply-To the message answered, References the thread so far."""
    domain = from_address.rpartition("@")[2] or "localhost"
    mail = EmailMessage()
    mail["From"] = formataddr((from_name, from_address)) if from_name else from_address
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(timezone.now())
    mail["Message-ID"] = message_id or make_msgid(idstring="ci", domain=domain)
    if in_reply_to:
        mail["In-Reply-To"] = _bracketed(in_reply_to)
    refs = [_bracketed(r) for r in references if r]
    if in_reply_to and _bracketed(in_reply_to) not in refs:
        refs.append(_bracketed(in_reply_to))
    if refs:
        # RFC 5322 3.6.4; long chains are trimmed to the root and the latest, as clients do.
        mail["References"] = " ".join(refs[:1] + refs[1:][-19:])
    if automatic:
        mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: auto-responders must not answer it
        mail["X-Auto-Response-Suppress"] = "All"  # the same for Exchange
    mail.set_content(text)
    return mail


def _bracketed(message_id: str) -> str:
    value = "".join(message_id.split()).strip("<>")
    return f"<{value}>"


def smtp_send(credentials: dict, mail: EmailMessage) -> SentMail:
    """Hand ``mail`` to the account's SMTP server. A failure after the server may have
    accepted the message (the connection dropped during or after DATA) is ``uncertain``."""
    _required(credentials, "smtp_host")
    security = _security(credentials, "smtp")
    port = int(credentials.get("smtp_port") or (465 if security == "ssl" else 587))
    host = str(credentials["smtp_host"])
    user = str(credentials.get("smtp_username") or credentials.get("username") or "")
    password = str(credentials.get("smtp_password") or credentials.get("password") or "")
    data_sent = False
    try:
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout(), context=tls_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout())
        with smtp:
            if security == "starttls":
                smtp.starttls(context=tls_context())
            if user:
                smtp.login(user, password)
            data_sent = True
            refused = smtp.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise AdapterError(f"The SMTP server refused the login ({exc.smtp_code})", permanent=True,
                           needs_reconnect=True, code="auth") from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()), (550, b""))
        permanent = 500 <= code < 600
        raise AdapterError(f"The mail server refused the address: {code} {_decode(reason)}",
                           permanent=permanent, recipient_unreachable=permanent, code=str(code)) from None
    except smtplib.SMTPSenderRefused as exc:
        raise AdapterError(f"The mail server refused our sender address: {exc.smtp_code} {_decode(exc.smtp_error)}",
                           permanent=500 <= exc.smtp_code < 600, code=str(exc.smtp_code)) from None
    except smtplib.SMTPDataError as exc:
        raise AdapterError(f"The mail server refused the message: {exc.smtp_code} {_decode(exc.smtp_error)}",
                           permanent=500 <= exc.smtp_code < 600, code=str(exc.smtp_code)) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise AdapterError(f"SMTP: {_text(exc)}", permanent=True, needs_reconnect=True, code="config") from None
    except ssl.SSLError as exc:
        raise AdapterError(f"TLS with the SMTP server failed: {_text(exc)}", code="tls") from None
    except (smtplib.SMTPServerDisconnected, TimeoutError) as exc:
        raise AdapterError(f"SMTP: {_text(exc)}", code="network", uncertain=data_sent) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise AdapterError(f"SMTP: {_text(exc)}", code="network", uncertain=data_sent
                           and not isinstance(exc, ConnectionRefusedError)) from None
    if refused:
        code, reason = next(iter(refused.values()))
        raise AdapterError(f"The mail server refused the address: {code} {_decode(reason)}", permanent=True,
                           recipient_unreachable=True, code=str(code))
    return SentMail(message_id=str(mail["Message-ID"]), key=message_key(str(mail["Message-ID"])),
                    sent_at=timezone.now())


def smtp_check(credentials: dict) -> None:
    """Connect, start TLS and log in, without sending anything (the connect page's test)."""
    _required(credentials, "smtp_host")
    security = _security(credentials, "smtp")
    port = int(credentials.get("smtp_port") or (465 if security == "ssl" else 587))
    user = str(credentials.get("smtp_username") or credentials.get("username") or "")
    password = str(credentials.get("smtp_password") or credentials.get("password") or "")
    try:
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(str(credentials["smtp_host"]), port, timeout=timeout(), context=tls_context())
        else:
            smtp = smtplib.SMTP(str(credentials["smtp_host"]), port, timeout=timeout())
        with smtp:
            if security == "starttls":
                smtp.starttls(context=tls_context())
            if user:
                smtp.login(user, password)
            smtp.noop()
    except smtplib.SMTPAuthenticationError as exc:
        raise AdapterError(f"The SMTP server refused the login ({exc.smtp_code})", permanent=True,
                           needs_reconnect=True, code="auth") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise AdapterError(f"SMTP: {_text(exc)}", permanent=True, code="smtp") from None


def _decode(value) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))[:300]
