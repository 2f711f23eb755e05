"""The reply library: saved replies by kind and language, their variables, who manages them,
and how often they are used (docs/library.md).

A saved reply has a main text (``SavedReply.body`` in ``SavedReply.language``) and versions
in other languages (``SavedReplyVersion``). ``saved_reply_text`` picks the text for a
conversation: its language, then the account's default language, then the main text.

Texts may hold variables, filled in on insert by ``saved_reply_render``::

    {citizen_name} {officer_first_name} {team} {service_hours}

(and ``{next_opening}``, which only automatic out-of-hours replies fill in). A text with any
other ``{word}`` is refused on save with the names it does not know.

Admins manage every saved reply; supervisors those of the teams they supervise (never the
ones for all teams); officers use them. Every change is audited. ``usage_count`` grows by one
when a reply made from the saved reply is sent (``saved_reply_used``, called once per reply
from ``inbox.services.delivery.message_mark_sent``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inbox.audit import audit_record
from inbox.models import Conversation, SavedReply, SavedReplyVersion, Team
from inbox.permissions import SUPERVISE, can_manage_channels, team_ids_for_user

VARIABLES = {
    "citizen_name": gettext_lazy("the citizen's name"),
    "officer_first_name": gettext_lazy("your first name"),
    "team": gettext_lazy("the team's name"),
    "service_hours": gettext_lazy("the channel's service hours"),
}
# Filled in by routing.autoreply for the out-of-hours message only.
AUTOMATIC_VARIABLES = frozenset({"next_opening"})
KNOWN_VARIABLES = frozenset(VARIABLES) | AUTOMATIC_VARIABLES

# Anything between braces that could be meant as a variable (not JSON-like text with quotes
# or line breaks): "{citizen_name}", "{ nom }", "{Citizen Name}".
_VARIABLE = re.compile(r"\{([^{}\"'\n]{1,40})\}")


def language_code(value: str) -> str:
    """``ca-ES`` → ``ca``; empty stays empty."""
    return (value or "").split("-")[0].split("_")[0].strip().lower()


# --- Reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyText:
    body: str
    language: str  # "" when the main text has no language
    version_id: int | None  # None: the main text


def saved_reply_text(saved_reply: SavedReply, languages: Iterable[str]) -> ReplyText:
    """The text of ``saved_reply`` in the first of ``languages`` it has (the conversation's,
    then the account's default), else its main text. Uses prefetched ``versions`` when the
    caller prefetched them (the composer's list does), one query otherwise."""
    main = language_code(saved_reply.language)
    wanted = [code for code in (language_code(lang) for lang in languages) if code]
    versions: Sequence[SavedReplyVersion] | None = None
    for code in wanted:
        if code == main:
            break
        if versions is None:
            versions = list(saved_reply.versions.all())
        found = next((v for v in versions if language_code(v.language) == code), None)
        if found is not None:
            return ReplyText(found.body, found.language, found.pk)
    return ReplyText(saved_reply.body, saved_reply.language, None)


def conversation_languages(conversation: Conversation) -> list[str]:
    """Which languages a reply to ``conversation`` is proposed in, in order."""
    return [conversation.language, conversation.account.default_language]


def saved_replies_usable(conversation: Conversation) -> QuerySet[SavedReply]:
    """The saved replies an officer may use on ``conversation``: its team's and everyone's."""
    return SavedReply.objects.filter(Q(team_id=conversation.team_id) | Q(team__isnull=True))


def saved_replies_search(conversation: Conversation, query: str = "", *, limit: int = 20) -> list[SavedReply]:
    """Usable saved replies matching ``query`` in the title or any version's text, most used
    first; versions prefetched (two queries whatever the number)."""
    qs = saved_replies_usable(conversation)
    for word in query.split()[:5]:
        qs = qs.filter(Q(title__icontains=word) | Q(body__icontains=word) | Q(versions__body__icontains=word))
    ids = list(qs.order_by("-usage_count", "title", "id").values_list("id", flat=True).distinct()[: limit * 3])
    ids = list(dict.fromkeys(ids))[:limit]
    replies = {r.pk: r for r in SavedReply.objects.filter(id__in=ids).prefetch_related("versions")}
    return [replies[pk] for pk in ids if pk in replies]


# --- Variables ------------------------------------------------------------------------------


def variables_unknown(text: str, *, allowed: frozenset[str] = KNOWN_VARIABLES) -> list[str]:
    """The ``{names}`` in ``text`` that are not variables, in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in _VARIABLE.finditer(text or "") if m.group(1) not in allowed))


def variables_check(texts: Iterable[str]) -> None:
    unknown = list(dict.fromkeys(name for text in texts for name in variables_unknown(text)))
    if unknown:
        raise ValidationError(
            _("Unknown variable(s): %(unknown)s. The variables are: %(known)s.") % {
                "unknown": ", ".join("{" + name + "}" for name in unknown),
                "known": ", ".join("{" + name + "}" for name in VARIABLES),
            },
            code="unknown_variable",
        )


def saved_reply_render(text: str, values: dict[str, str]) -> str:
    """Fill the known variables of ``text`` with ``values`` (plain text: whoever shows the
    result escapes it). Unknown braces are left as they are."""

    def fill(match: re.Match) -> str:
        name = match.group(1)
        return str(values.get(name, "")) if name in VARIABLES else match.group(0)

    return _VARIABLE.sub(fill, text or "")


def citizen_name(conversation: Conversation) -> str:
    """What to call the citizen: their name on the platform, else the linked Person's, else
    their handle; never a numeric platform id."""
    contact = conversation.contact
    person = contact.person if contact.person_id else None
    return contact.name or (person.display_name if person else "") or contact.handle


def variable_values(conversation: Conversation, user, *, service_hours: str = "") -> dict[str, str]:
    return {
        "citizen_name": citizen_name(conversation),
        "officer_first_name": (user.first_name or user.get_username()).strip() if user is not None else "",
        "team": conversation.team.name if conversation.team_id else "",
        "service_hours": service_hours,
    }


# --- Managing -------------------------------------------------------------------------------


def library_team_ids(user) -> list[int] | None:
    """The teams whose saved replies ``user`` manages; None: every team and the global ones
    (admins). An empty list: none."""
    if can_manage_channels(user):
        return None
    return team_ids_for_user(user, SUPERVISE)


def can_manage_library(user) -> bool:
    ids = library_team_ids(user)
    return ids is None or bool(ids)


def saved_replies_manageable(user) -> QuerySet[SavedReply]:
    ids = library_team_ids(user)
    if ids is None:
        return SavedReply.objects.all()
    return SavedReply.objects.filter(team_id__in=ids)


def saved_replies_visible(user) -> QuerySet[SavedReply]:
    """The saved replies ``user`` may read: their teams' and the shared ones (admins: all).
    Any other reply does not exist for them (a 404), even to a supervisor of another team."""
    if can_manage_channels(user):
        return SavedReply.objects.all()
    return SavedReply.objects.filter(Q(team__isnull=True) | Q(team_id__in=team_ids_for_user(user)))


def _may_manage(user, team: Team | None) -> bool:
    ids = library_team_ids(user)
    if ids is None:
        return True
    return team is not None and team.pk in ids


@dataclass(frozen=True)
class VersionInput:
    language: str
    body: str


def _versions_clean(main_language: str, versions: Iterable[VersionInput]) -> list[VersionInput]:
    main = language_code(main_language)
    out: dict[str, VersionInput] = {}
    for version in versions:
        code = language_code(version.language)
        body = (version.body or "").strip()
        if not code and not body:
            continue
        if not code:
            raise ValidationError(_("Each version needs a language."), code="version_language")
        if not body:
            raise ValidationError(_("The %(language)s version has no text.") % {"language": code}, code="version_body")
        if code == main or code in out:
            raise ValidationError(_("There are two texts in %(language)s.") % {"language": code}, code="version_twice")
        out[code] = VersionInput(code, body)
    return list(out.values())


def saved_reply_save(
    actor, *, saved_reply: SavedReply | None = None, title: str, body: str, kind: str, team: Team | None,
    language: str = "", versions: Iterable[VersionInput] = (),
) -> SavedReply:
    """Create or change a saved reply and set its versions to exactly ``versions``.

    Raises PermissionDenied when ``actor`` may not manage the reply's team (before and after
    the change), ValidationError for an unknown variable, a kind, or two texts in one language.
    """
    if saved_reply is not None and not _may_manage(actor, saved_reply.team):
        raise PermissionDenied
    if not _may_manage(actor, team):
        raise PermissionDenied
    title, body = (title or "").strip(), (body or "").strip()
    if not title or not body:
        raise ValidationError(_("A saved reply needs a title and a text."), code="required")
    if kind not in SavedReply.Kind.values:
        raise ValidationError(_("Unknown kind of reply."), code="kind")
    language = language_code(language)
    clean = _versions_clean(language, versions)
    variables_check([title, body, *(v.body for v in clean)])
    now = timezone.now()
    with transaction.atomic():
        creating = saved_reply is None
        if creating:
            saved_reply = SavedReply(created_at=now)
        before = None if creating else {
            "title": saved_reply.title, "kind": saved_reply.kind, "team": saved_reply.team_id,
            "language": saved_reply.language,
        }
        saved_reply.title, saved_reply.body, saved_reply.kind = title, body, kind
        saved_reply.team, saved_reply.language, saved_reply.updated_at = team, language, now
        saved_reply.save()
        existing = {v.language: v for v in saved_reply.versions.all()} if not creating else {}
        wanted = {v.language: v for v in clean}
        SavedReplyVersion.objects.filter(saved_reply=saved_reply, language__in=list(existing.keys() - wanted.keys())).delete()
        for code, version in wanted.items():
            row = existing.get(code)
            if row is None:
                SavedReplyVersion.objects.create(saved_reply=saved_reply, language=code, body=version.body, updated_at=now)
            elif row.body != version.body:
                SavedReplyVersion.objects.filter(pk=row.pk).update(body=version.body, updated_at=now)
        audit_record(
            actor, "saved_reply.create" if creating else "saved_reply.update", saved_reply,
            title=title, kind=kind, team=team.pk if team else None, language=language,
            versions=sorted(wanted), **({"before": before} if before else {}),
        )
    return saved_reply


def saved_reply_delete(actor, saved_reply: SavedReply) -> None:
    if not _may_manage(actor, saved_reply.team):
        raise PermissionDenied
    with transaction.atomic():
        audit_record(actor, "saved_reply.delete", saved_reply, title=saved_reply.title, kind=saved_reply.kind,
                     team=saved_reply.team_id, usage_count=saved_reply.usage_count)
        saved_reply.delete()


def saved_reply_used(saved_reply_id: int | None, *, at=None) -> None:
    """One more reply sent with it (one UPDATE; the caller counts each sent reply once)."""
    if saved_reply_id:
        SavedReply.objects.filter(pk=saved_reply_id).update(
            usage_count=F("usage_count") + 1, last_used_at=at or timezone.now()
        )
