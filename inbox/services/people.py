"""One citizen across channels: contacts linked into a Person, undoably (docs/people.md).

Linking contact B to contact A puts both (and every contact already linked to either) in one
Person: A's, else B's, else a new one. When both had a Person, B's is absorbed: its contacts
move, its notes are appended, its contact lists carried over, and it stays, empty, with
``merged_into`` set. A ``PersonLink`` records each contact's previous Person and the
survivor's name and notes before and after, so that ``person_link_undo`` restores exactly the
state before the link. An undo is refused when something changed since that it would lose
(a later link on the Person, a contact moved elsewhere, notes edited, a legal hold placed on a
Person it would delete): undo the later change first. Links, undos and notes are audited.

Suggestions (``link_suggestions``) are contacts on other channels with the same handle, the
same full name, or the same e-mail address (compared without case, accents, a leading "@"
or surrounding spaces), among the contacts of conversations the viewer may see.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from inbox.audit import audit_record
from inbox.models import Contact, LegalHold, Person, PersonLink
from inbox.selectors import conversations_for_user

NOTES_MAX = 5000
_MARKS = re.compile(r"[\u0300-\u036f]")
_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class LinkRefused(Exception):
    """A link or an undo that cannot be done, with the reason for the officer."""


# --- Normalising ----------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: ``  Mercè  PUIG`` → ``merce puig``."""
    text = _SPACES.sub(" ", (text or "").strip())
    return _MARKS.sub("", unicodedata.normalize("NFKD", text.casefold()))


def handle_key(handle: str) -> str:
    return fold(handle).lstrip("@").replace(" ", "")


def name_key(name: str) -> str:
    """A name is compared only when it has two words or more: "Maria" alone matches too many."""
    key = fold(name)
    return key if len(key.split(" ")) >= 2 else ""


def email_of(contact: Contact) -> str:
    for value in (contact.profile.get("email") if isinstance(contact.profile, dict) else "",
                  contact.external_id if contact.platform == "email" else "", contact.handle):
        value = fold(value or "")
        if _EMAIL.match(value):
            return value
    return ""


# --- Suggestions ----------------------------------------------------------------------------


@dataclass
class Suggestion:
    contact: Contact
    reasons: list[str] = field(default_factory=list)


def link_suggestions(user, contact: Contact, *, limit: int = 5) -> list[Suggestion]:
    """Contacts that are probably the same citizen as ``contact`` (one query)."""
    keys = {"handle": handle_key(contact.handle), "name": name_key(contact.name), "email": email_of(contact)}
    if not any(keys.values()):
        return []
    match = Q()
    if keys["handle"]:
        match |= Q(handle__iexact=keys["handle"]) | Q(handle__iexact="@" + keys["handle"])
    if keys["name"]:
        # Stored names keep their accents: ask for the exact spelling and the folded one, then
        # compare folded below.
        match |= Q(name__iexact=_SPACES.sub(" ", contact.name.strip())) | Q(name__iexact=keys["name"])
    if keys["email"]:
        match |= (Q(profile__email__iexact=keys["email"]) | Q(external_id__iexact=keys["email"])
                  | Q(handle__iexact=keys["email"]))
    visible = conversations_for_user(user).filter(contact_id=OuterRef("pk"))
    candidates = (
        Contact.objects.filter(match).filter(Exists(visible)).exclude(pk=contact.pk)
        .select_related("person").order_by("-updated_at", "-id")[: limit * 4]
    )
    out: list[Suggestion] = []
    for candidate in candidates:
        if contact.person_id and candidate.person_id == contact.person_id:
            continue
        reasons = []
        if keys["handle"] and handle_key(candidate.handle) == keys["handle"]:
            reasons.append("handle")
        if keys["name"] and name_key(candidate.name) == keys["name"]:
            reasons.append("name")
        if keys["email"] and email_of(candidate) == keys["email"]:
            reasons.append("email")
        if reasons:
            out.append(Suggestion(candidate, reasons))
        if len(out) == limit:
            break
    return out


# --- Linking and undoing ---------------------------------------------------------------------


def _state(person: Person) -> dict:
    return {"display_name": person.display_name, "notes": person.notes}


def contacts_link(actor, contact: Contact, other: Contact) -> PersonLink:
    """Put ``other`` (and everyone linked to it) in ``contact``'s Person. Raises LinkRefused."""
    if contact.pk == other.pk:
        raise LinkRefused(_("A contact cannot be linked to itself."))
    now = timezone.now()
    with transaction.atomic():
        # Lock both contacts in id order, then the Persons: two links at once cannot cross.
        locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[contact.pk, other.pk]).order_by("pk")}
        if len(locked) != 2:
            raise LinkRefused(_("That contact no longer exists."))
        contact, other = locked[contact.pk], locked[other.pk]
        if contact.person_id and contact.person_id == other.person_id:
            raise LinkRefused(_("These contacts are already the same Person."))
        person_ids = sorted({p for p in (contact.person_id, other.person_id) if p})
        persons = {p.pk: p for p in Person.objects.select_for_update().filter(pk__in=person_ids).order_by("pk")}
        survivor = persons.get(contact.person_id) or persons.get(other.person_id)
        created = survivor is None
        if created:
            survivor = Person.objects.create(
                display_name=contact.name or other.name or contact.handle or other.handle, created_at=now, updated_at=now,
            )
        absorbed = persons.get(other.person_id) if contact.person_id and other.person_id else None
        if absorbed is not None and LegalHold.objects.filter(person=absorbed, released_at__isnull=True).exists():
            raise LinkRefused(_("The other contact's Person is under a legal hold: link the other way round, "
                                "from one of its conversations."))
        before = {} if created else _state(survivor)
        moving = [contact, other] if created else ([other] if absorbed is None else [])
        if absorbed is not None:
            moving = list(Contact.objects.select_for_update().filter(person=absorbed).order_by("pk"))
        changes = [[c.pk, c.person_id] for c in moving if c.person_id != survivor.pk]
        Contact.objects.filter(pk__in=[c for c, _prev in changes]).update(person=survivor, updated_at=now)
        lists_added: list[int] = []
        if absorbed is not None:
            if absorbed.notes.strip():
                survivor.notes = (survivor.notes.rstrip() + "\n\n" + absorbed.notes.strip()).strip()[:NOTES_MAX]
            survivor.display_name = survivor.display_name or absorbed.display_name
            have = set(survivor.contact_lists.values_list("pk", flat=True))
            lists_added = sorted(set(absorbed.contact_lists.values_list("pk", flat=True)) - have)
            if lists_added:
                survivor.contact_lists.add(*lists_added)
            Person.objects.filter(pk=absorbed.pk).update(merged_into=survivor, updated_at=now)
        survivor.updated_at = now
        survivor.save(update_fields=["display_name", "notes", "updated_at"])
        link = PersonLink.objects.create(
            person=survivor, actor=actor if getattr(actor, "is_authenticated", False) else None,
            contacts=changes, absorbed_person_ids=[absorbed.pk] if absorbed else [], person_created=created,
            before=before, after=_state(survivor), lists_added=lists_added, created_at=now,
        )
        audit_record(actor, "person.link", survivor, link=link.pk, contacts=changes,
                     absorbed=link.absorbed_person_ids, person_created=created)
    return link


def person_link_undo(actor, link: PersonLink) -> None:
    """Restore the state before ``link``. Raises LinkRefused when it cannot be exact."""
    now = timezone.now()
    with transaction.atomic():
        link = PersonLink.objects.select_for_update().get(pk=link.pk)
        if link.undone_at is not None:
            raise LinkRefused(_("This link was already undone."))
        person = Person.objects.select_for_update().filter(pk=link.person_id).first()
        if person is None:
            raise LinkRefused(_("The Person of this link no longer exists."))
        later = PersonLink.objects.filter(undone_at__isnull=True, pk__gt=link.pk).values_list("person_id", "absorbed_person_ids")
        if any(pid == link.person_id or link.person_id in (absorbed or []) for pid, absorbed in later):
            raise LinkRefused(_("This Person was linked again afterwards: undo the later link first."))
        contact_ids = [c for c, _prev in link.contacts]
        current = dict(Contact.objects.select_for_update().filter(pk__in=contact_ids).values_list("pk", "person_id"))
        if any(current.get(c) != link.person_id for c in contact_ids):
            raise LinkRefused(_("A contact of this link has been moved since: undo that first."))
        if _state(person) != link.after:
            raise LinkRefused(_("The Person's name or notes changed after the link; undoing it would lose "
                                "that change. Restore them by hand, or undo here after putting them back."))
        remaining = Contact.objects.filter(person=person).exclude(pk__in=contact_ids).exists()
        if link.person_created and (remaining or LegalHold.objects.filter(person=person).exists()):
            raise LinkRefused(_("The Person made by this link is now held or has other contacts: it cannot go."))
        for contact_id, previous in link.contacts:
            Contact.objects.filter(pk=contact_id).update(person_id=previous, updated_at=now)
        if link.absorbed_person_ids:
            Person.objects.filter(pk__in=link.absorbed_person_ids).update(merged_into=None, updated_at=now)
        if link.lists_added:
            person.contact_lists.remove(*link.lists_added)
        link.undone_at, link.undone_by = now, actor if getattr(actor, "is_authenticated", False) else None
        link.save(update_fields=["undone_at", "undone_by"])
        audit_record(actor, "person.link_undo", person, link=link.pk, contacts=link.contacts,
                     absorbed=link.absorbed_person_ids, person_deleted=link.person_created)
        if link.person_created:
            person.delete()
        else:
            Person.objects.filter(pk=person.pk).update(updated_at=now, **link.before)


def person_notes_set(actor, person: Person, notes: str) -> Person:
    notes = (notes or "").strip()
    if len(notes) > NOTES_MAX:
        raise ValidationError(_("Notes are limited to %(n)d characters.") % {"n": NOTES_MAX}, code="too_long")
    if notes == person.notes:
        return person
    previous_length = len(person.notes)
    person.notes, person.updated_at = notes, timezone.now()
    with transaction.atomic():
        Person.objects.filter(pk=person.pk).update(notes=notes, updated_at=person.updated_at)
        audit_record(actor, "person.notes", person, length_before=previous_length, length=len(notes))
    return person


# --- The citizen card (reads) ---------------------------------------------------------------

CARD_CONVERSATIONS = 25


@dataclass
class CitizenCard:
    contact: Contact
    person: Person | None
    linked_contacts: list[Contact]
    conversations: list  # the Person's (or contact's) other conversations the viewer may see
    more_conversations: bool
    suggestions: list[Suggestion]
    last_link: PersonLink | None
    platforms: list[str]

    @property
    def name(self) -> str:
        """Never a bare platform id when a name is known anywhere."""
        c = self.contact
        return c.name or (self.person.display_name if self.person else "") or c.handle or c.external_id


def citizen_card(user, conversation, *, with_suggestions: bool = True) -> CitizenCard:
    """What the conversation page shows about the citizen, in four queries whatever the number
    of contacts, conversations and channels (``conversation`` comes with contact and person)."""
    contact = conversation.contact
    person = contact.person if contact.person_id else None
    if person is not None:
        linked = list(Contact.objects.filter(person_id=person.pk).exclude(pk=contact.pk).order_by("platform", "id"))
        who = Q(contact__person_id=person.pk)
        last_link = PersonLink.objects.filter(person_id=person.pk, undone_at__isnull=True).order_by("-id").first()
    else:
        linked, who, last_link = [], Q(contact_id=contact.pk), None
    rows = list(
        conversations_for_user(user).filter(who).exclude(pk=conversation.pk)
        .select_related("account", "contact").order_by("-created_at", "-id")[: CARD_CONVERSATIONS + 1]
    )
    platforms = sorted({contact.platform, *(c.platform for c in linked)})
    return CitizenCard(
        contact=contact, person=person, linked_contacts=linked, conversations=rows[:CARD_CONVERSATIONS],
        more_conversations=len(rows) > CARD_CONVERSATIONS,
        suggestions=link_suggestions(user, contact) if with_suggestions else [],
        last_link=last_link, platforms=platforms,
    )


def contact_name_set(contact: Contact, *, name: str, handle: str = "") -> bool:
    """Store a name the platform gave on request; never over one already there (a conditional
    UPDATE: a message that brought a name meanwhile wins). True when it was stored."""
    name, handle = (name or "").strip()[:200], (handle or "").strip()[:200]
    if not name and not handle:
        return False
    updates = {"name": name, "updated_at": timezone.now()}
    if handle and not contact.handle:
        updates["handle"] = handle
    stored = Contact.objects.filter(pk=contact.pk, name="").update(**updates)
    if stored:
        for key, value in updates.items():
            setattr(contact, key, value)
        Person.objects.filter(pk=contact.person_id, display_name="").update(display_name=name or handle)
    return bool(stored)
