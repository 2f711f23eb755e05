"""inbox.services.messages_ingest: threading, revisions, reopening, skipping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from inbox.inbound import Action, Attachment, InboundAuthor, InboundMessage
from inbox.models import Contact, Conversation, Message, MessageRevision
from inbox.services import conversation_status_set, messages_ingest

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def item(n, *, thread="t1", text=None, action=Action.CREATE, author="u1", name="Marta Puig", account="city-sim", minutes=None):
    return InboundMessage(
        platform="simulator", account_external_id=account, external_id=f"m{n}", thread_key=thread,
        kind="mention", visibility="public", author=InboundAuthor(author, handle="marta", name=name),
        text=text if text is not None else f"Missatge {n} sobre el contenidor",
        sent_at=T0 + timedelta(minutes=n if minutes is None else minutes), action=action,
        attachments=(Attachment(type="image", url="https://example.org/a.jpg"),),
    )


def test_batch_threads_messages_and_upserts_contacts(sim_account):
    result = messages_ingest([(item(1), None), (item(2), None), (item(3, thread="t2", author="u2"), None)])

    assert len(result.new_message_ids) == 3
    assert len(result.new_conversation_ids) == 2
    assert Conversation.objects.get(thread_key="t1").messages.count() == 2
    assert Message.objects.get(external_id="m1").attachments == [{"type": "image", "url": "https://example.org/a.jpg"}]
    # A later message updates the citizen's profile facts.
    messages_ingest([(item(4, name="Marta Puig i Soler"), None)])
    assert Contact.objects.get(external_id="u1").name == "Marta Puig i Soler"
    assert Contact.objects.count() == 2


def test_ingest_cost_does_not_grow_with_the_batch(sim_account, django_assert_max_num_queries):
    messages_ingest([(item(0), None)])
    with django_assert_max_num_queries(14):
        messages_ingest([(item(n, thread=f"t{n % 40}", author=f"u{n}"), None) for n in range(1, 200)])
    assert Message.objects.count() == 200


def test_edit_keeps_the_previous_text_as_a_revision(sim_account):
    messages_ingest([(item(1, text="El contenidor és ple"), None)])
    edit = item(1, text="El contenidor groc és ple", action=Action.EDIT, minutes=30)

    result = messages_ingest([(edit, None)])
    messages_ingest([(edit, None)])  # redelivered: applied once

    message = Message.objects.get()
    assert result.revised_message_ids == [message.id]
    assert message.text == "El contenidor groc és ple" and message.edited_at is not None
    assert list(MessageRevision.objects.values_list("action", "previous_text")) == [("edit", "El contenidor és ple")]


def test_deletion_is_recorded_not_erased(sim_account):
    messages_ingest([(item(1, text="Text original"), None)])
    messages_ingest([(item(1, text="", action=Action.DELETE, minutes=60), None)])

    message = Message.objects.get()
    assert message.deleted_at is not None
    assert message.text == "Text original"
    assert message.revisions.get().action == "delete"


def test_edit_of_a_message_never_seen_is_kept_as_a_new_message(sim_account):
    messages_ingest([(item(5, text="Editat", action=Action.EDIT), None)])
    assert Message.objects.get().text == "Editat"


def test_citizen_writing_again_reopens_a_resolved_conversation(sim_account, dave):
    messages_ingest([(item(1), None)])
    conversation = Conversation.objects.get()
    conversation_status_set(conversation=conversation, user=dave, status=Conversation.Status.RESOLVED)

    messages_ingest([(item(2), None)])

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.resolved_at is None


def test_unknown_account_is_skipped(sim_account):
    result = messages_ingest([(item(1, account="nobody"), None)])
    assert result.skipped == 1 and not Message.objects.exists()


def test_message_uniqueness_is_the_database_s_job(sim_account):
    """Two workers with the same item: the constraint, not Python, decides."""
    messages_ingest([(item(1), None)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM inbox_message WHERE external_id = 'm1'")
        assert cursor.fetchone()[0] == 1
    assert messages_ingest([(item(1), None)]).new_message_ids == []


def test_create_and_its_edits_in_one_batch_keep_every_version(sim_account):
    result = messages_ingest([
        (item(1, text="v1"), None),
        (item(1, text="v2", action=Action.EDIT, minutes=10), None),
        (item(1, text="v3", action=Action.EDIT, minutes=20), None),
    ])

    message = Message.objects.get()
    assert message.text == "v3"
    assert list(message.revisions.values_list("previous_text", flat=True)) == ["v1", "v2"]
    assert result.revised_message_ids == [message.id, message.id]


def test_create_and_delete_in_one_batch_records_the_deletion(sim_account):
    messages_ingest([(item(1, text="original"), None), (item(1, text="", action=Action.DELETE, minutes=5), None)])
    message = Message.objects.get()
    assert message.deleted_at is not None and message.text == "original"


def test_two_edits_of_a_message_never_seen_keep_both(sim_account):
    messages_ingest([
        (item(1, text="v3", action=Action.EDIT, minutes=20), None),
        (item(1, text="v2", action=Action.EDIT, minutes=10), None),
    ])
    message = Message.objects.get()
    assert message.text == "v3"
    assert list(message.revisions.values_list("previous_text", flat=True)) == ["v2"]


def test_nul_characters_from_a_platform_do_not_break_storage(sim_account):
    messages_ingest([(item(1, text="Hola\x00 món", name="Marta\x00"), None)])
    message = Message.objects.select_related("author_contact").get()
    assert message.text == "Hola món" and message.author_contact.name == "Marta"


def test_existing_conversation_is_updated_from_its_current_row(sim_account, dave):
    """The refresh re-reads the row: an officer's change since the lookup is not undone."""
    messages_ingest([(item(1), None)])
    conversation = Conversation.objects.get()
    Conversation.objects.filter(id=conversation.id).update(status=Conversation.Status.SPAM)

    messages_ingest([(item(2), None)])

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.SPAM
    assert conversation.last_message_preview.startswith("Missatge 2")
