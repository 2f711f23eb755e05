"""The audit trail is append-only in PostgreSQL and hash-chained: audit_verify finds a row
deleted or altered behind the application's back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from inbox.audit import audit_chain_verify, audit_record, audit_seal
from inbox.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(team_a, dave):
    for n in range(6):
        audit_record(dave, "team.touch", team_a, n=n, text="«Ç'est» ☃")
    assert audit_seal(now=timezone.now() + timedelta(minutes=1)) == 6
    return list(AuditEvent.objects.order_by("seal_seq"))


def _behind_the_applications_back(sql: str, params=()):
    """As a database superuser would: with triggers off for this session."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def test_an_intact_trail_verifies_and_sealing_again_is_a_no_op(trail, capsys):
    assert [e.seal_seq for e in trail] == [1, 2, 3, 4, 5, 6]
    assert audit_seal(now=timezone.now() + timedelta(minutes=1)) == 0
    call_command("audit_verify")
    assert "intact. 6 sealed" in capsys.readouterr().out


def test_rows_keep_being_chained_after_the_first_seal(trail, team_a):
    audit_record(None, "team.touch", team_a, n=7)
    audit_seal(now=timezone.now() + timedelta(minutes=1))
    report = audit_chain_verify()
    assert report.sealed == 7 and report.problems == []


def test_the_database_refuses_update_and_delete(trail):
    for statement in ("UPDATE inbox_auditevent SET verb = 'nothing' WHERE id = %s",
                      "DELETE FROM inbox_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [trail[2].id])


def test_audit_verify_reports_a_row_deleted_behind_the_applications_back(trail):
    _behind_the_applications_back("DELETE FROM inbox_auditevent WHERE id = %s", [trail[2].id])
    with pytest.raises(CommandError, match="tampered"):
        call_command("audit_verify")
    assert "rows 3 to 3 of the chain are missing" in audit_chain_verify().problems[0]


def test_audit_verify_reports_a_row_altered_behind_the_applications_back(trail):
    _behind_the_applications_back(
        "UPDATE inbox_auditevent SET data = '{\"n\": 99}'::jsonb WHERE id = %s", [trail[4].id]
    )
    problems = audit_chain_verify().problems
    assert problems == [f"event {trail[4].id} (place 5) was altered"]
