"""One citizen across channels (docs/people.md): links that merge Persons and can be undone
exactly, suggestions by handle, name and e-mail address, the citizen card (only what the viewer
may see, in constant queries) and notes on the Person, all audited."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Contact,
    Conversation,
    LegalHold,
    Person,
    PersonLink,
)
from inbox.services.people import (
    LinkRefused,
    contacts_link,
    link_suggestions,
    person_link_undo,
    person_notes_set,
)
from routing.models import ContactList
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(team_a, team_b):
    return {
        "x": ChannelAccount.objects.create(platform="x", external_id="x-city", name="City on X", default_team=team_a),
        "facebook": ChannelAccount.objects.create(platform="facebook", external_id="fb-city", name="City page",
                                                  default_team=team_a),
        "telegram": ChannelAccount.objects.create(platform="telegram", external_id="tg-city", name="City bot",
                                                  default_team=team_a),
        "waste": ChannelAccount.objects.create(platform="x", external_id="x-waste", name="Waste on X",
                                               default_team=team_b),
    }


def converse(account, contact, n=1, *, team=None, subject="Hola"):
    return [
        Conversation.objects.create(account=account, contact=contact, kind="private", thread_key=f"{contact.pk}-{account.pk}-{i}",
                                    team=team or account.default_team, subject=f"{subject} {i}")
        for i in range(n)
    ]


def contact(platform, external_id, name="", handle="", **profile):
    return Contact.objects.create(platform=platform, external_id=external_id, name=name, handle=handle, profile=profile)


def state():
    """Everything a link may change, to compare before and after an undo."""
    return (
        sorted(Contact.objects.values_list("pk", "person_id")),
        sorted(Person.objects.values_list("pk", "display_name", "notes", "merged_into_id")),
        sorted(ContactList.people.through.objects.values_list("contactlist_id", "person_id")),
    )


def test_linking_two_unlinked_contacts_makes_a_person_and_undo_removes_it(accounts, alice):
    on_x, on_fb = contact("x", "1", "Marta Puig", "martapuig"), contact("facebook", "99", "Marta Puig")
    before = state()
    link = contacts_link(alice, on_x, on_fb)
    on_x.refresh_from_db()
    on_fb.refresh_from_db()
    assert on_x.person_id == on_fb.person_id == link.person_id and link.person.display_name == "Marta Puig"
    person_link_undo(alice, link)
    assert state() == before
    assert list(AuditEvent.objects.filter(verb__startswith="person.").values_list("verb", flat=True).order_by("id")) == [
        "person.link", "person.link_undo"]
    assert PersonLink.objects.get().undone_at is not None  # the record stays


def test_merging_two_persons_and_undo_restores_the_exact_prior_state(accounts, alice):
    a = Person.objects.create(display_name="Marta", notes="Asks about bus 24.")
    b = Person.objects.create(display_name="M. Puig", notes="Prefers Catalan.")
    on_x, on_tg = contact("x", "1", "Marta"), contact("telegram", "7", "")
    on_fb, on_mail = contact("facebook", "99", "M. Puig"), contact("email", "marta@example.org")
    Contact.objects.filter(pk__in=[on_x.pk, on_tg.pk]).update(person=a)
    Contact.objects.filter(pk__in=[on_fb.pk, on_mail.pk]).update(person=b)
    lists = [ContactList.objects.create(name="Press", slug="press"), ContactList.objects.create(name="Council", slug="council")]
    lists[0].people.add(a)
    lists[1].people.add(b)
    on_x.refresh_from_db()
    on_fb.refresh_from_db()
    before = state()

    link = contacts_link(alice, on_x, on_fb)
    assert set(Contact.objects.filter(person=a).values_list("pk", flat=True)) == {on_x.pk, on_tg.pk, on_fb.pk, on_mail.pk}
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.notes == "Asks about bus 24.\n\nPrefers Catalan." and b.merged_into_id == a.pk
    assert set(a.contact_lists.values_list("name", flat=True)) == {"Press", "Council"}

    person_link_undo(alice, link)
    assert state() == before


def test_undo_is_refused_when_it_would_lose_a_later_change(accounts, alice):
    on_x, on_fb, on_tg = contact("x", "1", "Marta Puig"), contact("facebook", "9", "Marta Puig"), contact("telegram", "3")
    first = contacts_link(alice, on_x, on_fb)
    on_x.refresh_from_db()
    second = contacts_link(alice, on_x, on_tg)
    with pytest.raises(LinkRefused, match="later link"):
        person_link_undo(alice, first)
    person_link_undo(alice, second)
    person = Person.objects.get(pk=first.person_id)
    person_notes_set(alice, person, "Called on Monday.")
    with pytest.raises(LinkRefused, match="notes changed"):
        person_link_undo(alice, first)
    assert AuditEvent.objects.filter(verb="person.notes", target_id=str(person.pk)).exists()


def test_a_person_under_legal_hold_is_not_absorbed(accounts, alice, dave):
    held, free = Person.objects.create(display_name="Held"), Person.objects.create(display_name="Free")
    on_x, on_fb = contact("x", "1"), contact("facebook", "2")
    Contact.objects.filter(pk=on_x.pk).update(person=free)
    Contact.objects.filter(pk=on_fb.pk).update(person=held)
    on_x.refresh_from_db()
    on_fb.refresh_from_db()
    LegalHold.objects.create(person=held, reason="FOI request", set_by=dave)
    with pytest.raises(LinkRefused, match="legal hold"):
        contacts_link(alice, on_x, on_fb)
    contacts_link(alice, on_fb, on_x)  # the other way round: the held Person survives
    assert Contact.objects.filter(person=held).count() == 2


# --- Suggestions ----------------------------------------------------------------------------


def test_suggestions_by_handle_name_and_email_normalised_among_visible_contacts(accounts, alice):
    me = contact("x", "1", "Mercè  Puig", "@MercePuig", email="Merce.Puig@Example.org")
    converse(accounts["x"], me)
    by_handle = contact("telegram", "5", "", "mercepuig")
    by_name = contact("facebook", "6", "mercè puig")
    by_email = contact("email", "merce.puig@example.org")
    hidden = contact("x", "8", "Mercè Puig")  # only in team B's conversations
    unrelated = contact("facebook", "9", "Puig")
    for c, account in ((by_handle, "telegram"), (by_name, "facebook"), (by_email, "telegram"),
                       (unrelated, "facebook")):
        converse(accounts[account], c)
    converse(accounts["waste"], hidden)
    found = {s.contact.pk: s.reasons for s in link_suggestions(alice, me)}
    assert found == {by_handle.pk: ["handle"], by_name.pk: ["name"], by_email.pk: ["email"]}


def test_one_click_link_from_the_card_then_undo(accounts, alice):
    me, twin = contact("x", "1", "Jordi Soler", "jsoler"), contact("telegram", "5", "Jordi Soler")
    (conversation,), _ = converse(accounts["x"], me), converse(accounts["telegram"], twin, subject="Telegram")
    client = login(alice)
    html = client.get(reverse("inbox:conversation", args=[conversation.id])).content.decode()
    assert "Possibly the same person" in html and "same name" in html
    response = client.post(reverse("inbox:person-link", args=[conversation.id]), {"contact": twin.pk})
    assert response.status_code == 302
    html = client.get(reverse("inbox:conversation", args=[conversation.id])).content.decode()
    assert "Telegram 0" in html and "Undo the last link" in html and "Possibly the same person" not in html
    link = PersonLink.objects.get()
    client.post(reverse("inbox:person-link-undo", args=[link.pk]),
                {"next": reverse("inbox:conversation", args=[conversation.id])})
    assert Contact.objects.filter(person__isnull=False).count() == 0


def test_cannot_link_a_contact_the_officer_cannot_see(accounts, alice, bob):
    me, theirs = contact("x", "1", "Anna Roca"), contact("x", "2", "Anna Roca")
    (conversation,) = converse(accounts["x"], me)
    converse(accounts["waste"], theirs)
    response = login(alice).post(reverse("inbox:person-link", args=[conversation.id]), {"contact": theirs.pk})
    assert response.status_code == 404
    assert login(bob).post(reverse("inbox:person-link", args=[conversation.id]), {"contact": theirs.pk}).status_code == 404
    assert not Person.objects.exists() and not PersonLink.objects.exists()


# --- The card -------------------------------------------------------------------------------


def test_the_card_shows_the_person_s_conversations_the_viewer_may_see(accounts, alice, carol):
    person = Person.objects.create(display_name="Laia")
    on_x, on_fb, on_tg = (contact("x", "1", "Laia"), contact("facebook", "2", "Laia"), contact("telegram", "3"))
    Contact.objects.filter(pk__in=[on_x.pk, on_fb.pk, on_tg.pk]).update(person=person)
    (current,) = converse(accounts["x"], on_x, subject="Current")
    converse(accounts["facebook"], on_fb, subject="On Facebook")
    converse(accounts["telegram"], on_tg, subject="On Telegram")
    converse(accounts["waste"], on_x, subject="Waste secret")  # team B: alice may not see it
    html = login(alice).get(reverse("inbox:conversation", args=[current.id])).content.decode()
    assert "On Facebook 0" in html and "On Telegram 0" in html and "Waste secret" not in html
    assert "Waste secret 0" in login(carol).get(reverse("inbox:conversation", args=[current.id])).content.decode()


def test_notes_on_the_person_are_edited_and_audited_and_guarded(accounts, alice, bob):
    person = Person.objects.create(display_name="Pau")
    on_x = contact("x", "1", "Pau")
    Contact.objects.filter(pk=on_x.pk).update(person=person)
    (conversation,) = converse(accounts["x"], on_x)
    assert login(bob).post(reverse("inbox:person-notes", args=[person.pk]), {"notes": "hijack"}).status_code == 404
    login(alice).post(reverse("inbox:person-notes", args=[person.pk]), {"notes": "Deaf: prefers text."})
    person.refresh_from_db()
    assert person.notes == "Deaf: prefers text."
    assert AuditEvent.objects.filter(verb="person.notes", actor=alice).count() == 1
    assert "Deaf: prefers text." in login(alice).get(reverse("inbox:conversation", args=[conversation.id])).content.decode()


def test_the_card_costs_the_same_queries_with_many_conversations_and_channels(accounts, alice):
    person = Person.objects.create(display_name="Ona")
    on_x, on_fb, on_tg = (contact("x", "1", "Ona Serra"), contact("facebook", "2", "Ona Serra"), contact("telegram", "3"))
    Contact.objects.filter(pk__in=[on_x.pk, on_fb.pk, on_tg.pk]).update(person=person)
    (current,) = converse(accounts["x"], on_x)
    contacts_link(alice, on_x, contact("telegram", "4", "Ona Serra"))
    client = login(alice)
    url = reverse("inbox:conversation", args=[current.id])
    client.get(url)

    def measure():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    few = measure()
    converse(accounts["facebook"], on_fb, 10)
    converse(accounts["telegram"], on_tg, 10)
    converse(accounts["x"], contact("facebook", "5", "Ona Serra"), 3)  # a suggestion, with conversations
    assert measure() == few
