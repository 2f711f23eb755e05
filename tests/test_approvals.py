"""Reply approvals: the three triggers, the draft's life, refusals, permissions, the API.

The cast (tests/conftest.py): alice officer of team A, bob officer of team B, carol
supervisor of both, dave admin; here also june (a junior of team A) and sam (supervisor of
team B only). Replies go through the real webhook, outbound path and send task (eager).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from channels_adapters.approvals import reply_draft_approve
from channels_adapters.outbound import reply_submit
from inbox.models import (
    AuditEvent,
    ChannelAccount,
    Conversation,
    Message,
    ReplyApproval,
    ReplyDraft,
    Tag,
)
from inbox.permissions import OFFICER, SUPERVISOR, team_member_add
from inbox.services.approvals import (
    DraftNotPending,
    DraftNotSendable,
    reply_approval_reasons,
    reply_draft_return,
)
from tests.conftest import committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def june(team_a, django_user_model):
    user = django_user_model.objects.create_user(username="june", first_name="June")
    team_member_add(team_a, user, OFFICER)
    return user


@pytest.fixture
def sam(team_b, django_user_model):
    user = django_user_model.objects.create_user(username="sam")
    team_member_add(team_b, user, SUPERVISOR)
    return user


@pytest.fixture
def conversation(sim_account, alice) -> Conversation:
    assert post_sim(Client(), sim_body([sim_event(1, text="La parada de Gràcia no té pantalla")])).status_code == 200
    return Conversation.objects.get()


def junior_rule(account: ChannelAccount) -> None:
    account.reply_approval = ReplyApproval.UNPERMITTED
    account.save(update_fields=["reply_approval"])


def submit(user, conversation, text="Gràcies, ho mirem.", option="public", **kwargs):
    conversation = Conversation.objects.select_related("account", "team").get(pk=conversation.pk)
    seen = conversation.messages.order_by("-id").values_list("id", flat=True).first()
    return committed(reply_submit, conversation=conversation, user=user, text=text, option_key=option,
                     last_seen_message_id=kwargs.pop("last_seen_message_id", seen), **kwargs)


def outbound(conversation) -> list[tuple[str, str, str]]:
    return list(conversation.messages.filter(direction=Message.Direction.OUTBOUND).order_by("id")
                .values_list("author_user__username", "text", "delivery_status"))


def verbs(draft) -> list[str]:
    return list(AuditEvent.objects.filter(target_type="inbox.replydraft", target_id=str(draft.pk))
                .order_by("id").values_list("verb", flat=True))


# --- Who needs approval ------------------------------------------------------------------------


def test_without_any_rule_a_reply_goes_out_at_once(conversation, june):
    sent = submit(june, conversation)
    assert isinstance(sent, Message) and outbound(conversation) == [("june", "Gràcies, ho mirem.", "sent")]
    assert not ReplyDraft.objects.exists()


def test_officer_without_the_publish_permission_is_held_when_the_account_asks_for_it(conversation, june, alice,
                                                                                       sim_account):
    junior_rule(sim_account)
    held = submit(june, conversation)
    assert isinstance(held, ReplyDraft) and held.status == ReplyDraft.Status.PENDING
    assert held.reasons == ["officer"] and outbound(conversation) == []
    # The junior's private messages are reviewed too; an officer given the permission on the
    # account publishes at once.
    assert reply_approval_reasons(conversation=conversation, user=june, visibility="private") == ["officer"]
    assign_perm("inbox.publish_without_approval", alice, sim_account)
    assert isinstance(submit(alice, conversation, text="Ja hi som."), Message)
    assert outbound(conversation) == [("alice", "Ja hi som.", "sent")]


def test_a_tag_that_needs_approval_holds_public_replies_only(conversation, june):
    elections = Tag.objects.create(name="Elections", slug="elections", requires_approval=True)
    conversation.tags.add(elections, Tag.objects.create(name="Buses", slug="buses"))
    held = submit(june, conversation)
    assert isinstance(held, ReplyDraft) and held.reasons == ["tag:elections"]
    assert reply_approval_reasons(conversation=conversation, user=june, visibility="private") == []
    assert isinstance(submit(june, conversation, text="Us escric en privat.", option="private"), Message)


def test_every_public_reply_on_an_account_is_held_but_a_supervisor_is_not(conversation, alice, carol, sim_account):
    sim_account.reply_approval = ReplyApproval.ALL_PUBLIC
    sim_account.save(update_fields=["reply_approval"])
    assign_perm("inbox.publish_without_approval", alice, sim_account)  # even the trusted
    held = submit(alice, conversation)
    assert isinstance(held, ReplyDraft) and held.reasons == ["account"]
    # Whoever could approve it is not held (they would approve their own reply).
    assert isinstance(submit(carol, conversation, text="Resposta de la supervisora.",
                             last_seen_message_id=None), Message)


def test_waiting_for_approval_does_not_stop_or_pause_the_response_clock(conversation, june, sim_account):
    junior_rule(sim_account)
    before = Conversation.objects.get(pk=conversation.pk)
    submit(june, conversation)
    after = Conversation.objects.get(pk=conversation.pk)
    assert after.first_response_at is None and after.sla_state == before.sla_state
    assert after.first_response_due_at == before.first_response_due_at and after.status == before.status


# --- The draft's life --------------------------------------------------------------------------


def test_returned_rewritten_approved_and_sent_once(conversation, june, carol, sim_account):
    junior_rule(sim_account)
    draft = submit(june, conversation, text="Ho mirem")
    assert submit(june, conversation, text="Ho mirem avui").pk == draft.pk  # a change replaces the text

    committed(reply_draft_return, draft=draft, user=carol, comment="Digues quan tornarà a funcionar.")
    draft.refresh_from_db()
    assert (draft.status, draft.review_comment, draft.reviewer) == ("returned", "Digues quan tornarà a funcionar.", carol)
    # The composer shows the comment and the text, after a closed browser too (it is on the server).
    page = login(june).get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "returned your reply" in page and "Digues quan tornarà a funcionar." in page
    assert ">Ho mirem avui</textarea>" in page

    rewritten = submit(june, conversation, text="La pantalla tornarà a funcionar demà.")
    assert rewritten.pk == draft.pk and rewritten.status == ReplyDraft.Status.PENDING
    message = committed(reply_draft_approve, draft=rewritten, user=carol)
    assert outbound(conversation) == [("june", "La pantalla tornarà a funcionar demà.", "sent")]
    rewritten.refresh_from_db()
    assert rewritten.status == ReplyDraft.Status.APPROVED and rewritten.message_id == message.id
    with pytest.raises(DraftNotPending):
        committed(reply_draft_approve, draft=rewritten, user=carol)
    assert len(outbound(conversation)) == 1
    assert verbs(draft) == ["reply_draft.submit", "reply_draft.update", "reply_draft.return",
                            "reply_draft.resubmit", "reply_draft.approve"]
    assert AuditEvent.objects.get(verb="message.reply").data["approved_by"] == carol.pk
    assert Conversation.objects.get(pk=conversation.pk).first_response_at is not None


def test_edit_and_approve_sends_the_edit_and_keeps_what_the_author_wrote(conversation, june, carol, sim_account):
    junior_rule(sim_account)
    draft = submit(june, conversation, text="ho mirem")
    committed(reply_draft_approve, draft=draft, user=carol, text="Gràcies, Marta: ho revisem avui.")
    assert outbound(conversation) == [("june", "Gràcies, Marta: ho revisem avui.", "sent")]
    event = AuditEvent.objects.get(verb="reply_draft.approve")
    assert event.data["edited"] is True and event.data["text_as_written"] == "ho mirem"


def test_a_draft_superseded_by_a_colleagues_answer_cannot_be_sent(conversation, june, alice, carol, sim_account):
    junior_rule(sim_account)
    assign_perm("inbox.publish_without_approval", alice, sim_account)
    draft = submit(june, conversation)
    submit(alice, conversation, text="Ja està resolt.")
    with pytest.raises(DraftNotSendable) as refused:
        committed(reply_draft_approve, draft=draft, user=carol)
    assert "Someone answered the citizen" in str(refused.value)
    draft.refresh_from_db()
    assert draft.status == ReplyDraft.Status.SUPERSEDED and outbound(conversation) == [("alice", "Ja està resolt.", "sent")]
    assert verbs(draft)[-1] == "reply_draft.superseded"
    page = login(june).get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "Your reply was not sent:" in page and "Someone answered the citizen" in page


def test_a_draft_superseded_by_the_citizen_writing_again_cannot_be_sent(conversation, june, carol, sim_account):
    junior_rule(sim_account)
    draft = submit(june, conversation)
    post_sim(Client(), sim_body([sim_event(2, thread="t1", text="Ja funciona, gràcies!")]))
    with pytest.raises(DraftNotSendable, match="The citizen wrote again"):
        committed(reply_draft_approve, draft=draft, user=carol)
    assert outbound(conversation) == []


def test_a_draft_whose_platform_no_longer_accepts_the_reply_expires(team_a, june, carol):
    """A public reply under a Facebook comment the citizen deleted while the draft waited."""
    account = ChannelAccount.objects.create(platform="facebook", external_id="page-1", name="City page", simulated=True,
                                            default_team=team_a, reply_approval=ReplyApproval.ALL_PUBLIC)
    from inbox.models import Contact

    contact = Contact.objects.create(platform="facebook", external_id="u1", name="Marta")
    now = timezone.now()
    conversation = Conversation.objects.create(account=account, kind="public", thread_key="fb:comment:post1:c1",
                                               contact=contact, team=team_a, last_inbound_at=now)
    comment = Message.objects.create(conversation=conversation, account=account, direction="in", kind="comment",
                                     visibility="public", external_id="c1", author_contact=contact, text="Hola",
                                     sent_at=now - timedelta(hours=1))
    draft = submit(june, conversation)
    assert isinstance(draft, ReplyDraft)
    Message.objects.filter(pk=comment.pk).update(deleted_at=timezone.now())
    with pytest.raises(DraftNotSendable, match="was deleted"):
        committed(reply_draft_approve, draft=draft, user=carol)
    draft.refresh_from_db()
    assert draft.status == ReplyDraft.Status.EXPIRED and outbound(conversation) == []


def test_author_withdraws_their_draft(conversation, june, sim_account):
    junior_rule(sim_account)
    draft = submit(june, conversation)
    client = login(june)
    assert committed(client.post, reverse("inbox:draft-withdraw", args=[draft.pk])).status_code == 302
    draft.refresh_from_db()
    assert draft.status == ReplyDraft.Status.WITHDRAWN and outbound(conversation) == []


# --- Who may approve ---------------------------------------------------------------------------


def test_an_officer_cannot_approve_and_another_teams_supervisor_gets_a_404(conversation, june, alice, sam, bob,
                                                                          sim_account):
    junior_rule(sim_account)
    draft = submit(june, conversation)
    decide = reverse("inbox:approval-decide", args=[draft.pk])
    api = f"/api/v1/approvals/{draft.pk}/approve/"
    for officer in (alice, june):  # june may not approve her own either
        assert committed(login(officer).post, decide, {"action": "approve"}).status_code == 403
        assert committed(login(officer).post, api, {}, content_type="application/json").status_code == 403
        assert login(officer).get(reverse("inbox:approvals")).status_code == 403
    for other in (sam, bob):
        assert committed(login(other).post, decide, {"action": "approve"}).status_code == 404
        assert committed(login(other).post, api, {}, content_type="application/json").status_code == 404
        assert login(other).get(f"/api/v1/approvals/{draft.pk}/").status_code == 404
    assert login(sam).get("/api/v1/approvals/").json()["results"] == []
    assert "Nothing waits for approval." in login(sam).get(reverse("inbox:approvals")).content.decode()
    draft.refresh_from_db()
    assert draft.status == ReplyDraft.Status.PENDING and outbound(conversation) == []


def test_approvals_page_shows_the_conversation_around_each_draft_in_a_constant_number_of_queries(
        conversation, june, carol, sim_account, django_assert_max_num_queries):
    junior_rule(sim_account)
    submit(june, conversation, text="Resposta de la June")
    client = login(carol)
    client.get(reverse("inbox:approvals"))  # warm the content-type cache
    # 13: 12 and the top bar's unread notifications (one query on every page).
    with django_assert_max_num_queries(13):
        page = client.get(reverse("inbox:approvals")).content.decode()
    assert "Resposta de la June" in page and "La parada de Gràcia no té pantalla" in page
    assert "author needs approval" in page
    # More drafts on more conversations: the same queries.
    for n in range(2, 6):
        post_sim(Client(), sim_body([sim_event(n, author=f"c{n}")]))
        submit(june, Conversation.objects.get(thread_key=f"mention:t{n}"), text=f"Resposta {n}")
    with django_assert_max_num_queries(13):
        page = client.get(reverse("inbox:approvals")).content.decode()
    assert page.count('class="card approval"') == 5


def test_supervisor_returns_and_approves_from_the_page(conversation, june, carol, sim_account):
    junior_rule(sim_account)
    draft = submit(june, conversation)
    client = login(carol)
    decide = reverse("inbox:approval-decide", args=[draft.pk])
    assert committed(client.post, decide, {"action": "return", "comment": ""}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == ReplyDraft.Status.PENDING  # a return needs a comment
    committed(client.post, decide, {"action": "return", "comment": "Més concret, si us plau."})
    draft.refresh_from_db()
    assert draft.status == ReplyDraft.Status.RETURNED
    draft = submit(june, conversation, text="Demà a les 9 h tornarà a funcionar.")
    response = committed(client.post, decide, {"action": "approve", "text": draft.text}, follow=True)
    assert "Approved: the reply is queued for sending." in response.content.decode()
    assert outbound(conversation) == [("june", "Demà a les 9 h tornarà a funcionar.", "sent")]


# --- API ---------------------------------------------------------------------------------------


def test_api_reply_that_needs_approval_is_a_202_with_the_draft_then_listed_returned_and_approved(
        conversation, june, carol, sim_account):
    junior_rule(sim_account)
    seen = conversation.messages.get().id
    reply = committed(login(june).post, f"/api/v1/conversations/{conversation.pk}/reply/", content_type="application/json",
                      data={"text": "Ho mirem.", "option": "public", "last_seen_message_id": seen})
    assert reply.status_code == 202
    body = reply.json()
    assert body["status"] == "pending" and body["reasons"] == ["officer"] and body["last_seen_message_id"] == seen
    supervisor = login(carol)
    listed = supervisor.get("/api/v1/approvals/").json()["results"]
    assert [d["id"] for d in listed] == [body["id"]] and listed[0]["author"]["username"] == "june"

    returned = committed(supervisor.post, f"/api/v1/approvals/{body['id']}/return/", content_type="application/json",
                         data={"comment": "Afegeix l'horari."})
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    assert supervisor.get("/api/v1/approvals/").json()["results"] == []
    again = committed(login(june).post, f"/api/v1/conversations/{conversation.pk}/reply/",
                      content_type="application/json",
                      data={"text": "Ho mirem; horari: 9-14 h.", "option": "public", "last_seen_message_id": seen})
    assert again.status_code == 202 and again.json()["id"] == body["id"]
    approved = committed(supervisor.post, f"/api/v1/approvals/{body['id']}/approve/", content_type="application/json",
                         data={})
    assert approved.status_code == 201 and approved.json()["text"] == "Ho mirem; horari: 9-14 h."
    twice = committed(supervisor.post, f"/api/v1/approvals/{body['id']}/approve/", content_type="application/json",
                      data={})
    assert twice.status_code == 412 and len(outbound(conversation)) == 1


def test_api_approving_a_superseded_draft_is_a_409_that_says_why(conversation, june, carol, sim_account):
    junior_rule(sim_account)
    draft = submit(june, conversation)
    post_sim(Client(), sim_body([sim_event(2, thread="t1", text="Hola?")]))
    response = committed(login(carol).post, f"/api/v1/approvals/{draft.pk}/approve/",
                         content_type="application/json", data={})
    assert response.status_code == 409
    assert response.json()["draft"]["status"] == "superseded" and "wrote again" in response.json()["detail"]


def test_the_schema_describes_drafts_and_approvals(dave):
    schema = login(dave).get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/approvals/", "/api/v1/approvals/{id}/approve/", "/api/v1/approvals/{id}/return/"):
        assert path in schema
    assert "ReplyDraft" in schema and ("'202'" in schema or '"202"' in schema)
