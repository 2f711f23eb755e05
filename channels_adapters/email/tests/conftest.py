"""Real mail servers on loopback: Dovecot (Debian's dovecot-imapd) for IMAP, aiosmtpd for SMTP.

Dovecot is started once per test session on free ports with a temporary configuration, a
passwd-file of users and a certificate of our own (STARTTLS on one port, implicit TLS on the
other); each test gets a new user, so an empty mailbox. Mail is delivered into it by IMAP
APPEND, as an MTA's delivery agent would put it there. aiosmtpd accepts answers over STARTTLS
or implicit TLS with a login, and keeps what it received. Nothing is skipped: without
Dovecot the tests fail and say how to install it (``make mailserver`` does).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from email import message_from_bytes, policy
from pathlib import Path

import imapclient
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from channels_adapters.email.adapter import _address
from inbox.models import ChannelAccount
from tests.conftest import alice, bob, carol, committed, dave, eager_tasks, login, team_a, team_b  # noqa: F401

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PASSWORD = "correct horse battery staple"
SMTP_USER, SMTP_PASSWORD = "smtp-user", "smtp-secret"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
_users = itertools.count(1)
USERS = 200


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}: {log.read_text()[-2000:] if log and log.exists() else ''}")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory, certificate):
    if not os.path.exists(DOVECOT):
        pytest.fail("Dovecot is not installed: the e-mail tests read a real IMAP server. Install Debian's "
                    "dovecot-imapd (`make mailserver` does it as root: apt-get install dovecot-imapd).")
    # Dovecot's auth and mail processes run as its own users: the directory must be theirs to
    # read (pytest's base directory is private), and the mail is written as "nobody" when the
    # tests run as root (Dovecot refuses root as a mail user).
    root = Path(tempfile.mkdtemp(prefix="ci-dovecot-"))
    root.chmod(0o755)
    (root / "home").mkdir(mode=0o777)
    (root / "home").chmod(0o777)
    cert, key = certificate
    user = pwd.getpwuid(os.getuid()).pw_name
    mail_uid, mail_gid = (pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid) if os.getuid() == 0 \
        else (os.getuid(), os.getgid())
    ports = {"starttls": free_port(), "ssl": free_port()}
    # Every mailbox the session hands out, written before Dovecot starts: it reads a changed
    # passwd-file lazily, and a user added a moment ago could fail to log in.
    (root / "passwd").write_text("".join(f"{_user_name(i)}:{{PLAIN}}{PASSWORD}:::\n" for i in range(1, USERS + 1)))
    log = root / "dovecot.log"
    internal = "dovecot" if os.getuid() == 0 else user
    login_user = "dovenull" if os.getuid() == 0 else user
    (root / "dovecot.conf").write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {log}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {ports['starttls']}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ports['ssl']}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        _wait_port(ports["starttls"], process, log)
        _wait_port(ports["ssl"], process, log)
    except RuntimeError as exc:
        process.kill()
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
        pytest.fail(f"Dovecot did not start: {exc} {output[-2000:]}")
    yield {"root": root, "ports": ports, "cert": cert}
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(root, ignore_errors=True)


class Captured:
    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 Message accepted for delivery"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def parsed(self, index: int = -1):
        return message_from_bytes(self.messages[index][2], policy=policy.default)


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="session")
def smtp_servers(certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Captured()
    starttls = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context,
                          require_starttls=True, authenticator=_authenticator, auth_require_tls=True)
    implicit = Controller(handler, hostname="127.0.0.1", port=free_port(), ssl_context=context,
                          authenticator=_authenticator, auth_require_tls=False)
    starttls.start()
    implicit.start()
    yield {"handler": handler, "ports": {"starttls": starttls.port, "ssl": implicit.port}}
    starttls.stop()
    implicit.stop()


@pytest.fixture
def smtp(smtp_servers):
    smtp_servers["handler"].messages.clear()
    return smtp_servers["handler"]


@pytest.fixture(autouse=True)
def fresh_addresses(settings, certificate):
    _address.cache_clear()  # account ids are reused across test databases
    settings.EMAIL_TLS_CAFILE = str(certificate[0])
    settings.EMAIL_IDLE_SECONDS = 0
    settings.EMAIL_CHANNEL_TIMEOUT = 10
    yield
    _address.cache_clear()


def _user_name(i: int) -> str:
    return f"atencio{i}@ajuntament.test"


def new_user(dovecot) -> str:
    """An empty mailbox of its own for each test."""
    i = next(_users)
    assert i <= USERS, "raise USERS in channels_adapters/email/tests/conftest.py"
    return _user_name(i)


def credentials_for(address: str, dovecot, smtp_servers, *, security: str = "starttls") -> dict:
    return {
        "imap_host": "127.0.0.1", "imap_port": dovecot["ports"][security], "imap_security": security,
        "smtp_host": "127.0.0.1", "smtp_port": smtp_servers["ports"][security], "smtp_security": security,
        "username": address, "password": PASSWORD, "smtp_username": SMTP_USER, "smtp_password": SMTP_PASSWORD,
        "from_address": address, "from_name": "Atenció ciutadana", "folder": "INBOX",
        "webhook_secret": "mta-secret-for-tests",
    }


@pytest.fixture
def mailbox(db, dovecot, smtp_servers, team_a):  # noqa: F811
    address = new_user(dovecot)
    return ChannelAccount.objects.create(
        platform="email", external_id=address, name="Atenció ciutadana", handle=address, default_team=team_a,
        credentials=credentials_for(address, dovecot, smtp_servers),
    )


def imap_for(account: ChannelAccount, dovecot) -> imapclient.IMAPClient:
    context = ssl.create_default_context(cafile=str(dovecot["cert"]))
    client = imapclient.IMAPClient("127.0.0.1", port=dovecot["ports"]["ssl"], ssl=True, ssl_context=context)
    client.login(account.external_id, PASSWORD)
    return client


def deliver(account: ChannelAccount, dovecot, *messages: bytes) -> None:
    """Put mail into the account's INBOX as a delivery agent would (IMAP APPEND)."""
    client = imap_for(account, dovecot)
    try:
        for start in range(0, len(messages), 100):  # MULTIAPPEND (RFC 3502): a hundred per command
            client.multiappend("INBOX", list(messages[start:start + 100]))
    finally:
        client.logout()
