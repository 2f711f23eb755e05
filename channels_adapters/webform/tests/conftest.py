"""The standard cast, a contact form, its e-mail account on a local SMTP server (aiosmtpd over
STARTTLS, its own certificate), and helpers that fill the form as a browser would."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core.cache import cache
from django.test import Client

from channels_adapters.webform import guard
from inbox.models import ChannelAccount
from tests.conftest import alice, bob, carol, committed, dave, eager_tasks, login, team_a, team_b  # noqa: F401

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SLUG = "ajuntament-contacte"
ORIGIN = "https://www.ajuntament.example"
MAILBOX = "atencio@ajuntament.test"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(autouse=True)
def clean_counters(settings):
    """Rate-limit windows, spent tokens and the attack switch live in the cache (Redis db of
    the run): each test starts from none."""
    settings.RATELIMIT_ENABLE = True
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def form_account(db, team_a):  # noqa: F811
    return ChannelAccount.objects.create(
        platform="webform", external_id=SLUG, name="Formulari de contacte", handle=SLUG, default_team=team_a,
        credentials={"consent_text": "Accepto que l'Ajuntament conservi el meu missatge.", "allowed_origins": [ORIGIN],
                     "answer_account": MAILBOX, "webhook_secret": "form-secret-for-tests"},
    )


def token_aged(seconds: float = 10, *, challenge: bool = False) -> str:
    """A form token as if the page had been open ``seconds`` (the minimum fill time passed)."""
    return guard.token_issue(SLUG, challenge=challenge, issued=time.time() - seconds)


def filled(**overrides) -> dict:
    data = {"name": "Marta Puig", "email": "marta@example.org", "phone": "", "message": "Fa tres dies que no passen "
            "a recollir els contenidors del carrer Verdi.", "reply_by": "email", "consent": "on", "hp_url": "",
            "token": token_aged(), "pow": "", "answer": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def submit(client: Client | None = None, data: dict | None = None, *, address: str = "203.0.113.7", **headers):
    client = client or Client()
    return committed(client.post, f"/contact/{SLUG}/", data=data if data is not None else filled(),
                     REMOTE_ADDR=address, headers=headers)


# --- a local SMTP server for answers by e-mail -------------------------------------------------

class Captured:
    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 Message accepted for delivery"

    def parsed(self, index: int = -1):
        return message_from_bytes(self.messages[index][2], policy=policy.default)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("webform-tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Captured()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), tls_context=context,
                            require_starttls=True, auth_require_tls=True,
                            authenticator=lambda *a: AuthResult(success=a[4].login == MAILBOX.encode()
                                                                and a[4].password == b"smtp-password"))
    controller.start()
    yield {"handler": handler, "port": controller.port, "cafile": str(cert)}
    controller.stop()


@pytest.fixture
def smtp(smtp_server, settings):
    settings.EMAIL_TLS_CAFILE = smtp_server["cafile"]
    settings.EMAIL_CHANNEL_TIMEOUT = 10
    smtp_server["handler"].messages.clear()
    return smtp_server["handler"]


@pytest.fixture
def mailbox(db, smtp_server, team_a):  # noqa: F811
    return ChannelAccount.objects.create(
        platform="email", external_id=MAILBOX, name="Atenció ciutadana", handle=MAILBOX, default_team=team_a,
        credentials={"imap_host": "127.0.0.1", "imap_port": 1, "imap_security": "ssl", "smtp_host": "127.0.0.1",
                     "smtp_port": smtp_server["port"], "smtp_security": "starttls", "username": MAILBOX,
                     "password": "smtp-password", "from_address": MAILBOX, "from_name": "Atenció ciutadana"},
    )
