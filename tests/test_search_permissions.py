"""Search never crosses a team (issue 11, "Working faster", made fast).

The queue's search box and the API's ``?search=`` share ``conversation_search_q``; it reads
candidate ids from the trigram indexes (or, for a common term, an ``IN (subquery)`` form) and
is always combined with ``conversations_for_user``. These tests hold the permissions the same
on both forms: another team's conversations are never found, by text, handle or reference,
and a reference is answered by primary key alone.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from inbox import selectors
from inbox.models import Conversation
from tests.conftest import login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/conversations/"


def queue_ids(client, **params) -> list[int]:
    response = client.get(reverse("inbox:queue"), {"view": "team", "status": "all", **params})
    assert response.status_code == 200
    return sorted(c.id for c in response.context["conversations"])


def api_ids(client, **params) -> list[int]:
    response = client.get(API, params)
    assert response.status_code == 200, response.content
    return sorted(c["id"] for c in response.json()["results"])


@pytest.fixture
def teams(sim_account, team_a, team_b):
    """Two conversations of team A, two of team B and one no team has yet, all about a lamp post;
    one of team B from a citizen whose handle is searched."""
    events = [
        sim_event(1, author="marta", text="La farola del carrer Verdi no s'encén"),
        sim_event(2, author="jordi", text="Una altra farola trencada a Gràcia"),
        sim_event(3, author="anna", text="Farola apagada al carrer de Sants"),
        sim_event(4, author="quimet", text="La farola de davant de casa parpelleja"),
        sim_event(5, author="pere", text="Farola caiguda a la plaça"),
    ]
    assert post_sim(Client(), sim_body(events)).status_code == 200
    by_author = {c.contact.external_id: c for c in Conversation.objects.select_related("contact")}
    Conversation.objects.filter(pk__in=[by_author["anna"].pk, by_author["quimet"].pk]).update(team=team_b)
    Conversation.objects.filter(pk=by_author["pere"].pk).update(team=None)
    return {
        "a": sorted([by_author["marta"].pk, by_author["jordi"].pk]),
        "b": sorted([by_author["anna"].pk, by_author["quimet"].pk]),
        "unrouted": by_author["pere"].pk,
        "quimet": by_author["quimet"].pk,
    }


@pytest.mark.parametrize("candidates", [selectors.SEARCH_CANDIDATES, 1], ids=["ids-first", "common-term"])
def test_search_never_finds_another_teams_conversations(teams, alice, bob, carol, monkeypatch, candidates):
    """Both forms of the condition (candidate ids; the subquery form a common term takes when
    there are more candidates than ``SEARCH_CANDIDATES``) find the same, within the user's teams."""
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATES", candidates)
    officer_a, officer_b, supervisor = login(alice), login(bob), login(carol)
    for query in ("farola", "FAROLA", "carrer"):
        expected_a = [pk for pk in teams["a"] if query.lower() != "carrer" or pk == teams["a"][0]]
        assert queue_ids(officer_a, q=query) == api_ids(officer_a, search=query) == expected_a, query
    assert queue_ids(officer_b, q="farola") == api_ids(officer_b, search="farola") == teams["b"]
    # A supervisor of both teams finds both teams' conversations (and the unrouted one, which
    # only global supervisors see, is found by neither officer).
    found = api_ids(supervisor, search="farola")
    assert set(teams["a"] + teams["b"]) <= set(found)
    assert teams["unrouted"] not in api_ids(officer_a, search="farola") + api_ids(officer_b, search="farola")
    # A handle of team B's citizen: nothing for team A, the conversation for team B.
    for handle in ("h-quimet", "@h-quimet", "quimet"):
        assert queue_ids(officer_a, q=handle) == api_ids(officer_a, search=handle) == [], handle
        assert queue_ids(officer_b, q=handle) == api_ids(officer_b, search=handle) == [teams["quimet"]], handle


def test_a_reference_to_an_invisible_conversation_finds_nothing(teams, alice, bob):
    officer_a, officer_b = login(alice), login(bob)
    invisible = teams["b"][0]
    for query in (f"#{invisible}", str(invisible), f"  #{invisible} "):
        assert queue_ids(officer_a, q=query) == api_ids(officer_a, search=query) == [], query
        assert queue_ids(officer_b, q=query) == api_ids(officer_b, search=query) == [invisible], query
    unrouted = teams["unrouted"]
    assert queue_ids(officer_a, q=f"#{unrouted}") == api_ids(officer_b, search=f"#{unrouted}") == []
    # And the conversation itself stays a 404 for the other team.
    assert officer_a.get(f"{API}{invisible}/").status_code == 404


def test_a_reference_is_answered_by_primary_key_alone(teams, alice):
    """``#123`` or ``123`` is the conversation's number, not a text to look for: a message
    containing that number is not a match."""
    officer_a = login(alice)
    marta, jordi = teams["a"]
    Conversation.objects.filter(pk=jordi).update(subject=f"Reclamació {marta}")
    assert queue_ids(officer_a, q=str(marta)) == api_ids(officer_a, search=f"#{marta}") == [marta]
    assert selectors.conversation_search_q(f"#{marta}") == selectors.Q(pk=marta)
