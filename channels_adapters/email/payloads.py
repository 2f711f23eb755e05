"""RFC 5322 / MIME messages in, typed values out.

One stored ``RawEvent`` is one e-mail, its bytes exactly as the mailbox (or the MTA that
posted it) gave them. Reading it never raises for a bad message: whatever can be read is
kept (a header that cannot be decoded keeps its raw text, a part in an unknown character set
is decoded as well as it can be), and only a message with nothing readable is quarantined.

- **Headers**: RFC 2047 encoded words decoded (``email.policy.default``); a missing or
  broken ``Message-ID`` is replaced by the hash of the bytes, so the same bytes are still
  stored once.
- **Bodies**: the first text/plain part, else the text of the first text/html part. A
  charset that says ISO-8859-1 or US-ASCII is read as windows-1252 (its superset, as every
  browser does: Outlook's "smart quotes" arrive that way); an unknown one is guessed.
- **Quoted text and signatures** are folded away with ``mail-parser-reply`` (several
  languages): ``Message.text`` is what the citizen wrote this time; the whole message, HTML
  sanitised with ``nh3``, is one click away (``views.message``).
- **Attachments** are listed with a link to our own view, which reads them from the stored
  bytes (``views.part``); one removed on arrival for its size (``strip_oversize``) is listed
  with the reason.
- **Automatic mail** (``Auto-Submitted`` other than ``no``, ``Precedence: bulk/junk/list``,
  ``X-Autoreply``/``X-Autorespond``, a ``List-Id``, a ``multipart/report`` delivery or
  read report, mail from MAILER-DAEMON/postmaster) never opens a conversation: it is ignored
  unless it belongs to one we have (a bounce of our answer, an out-of-office in reply to it),
  where it is kept with a notice and never answered automatically (``AUTO_NOTICE``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import html2text
import nh3
from mailparser_reply import EmailReplyParser

from channels_adapters.email.client import message_key

PLATFORM = "email"
AUTO_NOTICE = "auto-submitted"  # Attachment.type of the notice on an automatic message
REMOVED_HEADER = "X-Citizen-Inbox-Removed"
REPLY_LANGUAGES = ["en", "es", "fr", "de", "it", "nl", "pl", "sv", "da", "cs"]
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|rif|r|tr|enc|res|odp|pd|ynt|atb|vá|vl|rv|ref|réf|ri)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*|\[[^\]]{1,40}\]\s*)+",
    re.IGNORECASE,
)
_LATIN1_ALIASES = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "l1", "cp819"}
_CATALAN = re.compile(r"(?im)^[ \t]*(?:enviat des del? (?:meu|mi|la meva)\b.*|enviat (?:amb|des d)\b.*|"
                      r"el .{4,120}\bva escriure:\s*)$")
_AUTO_LOCALPARTS = {"mailer-daemon", "postmaster"}


def normalized_subject(subject: str) -> str:
    """The subject without Re:/Fwd:/AW:/RE :/[tags] prefixes, lowercased, spaces folded."""
    return " ".join(_PREFIX.sub("", subject or "").split()).casefold()


def reply_subject(subject: str) -> str:
    core = _PREFIX.sub("", subject or "").strip()
    return f"Re: {core}" if core else "Re:"


@dataclass(frozen=True)
class Part:
    index: int  # position in message.walk(): stable for the same bytes
    name: str
    content_type: str
    size: int
    content_id: str = ""
    removed: str = ""  # why it was not kept (over the size limit)


@dataclass
class Mail:
    message_id: str  # as stored (message_key), never empty
    in_reply_to: str
    references: list[str]
    subject: str
    sender_name: str
    sender: str  # lowercased address
    reply_to: str
    to: list[str]
    date: datetime | None
    text: str  # the whole text body
    html: str  # the raw HTML body (sanitise before showing: sanitize_html)
    parts: list[Part] = field(default_factory=list)
    automatic: str = ""  # why it is automatic mail ("" when a person wrote it)
    reported_ids: list[str] = field(default_factory=list)  # a DSN's original Message-ID
    defects: list[str] = field(default_factory=list)
    has_message_id: bool = True


def parse_bytes(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the parser cannot model: take its raw text
        value = _raw_header(msg, name)
    if value is None:
        return ""
    value = str(value)
    if "\ufffd" in value:
        value = _eight_bit(_raw_header(msg, name)) or value
    return " ".join(value.split())


def _eight_bit(raw: str) -> str:
    """A header sent as raw 8-bit bytes (not RFC 2047): UTF-8 if it is, else windows-1252."""
    if "=?" in raw:
        return ""
    data = raw.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("windows-1252", errors="replace")


def _raw_header(msg: Message, name: str) -> str:
    for key, value in msg.raw_items() if hasattr(msg, "raw_items") else msg.items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def _ids(value: str) -> list[str]:
    found = re.findall(r"<([^<>\s]+)>", value or "")
    return [message_key(i) for i in found if i]


def decode_part(part: Message) -> str:
    """A text part's content as str, whatever its declared character set."""
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    if isinstance(payload, str):
        return payload
    charset = (part.get_content_charset() or "us-ascii").strip().strip('"').lower()
    if charset in _LATIN1_ALIASES:
        charset = "windows-1252"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        pass
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(payload).best()
        return str(best) if best is not None else payload.decode("windows-1252", errors="replace")


def filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    return " ".join(str(name).split())[:200]


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    if part.get_content_maintype() in ("text", "multipart"):
        return bool(filename(part)) and disposition == "inline" and part.get_content_subtype() not in (
            "plain", "html")
    return part.get_content_type() not in ("message/delivery-status", "message/disposition-notification")


def leaves(msg: Message):
    """(index, part) for every leaf part, an attached message counting as one leaf (its own
    parts are not the citizen's body). The index is the position in ``msg.walk()``: the same
    bytes give the same indexes, so the part view finds what the listing named."""
    inside: set[int] = set()
    for index, part in enumerate(msg.walk()):
        if id(part) in inside:
            continue
        if part.get_content_maintype() == "message":
            inside.update(id(p) for p in part.walk() if p is not part)
            yield index, part
        elif not part.is_multipart():
            yield index, part


def part_bytes(part: Message) -> bytes:
    """A leaf's content, transfer-decoded (an attached message as its bytes)."""
    try:
        if part.get_content_maintype() == "message":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            return inner.as_bytes() if isinstance(inner, Message) else str(inner or "").encode()
        payload = part.get_payload(decode=True)
    except Exception:  # a broken part: nothing to give
        return b""
    return payload if isinstance(payload, bytes) else (payload or "").encode()


def default_name(part: Message) -> str:
    if part.get_content_type() == "message/rfc822":
        return "message.eml"
    return part.get_content_type()


def strip_oversize(raw: bytes, limit: int) -> bytes:
    """The message without the parts larger than ``limit`` bytes, each replaced by an empty
    part saying what it was (``REMOVED_HEADER``); the bytes unchanged when none is."""
    if len(raw) <= limit:
        return raw
    msg = parse_bytes(raw)
    changed = False
    for _, part in leaves(msg):
        size = len(part_bytes(part))
        if size > limit:
            name = filename(part) or default_name(part)
            for header in ("Content-Transfer-Encoding",):
                del part[header]
            part.set_payload("")
            part[REMOVED_HEADER] = f"{size} bytes, over the limit of {limit}"
            if name and not filename(part):
                part.add_header("Content-Disposition", "attachment", filename=name)
            changed = True
    return msg.as_bytes(policy=policy.SMTP) if changed else raw


def read_mail(raw: bytes) -> Mail:
    """Everything the inbox keeps of one message (never raises for a readable one)."""
    msg = parse_bytes(raw)
    defects = [type(d).__name__ for d in getattr(msg, "defects", [])]
    own = _ids(_header(msg, "Message-ID"))
    message_id = own[0] if own else "sha256:" + hashlib.sha256(raw).hexdigest()[:48]
    name, address = parseaddr(_header(msg, "From"))
    _, reply_address = parseaddr(_header(msg, "Reply-To"))
    date = None
    try:
        date = parsedate_to_datetime(_header(msg, "Date")) if _header(msg, "Date") else None
    except (TypeError, ValueError, IndexError):
        defects.append("BadDate")
    if date is not None and date.tzinfo is None:
        date = None
    text = html = ""
    parts: list[Part] = []
    reported: list[str] = []
    for index, part in leaves(msg):
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/global-headers") \
                and msg.get_content_type() == "multipart/report":
            reported += _ids(next((line for line in part_bytes(part).decode("utf-8", "replace").splitlines()
                                   if line.lower().startswith("message-id:")), ""))
        removed = str(part.get(REMOVED_HEADER, "") or "")
        if removed or _is_attachment(part):
            parts.append(Part(index=index, name=filename(part) or default_name(part), content_type=ctype,
                              size=len(part_bytes(part)),
                              content_id=message_key(str(part.get("Content-ID") or "")), removed=removed))
            continue
        if ctype == "text/plain" and not text:
            text = decode_part(part)
        elif ctype == "text/html" and not html:
            html = decode_part(part)
    if not text and html:
        text = html_to_text(html)
    return Mail(
        message_id=message_id, in_reply_to=(_ids(_header(msg, "In-Reply-To")) or [""])[-1],
        references=_ids(_header(msg, "References")), subject=_header(msg, "Subject")[:998],
        sender_name=name.strip()[:200], sender=address.strip().lower(),
        reply_to=reply_address.strip().lower() if reply_address != address else "",
        to=[a.lower() for _, a in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if a],
        date=date, text=text.replace("\r\n", "\n"), html=html, parts=parts,
        automatic=_automatic(msg, address), reported_ids=reported, defects=defects, has_message_id=bool(own),
    )


def _automatic(msg: Message, address: str) -> str:
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if _header(msg, name):
            return name
    if _header(msg, "List-Id"):
        return "List-Id"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    if address.partition("@")[0].lower() in _AUTO_LOCALPARTS:
        return "delivery report"
    return ""


def latest_reply(text: str) -> str:
    """What the citizen wrote this time: quoted earlier messages and the signature folded."""
    if not text.strip():
        return ""
    try:
        mail = EmailReplyParser(languages=REPLY_LANGUAGES).read(text)
        first = mail.replies[0].body if mail.replies else ""
    except Exception:  # the library on odd input: keep the whole text
        first = ""
    first = (first or text).strip()
    # Catalan is not among the library's languages (the 012 service's main one): its mobile
    # signatures and quote headers are cut here, at the first line that starts one.
    cut = _CATALAN.search(first)
    return first[:cut.start()].strip() if cut and cut.start() > 0 else first


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.ignore_links = False
    converter.inline_links = True
    return converter.handle(sanitize_html(html)).strip()


ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | {"img", "font", "center", "span", "div", "table", "tbody", "thead", "tr",
                                        "td", "th"}


def _local_images(tag: str, attribute: str, value: str) -> str | None:
    """Images only from the message itself (cid: parts served by us, data: URLs): a remote
    image would tell the sender when an officer opened the mail (a tracking pixel)."""
    if tag == "img" and attribute == "src" and not value.startswith(("/channels/email/", "data:image/")):
        return None
    return value


def sanitize_html(html: str, *, cid_urls: dict[str, str] | None = None) -> str:
    """Mail HTML fit to show on our pages: no script, no event handler, no style attribute,
    no form, no remote image; links open elsewhere; ``cid:`` images point at our part view."""
    if cid_urls:
        html = re.sub(r"""(?i)\bcid:([^"'\s>]+)""",
                      lambda m: cid_urls.get(message_key(m.group(1)), "about:blank"), html)
    return nh3.clean(
        html, tags=ALLOWED_TAGS, link_rel="noopener noreferrer nofollow", attribute_filter=_local_images,
        url_schemes={"http", "https", "mailto"},
        attributes={**{t: set(a) for t, a in nh3.ALLOWED_ATTRIBUTES.items()}, "img": {"src", "alt", "width",
                                                                                       "height"}},
    )
