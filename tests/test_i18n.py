"""Six interface languages: every string of ours is in the catalogues, translated, and shown.

- Each catalogue (locale/<lang>/LC_MESSAGES/django.po) has a non-empty, non-fuzzy msgstr for
  every msgid, with the same placeholders, and the plural forms its language needs.
- The catalogues are up to date: ``makemessages`` over the code finds no msgid they lack.
- Each main page, rendered in each language chosen by the browser (Accept-Language), shows
  no English msgid of ours verbatim where its translation differs, and carries
  ``<html lang dir>`` (right to left for Persian).
- A signed-in user's chosen language wins over the browser's, on every later request.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from inbox.models import Conversation, OfficerProfile
from routing.sla_scan import sla_scan
from tests.conftest import committed, login, post_sim, sim_body, sim_event
from tests.test_sla_scan import account, at, deliver, policy, x_calendar  # noqa: F401 - fixtures and helpers

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = ["ca", "es", "fr", "pl", "fa"]
PLURAL_FORMS = {"ca": 2, "es": 2, "fr": 2, "pl": 3, "fa": 2}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-0-9.]*[sdrf]|%%|\{[a-z_]+\}|</?[a-z]+[^>]*>")


def catalogue(lang: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / "django.po"))


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_msgid_has_a_translation_with_the_same_placeholders(lang):
    po = catalogue(lang)
    assert f"nplurals={PLURAL_FORMS[lang]};" in po.metadata["Plural-Forms"]
    problems = []
    for entry in po:
        if entry.obsolete:
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
            continue
        if entry.msgid_plural:
            forms = [entry.msgstr_plural.get(i, "") for i in range(PLURAL_FORMS[lang])]
            if not all(forms):
                problems.append(f"plural forms missing: {entry.msgid!r}")
            # Each form may drop the count (Polish "jeden"), never add a placeholder.
            allowed = placeholders(entry.msgid) | placeholders(entry.msgid_plural)
            if any(placeholders(form) - allowed for form in forms):
                problems.append(f"unknown placeholder: {entry.msgid!r}")
        elif not entry.msgstr:
            problems.append(f"untranslated: {entry.msgid!r}")
        elif placeholders(entry.msgstr) != placeholders(entry.msgid):
            problems.append(f"placeholders differ: {entry.msgid!r} -> {entry.msgstr!r}")
    assert not problems, f"{lang}: {len(problems)} problems:\n" + "\n".join(problems[:40])


def _msgids(po: polib.POFile) -> set[tuple[str, str]]:
    return {(e.msgctxt or "", e.msgid) for e in po if not e.obsolete}


def test_catalogues_hold_every_msgid_of_the_code(tmp_path, settings, monkeypatch):
    """A dry run of makemessages finds no msgid the catalogues lack.

    makemessages writes into every locale/ folder above the files it reads, so it runs on a
    copy of the code (templates and apps) in a temporary folder, never on the catalogues.
    """
    base = Path(settings.BASE_DIR)
    for folder in ["config", "inbox", "routing", "channels_adapters", "templates", "static"]:
        shutil.copytree(base / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "migrations", "fixtures"))
    (tmp_path / "locale").mkdir()
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["ca"], verbosity=0, no_obsolete=True)
    fresh = _msgids(polib.pofile(str(tmp_path / "locale" / "ca" / "LC_MESSAGES" / "django.po")))
    assert len(fresh) > 500
    for lang in TRANSLATED:
        missing = fresh - _msgids(catalogue(lang))
        assert not missing, (
            f"{lang}: {len(missing)} msgids of the code are not in the catalogue (run makemessages and "
            f"translate them): {sorted(missing)[:20]}"
        )


class VisibleText(HTMLParser):
    """The text a user reads or hears: text nodes and the attributes read out or shown."""

    ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.html_attrs: dict[str, str] = {}
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.html_attrs = {k: v or "" for k, v in attrs}
        if tag in ("script", "style", "template"):
            self._skip += 1
        for name, value in attrs:
            if value and (name in self.ATTRIBUTES or name.startswith("data-label")):
                self.chunks.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.chunks.append(data)


def visible(html: str) -> VisibleText:
    parser = VisibleText()
    parser.feed(html)
    return parser


def untranslated_english(text_chunks: list[str], lang: str) -> set[str]:
    """English msgids shown verbatim although the catalogue translates them differently."""
    english = {}
    for entry in catalogue(lang):
        if entry.msgid_plural or "%" in entry.msgid or "{" in entry.msgid or "<" in entry.msgid:
            continue
        # Single short words are often the same in several languages or are data (a team
        # called "Spam"...): only msgids of two words or more, or long single words, count.
        if entry.msgstr and entry.msgstr != entry.msgid and (" " in entry.msgid.strip() or len(entry.msgid) >= 9):
            english[entry.msgid.strip()] = entry.msgstr
    shown = {" ".join(chunk.split()) for chunk in text_chunks}
    return {msgid for msgid in english if msgid in shown}


@pytest.fixture
def inbox_with_a_conversation(sim_account, dave, alice, team_a):
    post_sim(Client(), sim_body([
        sim_event(1, text="La pantalla de la parada de Gran de Gràcia no funciona"),
        sim_event(2, thread="t1", text="Encara no funciona"),
    ]))
    return Conversation.objects.get(thread_key="mention:t1")


MAIN_PAGES = [
    ("queue", lambda c: reverse("inbox:queue")),
    ("conversation", lambda c: reverse("inbox:conversation", args=[c.pk])),
    ("dashboard", lambda c: reverse("dashboard:page")),
    ("rules", lambda c: reverse("routing:rules")),
    ("rule-new", lambda c: reverse("routing:rule_new")),
    ("calendars", lambda c: reverse("routing:calendars")),
    ("calendar-new", lambda c: reverse("routing:calendar_new")),
    ("policies", lambda c: reverse("routing:policies")),
    ("teams", lambda c: reverse("teams:teams")),
    ("team", lambda c: reverse("teams:team", args=[c.team.slug])),
    ("people", lambda c: reverse("teams:people")),
    ("autoreplies", lambda c: reverse("teams:autoreplies")),
]


@pytest.mark.django_db
@pytest.mark.parametrize("lang", [*TRANSLATED, "en"])
def test_main_pages_speak_the_browsers_language(lang, inbox_with_a_conversation, dave, client):
    conversation = inbox_with_a_conversation
    pages = {"login": client.get(reverse("login"), headers={"accept-language": lang})}
    signed_in = login(dave)
    for name, url in MAIN_PAGES:
        pages[name] = signed_in.get(url(conversation), headers={"accept-language": f"{lang},en;q=0.5"})
    failures = []
    for name, response in pages.items():
        assert response.status_code == 200, (name, response.status_code)
        assert response["Content-Language"] == lang, name
        text = visible(response.content.decode())
        assert text.html_attrs.get("lang") == lang, name
        assert text.html_attrs.get("dir") == ("rtl" if lang == "fa" else "ltr"), name
        if lang != "en":
            leftovers = untranslated_english(text.chunks, lang)
            if leftovers:
                failures.append(f"{name}: {sorted(leftovers)}")
    assert not failures, f"English shown in the {lang} interface:\n" + "\n".join(failures)


@pytest.mark.django_db
def test_untranslated_english_is_caught(dave):
    """The check above is not vacuous: an English msgid among Catalan text is reported."""
    assert untranslated_english(["Keyboard shortcuts", "Dreceres de teclat"], "ca") == {"Keyboard shortcuts"}


@pytest.mark.django_db
def test_a_users_chosen_language_wins_over_the_browser_and_follows_them(alice, client):
    signed_in = login(alice)
    response = signed_in.post(reverse("language"), {"language": "fa", "next": "/inbox/"},
                              headers={"accept-language": "fr"})
    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert OfficerProfile.objects.get(user=alice).interface_language == "fa"
    page = signed_in.get("/inbox/", headers={"accept-language": "fr"})
    assert page["Content-Language"] == "fa"
    assert visible(page.content.decode()).html_attrs == {"lang": "fa", "dir": "rtl"}

    # Another device, another browser language: the choice is restored at sign-in.
    elsewhere = login(alice)
    assert elsewhere.get("/inbox/", headers={"accept-language": "pl"})["Content-Language"] == "fa"

    # Back to the browser's language.
    signed_in.post(reverse("language"), {"language": "", "next": "/inbox/"})
    assert OfficerProfile.objects.get(user=alice).interface_language == ""
    assert signed_in.get("/inbox/", headers={"accept-language": "pl"})["Content-Language"] == "pl"


@pytest.mark.django_db
def test_language_menu_refuses_unknown_languages_and_foreign_redirects(alice):
    signed_in = login(alice)
    response = signed_in.post(reverse("language"), {"language": "xx", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert OfficerProfile.objects.get(user=alice).interface_language == ""


def test_persian_numbers_and_dates_follow_the_language():
    from datetime import date

    from django.utils import formats, translation

    with translation.override("fa"):
        assert formats.number_format(1234.5, decimal_pos=1, use_l10n=True, force_grouping=True) != "1,234.5"
        assert formats.date_format(date(2026, 3, 2), "j F Y") != "2 March 2026"
    with translation.override("ca"):
        assert formats.date_format(date(2026, 3, 2), "j F Y") == "2 març 2026"



@pytest.mark.django_db
@pytest.mark.usefixtures("account", "policy")
def test_a_notification_email_is_in_its_recipients_language(settings, alice):
    """The SLA scan runs in a worker with no request: each e-mail is written in the language
    its recipient chose."""
    settings.EMAIL_HOST = "smtp.example.org"
    alice.email = "alice@example.org"
    alice.save()
    OfficerProfile.objects.filter(user=alice).update(interface_language="ca")
    deliver(1, at(2026, 10, 19, 10, 0))
    committed(sla_scan, now=at(2026, 10, 19, 11, 31))
    conversation = Conversation.objects.get()
    [email] = mail.outbox
    assert email.subject == f"Conversa núm. {conversation.id}: 75% del temps de resposta consumit"
    assert "venç el" in email.body and "due at" not in email.body
