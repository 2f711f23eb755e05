"""The public record: FOI and data-subject exports (content, manifest re-hashed, who may ask
and who may download), legal holds, retention (stable tokens, holds respected, resumable after
a crash), erasure with its legal basis, and the audit trail's search and CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from channels_adapters.outbound import reply_submit
from inbox.models import (
    AuditEvent,
    Contact,
    Conversation,
    ConversationPseudonymisation,
    LegalHold,
    Message,
    Person,
    RawEvent,
    RecordExport,
    RetentionPolicy,
    RetentionRun,
)
from inbox.permissions import SUPERVISOR, team_member_add
from inbox.records import retention as retention_module
from inbox.records.exports import exports_expire
from inbox.records.holds import legal_hold_set
from inbox.records.retention import person_data_remove, retention_run
from inbox.records.scrub import value_token
from inbox.services import conversation_note_add
from tests.conftest import PASSWORD, committed, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db

OLD = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PHONE, EMAIL, DNI = "612 345 678", "maria.puig@example.org", "12345678Z"


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.RECORDS_EXPORT_DIR = tmp_path / "exports"
    return settings.RECORDS_EXPORT_DIR


def deliver(*events, account="city-sim"):
    post_sim(Client(), sim_body(list(events), account))


def conversation(thread: str) -> Conversation:
    return Conversation.objects.get(thread_key=f"mention:{thread}")


def download(client, export: RecordExport) -> zipfile.ZipFile:
    response = client.get(f"/records/exports/{export.uuid}/download/")
    assert response.status_code == 200, response.status_code
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == export.sha256
    return zipfile.ZipFile(io.BytesIO(data))


def assert_manifest_true(archive: zipfile.ZipFile) -> list[str]:
    """Every file but the manifest is listed, and each one re-hashes to its entry."""
    manifest = json.loads(archive.read("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json", "manifest.sha256"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"], path
    lines = archive.read("manifest.sha256").decode().splitlines()
    assert sorted(lines) == sorted(f"{e['sha256']}  {p}" for p, e in listed.items())
    return sorted(listed)


def export_via_page(client, **fields) -> RecordExport:
    response = committed(client.post, "/records/exports/", fields)
    assert response.status_code == 302, response.content.decode()[:500]
    export = RecordExport.objects.get(uuid=response["Location"].rstrip("/").split("/")[-1])
    assert export.status == RecordExport.Status.READY, export.error
    return export


# --- FOI exports ----------------------------------------------------------------------------------


def test_foi_export_of_a_conversation_holds_messages_revisions_raw_payloads_and_a_true_manifest(sim_account, alice):
    deliver(sim_event(1, text="Hola <script>alert(1)</script> el bus 24?"))
    deliver(sim_event(1, text="Hola, el bus 24 no pasa", type="edit", at=timezone.now()))
    c = conversation("t1")
    committed(reply_submit, conversation=c, user=alice, text="Lo miramos, gracias.", option_key="public")
    conversation_note_add(conversation=c, user=alice, text="nota interna: llamar a TMB")
    client = login(alice)

    export = export_via_page(client, conversation=c.pk)
    archive = download(client, export)

    files = assert_manifest_true(archive)
    assert {"index.html", "transcript.css", "export.json", f"conversations/{c.pk}/messages.json",
            f"conversations/{c.pk}/transcript.html"} <= set(files)
    data = json.loads(archive.read(f"conversations/{c.pk}/messages.json"))
    texts = [m["text"] for m in data["messages"]]
    assert texts == ["Hola, el bus 24 no pasa", "Lo miramos, gracias."]  # the note is left out by default
    (inbound,) = [m for m in data["messages"] if m["direction"] == "in"]
    assert inbound["revisions"][0]["action"] == "edit"
    assert inbound["revisions"][0]["previous_text"] == "Hola <script>alert(1)</script> el bus 24?"
    # Each delivery the message and its edit came in, byte for byte.
    raw_ids = {inbound["raw_event"], inbound["revisions"][0]["raw_event"]}
    for raw in RawEvent.objects.filter(id__in=raw_ids):
        entry = json.loads(archive.read(f"raw/{raw.pk}.json"))
        assert entry["body_text"].encode() == bytes(raw.body)
        assert entry["body_sha256"] == hashlib.sha256(bytes(raw.body)).hexdigest()
    transcript = archive.read(f"conversations/{c.pk}/transcript.html").decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in transcript and "<script" not in transcript
    assert "src=" not in transcript and 'href="http' not in transcript and "//" not in transcript.split("<body>")[1]
    verbs = list(AuditEvent.objects.filter(target_type="inbox.recordexport", target_id=str(export.pk))
                 .order_by("id").values_list("verb", "actor"))
    assert verbs == [("record_export.request", alice.pk), ("record_export.ready", None),
                     ("record_export.download", alice.pk)]


def test_notes_are_exported_only_when_asked(sim_account, alice):
    deliver(sim_event(1))
    c = conversation("t1")
    conversation_note_add(conversation=c, user=alice, text="nota interna")
    archive = download(login(alice), export_via_page(login(alice), conversation=c.pk, notes="on"))
    data = json.loads(archive.read(f"conversations/{c.pk}/messages.json"))
    assert [m["direction"] for m in data["messages"]] == ["in", "note"]


def test_a_delivery_that_also_carried_other_conversations_is_not_copied(sim_account, alice):
    deliver(sim_event(1, text="primer"), sim_event(2, text="segon, d'una altra persona", author="citizen-2"))
    c = conversation("t1")
    archive = download(login(alice), export_via_page(login(alice), conversation=c.pk))
    (raw_name,) = [n for n in archive.namelist() if n.startswith("raw/")]
    entry = json.loads(archive.read(raw_name))
    assert "withheld" in entry and "body_text" not in entry and "segon" not in archive.read(raw_name).decode()
    assert entry["body_sha256"] == hashlib.sha256(bytes(RawEvent.objects.get().body)).hexdigest()


def test_one_day_of_one_account_is_the_whole_local_day(sim_account, alice):
    day = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 00:30 on the 21st in Madrid
    deliver(sim_event(1, at=day - timedelta(hours=2)), sim_event(2, at=day), sim_event(3, at=day + timedelta(days=1)))
    export = export_via_page(login(alice), date_from="2026-11-21", date_to="2026-11-21", account=sim_account.pk)
    archive = download(login(alice), export)
    assert [n for n in archive.namelist() if n.endswith("messages.json")] == [
        f"conversations/{conversation('t2').pk}/messages.json"]
    assert export.counts["conversations"] == 1


def test_an_officer_cannot_export_another_teams_conversation(sim_account, alice, bob):
    deliver(sim_event(1))
    c = conversation("t1")
    response = committed(login(bob).post, "/records/exports/", {"conversation": c.pk})
    assert response.status_code == 404
    # Not even with an invalid rest of the form: permission first.
    assert committed(login(bob).post, "/records/exports/", {"conversation": c.pk, "date_from": "nope"}).status_code == 404
    assert not RecordExport.objects.exists()
    # The account as a whole: bob's export holds none of team A's conversations.
    export = export_via_page(login(bob), account=sim_account.pk)
    assert export.counts["conversations"] == 0 and "conversations/" not in " ".join(download(login(bob), export).namelist())


def test_only_the_requester_downloads_an_export(sim_account, alice, bob, carol, dave):
    deliver(sim_event(1))
    export = export_via_page(login(alice), conversation=conversation("t1").pk)
    for other in (bob, carol, dave):
        assert login(other).get(f"/records/exports/{export.uuid}/download/").status_code == 404
        assert login(other).get(f"/records/exports/{export.uuid}/").status_code == 404
    assert Client().get(f"/records/exports/{export.uuid}/download/").status_code == 302  # to the login page
    assert not AuditEvent.objects.filter(verb="record_export.download").exists()
    progress = login(alice).get(f"/records/exports/{export.uuid}/", {"format": "json"}).json()
    assert progress == {"status": "ready", "status_label": "Ready", "done": 2, "total": 2, "ready": True}


def test_an_expired_export_is_deleted_and_gone(sim_account, alice, export_dir):
    deliver(sim_event(1))
    export = export_via_page(login(alice), conversation=conversation("t1").pk)
    assert (export_dir / f"{export.uuid}.zip").exists()
    assert exports_expire(now=timezone.now() + timedelta(days=30)) == 1
    assert not (export_dir / f"{export.uuid}.zip").exists()
    assert login(alice).get(f"/records/exports/{export.uuid}/download/").status_code == 410
    assert AuditEvent.objects.filter(verb="record_export.expire").count() == 1


# --- Data subjects ---------------------------------------------------------------------------------


@pytest.fixture
def maria(sim_account):
    """One citizen with two identities (two contacts of one Person), three conversations."""
    deliver(sim_event(1, author="maria", text=f"Soc la Maria, el meu telèfon és {PHONE}", at=OLD))
    deliver(sim_event(2, author="maria-alt", text=f"Escriviu-me a {EMAIL}, DNI {DNI}. Bus 24.", at=OLD))
    deliver(sim_event(3, author="joan", text=f"Jo també, truqueu al {PHONE}", at=OLD))
    person = Person.objects.create(display_name="Maria Puig")
    Contact.objects.filter(external_id__in=["maria", "maria-alt"]).update(person=person, name="Maria Puig")
    return person


def test_data_subject_export_holds_everything_about_the_person(maria, alice, dave):
    assert login(alice).post(f"/records/people/{maria.pk}/export/").status_code == 403
    client = login(dave)
    client.get(f"/inbox/c/{conversation('t1').pk}/")  # a view of her conversation: in her audit.json
    response = committed(client.post, f"/records/people/{maria.pk}/export/")
    export = RecordExport.objects.get(kind=RecordExport.Kind.DSAR)
    assert response["Location"] == f"/records/exports/{export.uuid}/"
    archive = download(client, export)
    files = assert_manifest_true(archive)
    person = json.loads(archive.read("person.json"))
    assert person["person"]["display_name"] == "Maria Puig"
    assert {c["external_id"] for c in person["contacts"]} == {"maria", "maria-alt"}
    ids = {conversation("t1").pk, conversation("t2").pk}
    assert {f for f in files if f.endswith("messages.json")} == {f"conversations/{i}/messages.json" for i in ids}
    audit = json.loads(archive.read("audit.json"))
    assert ("conversation.view", str(conversation("t1").pk)) in {(e["verb"], e["target_id"]) for e in audit}
    assert AuditEvent.objects.filter(verb="record_export.request", actor=dave).exists()


def test_erasure_asks_for_the_legal_basis_records_it_and_refuses_on_hold(maria, dave):
    client = login(dave)
    url = f"/records/people/{maria.pk}/remove/"
    refused = client.post(url, {"action": "erase", "explanation": "ticket 42", "confirm": "on"})
    assert refused.status_code == 422 and "This field is required" in refused.content.decode()
    hold = legal_hold_set(actor=dave, person=maria, reason="Litigation 2026/17")
    held = client.post(url, {"action": "erase", "basis": "consent_withdrawn", "explanation": "ticket 42", "confirm": "on"})
    assert held.status_code == 409 and "legal hold" in held.content.decode()
    assert Message.objects.filter(text__contains=PHONE).count() == 2  # untouched

    client.post(f"/records/holds/{hold.pk}/release/", {"release-reason": "case closed"})
    done = client.post(url, {"action": "erase", "basis": "consent_withdrawn", "explanation": "ticket 42", "confirm": "on"})
    assert done.status_code == 302
    assert set(Message.objects.filter(conversation__contact__person=maria).values_list("text", flat=True)) == {"[erased]"}
    assert not Contact.objects.filter(person=maria).exclude(name="[erased]").exists()
    assert Message.objects.get(conversation=conversation("t3")).text == f"Jo també, truqueu al {PHONE}"  # not hers
    for raw in RawEvent.objects.filter(messages__conversation__contact__person=maria):
        assert PHONE not in bytes(raw.body).decode() and "Maria" not in bytes(raw.body).decode()
    event = AuditEvent.objects.get(verb="person.erase")
    assert event.actor == dave and event.data["basis"] == "consent_withdrawn" and event.data["explanation"] == "ticket 42"
    assert event.data["conversations"] == 2 and event.data["messages"] == 2
    assert list(AuditEvent.objects.filter(verb__startswith="legal_hold.").order_by("id").values_list("verb", flat=True)) == [
        "legal_hold.set", "legal_hold.release"]


def test_pseudonymising_a_person_uses_the_same_stable_tokens(maria, dave):
    person_data_remove(person=maria, actor=dave, basis="archiving", explanation="art. 89")
    first = Message.objects.get(conversation=conversation("t1")).text
    assert first == f"Soc la {value_token('name', 'Maria')}, el meu telèfon és {value_token('phone', PHONE)}"
    second = Message.objects.get(conversation=conversation("t2")).text
    assert second == f"Escriviu-me a {value_token('email', EMAIL)}, DNI {value_token('id', DNI)}. Bus 24."
    maria.refresh_from_db()
    assert maria.display_name == value_token("name", "Maria Puig")


# --- Retention ------------------------------------------------------------------------------------------


@pytest.fixture
def kept_a_year(sim_account):
    return RetentionPolicy.objects.create(account=sim_account, keep_months=12)


def test_retention_pseudonymises_with_stable_tokens_and_keeps_the_figures(maria, kept_a_year):
    deliver(sim_event(4, author="maria", text=f"Encara espero, {PHONE}", at=NOW - timedelta(days=10)))
    recent = conversation("t4")
    report = retention_run(now=NOW)

    assert report.due == 3 and report.counts["conversations"] == 3
    phone = value_token("phone", PHONE)
    assert Message.objects.get(conversation=conversation("t1")).text == (
        f"Soc la {value_token('name', 'Maria')}, el meu telèfon és {phone}")
    # The same number in another citizen's conversation gets the same token.
    assert Message.objects.get(conversation=conversation("t3")).text == f"Jo també, truqueu al {phone}"
    assert "Bus 24." in Message.objects.get(conversation=conversation("t2")).text  # figures and shape kept
    raw = bytes(RawEvent.objects.get(messages__conversation=conversation("t1")).body).decode()
    assert PHONE not in raw and phone in raw and '"maria"' not in raw
    # Her contact still writes in a recent conversation: it keeps its identity until that one is due.
    assert Message.objects.get(conversation=recent).text == f"Encara espero, {PHONE}"
    assert not Contact.objects.get(external_id="maria").name.startswith("[name:")
    joan = Contact.objects.get(conversations=conversation("t3"))
    assert joan.external_id == value_token("uid", "joan") and joan.name == value_token("name", "Citizen joan")
    # Times and counts are untouched.
    assert Conversation.objects.get(pk=conversation("t1").pk).first_inbound_at == OLD
    batch = AuditEvent.objects.get(verb="retention.batch")
    assert batch.data["conversations"] == 3 and batch.data["messages"] == 3 and batch.data["replacements"] >= 5
    run = AuditEvent.objects.get(verb="retention.run")
    assert run.data["conversations"] == 3 and run.target_id == str(report.run_id)
    assert retention_run(now=NOW).counts == {}  # nothing left: running again is a no-op


def test_retention_leaves_held_conversations_and_people_alone(maria, kept_a_year, dave):
    legal_hold_set(actor=dave, person=maria, reason="FOI appeal")
    legal_hold_set(actor=dave, conversation=conversation("t3"), reason="Complaint 77")
    report = retention_run(now=NOW)
    assert report.held == 3 and report.due == 0
    assert Message.objects.filter(text__contains=PHONE).count() == 2
    assert not ConversationPseudonymisation.objects.exists()
    held_page = login(dave).get(f"/inbox/c/{conversation('t3').pk}/").content.decode()
    assert "This conversation is on legal hold." in held_page and "Complaint 77" in held_page


def test_retention_continues_after_a_crash_mid_batch(sim_account, kept_a_year, monkeypatch):
    for n in range(1, 6):
        deliver(sim_event(n, author=f"citizen-{n}", text=f"Truqueu-me al {PHONE}", at=OLD))
    real, calls = retention_module.conversation_scrub, []

    def crashes_on_the_fourth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(retention_module, "conversation_scrub", crashes_on_the_fourth)
    with pytest.raises(RuntimeError):
        retention_run(now=NOW, batch=2)
    # Batches one and two are done; the third, where it crashed, left nothing half done.
    assert ConversationPseudonymisation.objects.count() == 2
    assert Message.objects.filter(text__contains=PHONE).count() == 3
    assert RetentionRun.objects.get().finished_at is None
    assert AuditEvent.objects.filter(verb="retention.batch").count() == 1

    monkeypatch.setattr(retention_module, "conversation_scrub", real)
    report = retention_run(now=NOW, batch=2)
    assert report.counts["conversations"] == 3
    assert ConversationPseudonymisation.objects.count() == 5
    assert set(Message.objects.values_list("text", flat=True)) == {f"Truqueu-me al {value_token('phone', PHONE)}"}


def test_retention_run_command_dry_run_changes_nothing(maria, kept_a_year, capsys):
    call_command("retention_run", "--dry-run")
    out = capsys.readouterr().out
    assert "City (simulated): 3 conversation(s) past retention" in out and "Dry run" in out
    assert Message.objects.filter(text__contains=PHONE).count() == 2 and not RetentionRun.objects.exists()
    call_command("retention_run")
    assert "Pseudonymised" in capsys.readouterr().out and not Message.objects.filter(text__contains=PHONE).exists()


def test_admins_edit_retention_policies(sim_account, dave, alice):
    assert login(alice).get("/records/retention/").status_code == 403
    assert login(alice).post(f"/records/retention/{sim_account.pk}/", {f"a{sim_account.pk}-keep_months": "6"}).status_code == 403
    client = login(dave)
    client.post(f"/records/retention/{sim_account.pk}/", {f"a{sim_account.pk}-keep_months": "24"})
    assert RetentionPolicy.objects.get(account=sim_account).keep_months == 24
    client.post(f"/records/retention/{sim_account.pk}/", {f"a{sim_account.pk}-keep_months": ""})
    assert RetentionPolicy.objects.get(account=sim_account).keep_months is None
    assert list(AuditEvent.objects.filter(verb="retention_policy.change").order_by("id").values_list("data", flat=True)) == [
        {"previous": None, "keep_months": 24}, {"previous": 24, "keep_months": None}]


def test_legal_hold_on_a_conversation_is_set_by_admins_only(sim_account, alice, dave):
    deliver(sim_event(1))
    c = conversation("t1")
    assert login(alice).post(f"/records/conversations/{c.pk}/hold/", {"reason": "x"}).status_code == 403
    assert "Put on legal hold" not in login(alice).get(f"/inbox/c/{c.pk}/").content.decode()
    login(dave).post(f"/records/conversations/{c.pk}/hold/", {"reason": "Ombudsman case 12"})
    hold = LegalHold.objects.get(conversation=c)
    assert hold.set_by == dave and hold.reason == "Ombudsman case 12"
    page = login(alice).get(f"/inbox/c/{c.pk}/").content.decode()
    assert "This conversation is on legal hold." in page and "Release the hold" not in page
    assert AuditEvent.objects.get(verb="legal_hold.set").target_id == str(c.pk)


# --- The audit trail ----------------------------------------------------------------------------------------


@pytest.fixture
def sue(django_user_model, team_a):
    """Supervisor of team A only."""
    user = django_user_model.objects.create_user(username="sue", password=PASSWORD)
    team_member_add(team_a, user, SUPERVISOR)
    return user


def test_the_trail_shows_supervisors_their_teams_and_admins_everything(sim_account, alice, bob, sue, dave, team_b):
    deliver(sim_event(1))
    ours = conversation("t1")
    theirs = Conversation.objects.create(account=sim_account, kind="public", thread_key="x", contact=ours.contact, team=team_b)
    login(alice).get(f"/inbox/c/{ours.pk}/")
    login(bob).get(f"/inbox/c/{theirs.pk}/")

    assert login(alice).get("/records/audit/").status_code == 403
    page = login(sue).get("/records/audit/", {"verb": "conversation.view"}).content.decode()
    assert f"inbox.conversation #{ours.pk}" in page and f"#{theirs.pk}<" not in page
    everything = login(dave).get("/records/audit/", {"verb": "conversation.view"}).content.decode()
    assert f"inbox.conversation #{ours.pk}" in everything and f"inbox.conversation #{theirs.pk}" in everything
    by_bob = login(dave).get("/records/audit/", {"person": "bob"}).content.decode()
    assert f"#{theirs.pk}" in by_bob and f"inbox.conversation #{ours.pk}" not in by_bob
    views = AuditEvent.objects.filter(verb="audit.view").order_by("id")
    assert [(e.actor.username, e.data["filters"]) for e in views] == [
        ("sue", {"verb": "conversation.view"}), ("dave", {"verb": "conversation.view"}), ("dave", {"person": "bob"})]


def test_the_trail_is_paged_by_keyset(dave, team_a):
    from inbox.audit import audit_record_many

    audit_record_many(dave, "team.touch", [(team_a, {"n": n}) for n in range(120)])
    client = login(dave)
    first = client.get("/records/audit/", {"verb": "team.touch"})
    assert first.content.decode().count('data-verb="team.touch"') == 50
    next_url = first.context["next_url"]
    second = client.get("/records/audit/" + next_url)
    rows = second.context["events"]
    assert len(rows) == 50 and rows[0].data["n"] == 69 and rows[-1].data["n"] == 20
    third = client.get("/records/audit/" + second.context["next_url"])
    assert len(third.context["events"]) == 20 and third.context["next_url"] == ""


def test_the_trail_exports_as_csv_and_the_export_is_audited(sim_account, alice, sue, dave):
    deliver(sim_event(1, author="=cmd|' /C calc'!A0"))
    c = conversation("t1")
    login(alice).get(f"/inbox/c/{c.pk}/")
    from inbox.audit import audit_record

    audit_record(alice, "conversation.tag", c, tag="=HYPERLINK(\"http://evil\")")
    response = login(sue).get("/records/audit/csv/", {"target_type": "inbox.conversation", "target_id": str(c.pk)})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv") and response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "created_at", "actor", "verb"]
    assert {"conversation.tag", "conversation.view"} <= {r[3] for r in rows[1:]}
    assert {r[5] for r in rows[1:]} == {str(c.pk)}
    assert rows[1][6].startswith("'") or rows[1][6].startswith("{")  # a JSON cell, never a formula
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    export = AuditEvent.objects.get(verb="audit.export")
    assert export.actor == sue and export.data["filters"] == {"target_type": "inbox.conversation", "target_id": str(c.pk)}


def test_viewing_a_conversation_and_exporting_the_dashboard_are_audited(sim_account, alice, carol):
    deliver(sim_event(1))
    c = conversation("t1")
    client = login(alice)
    client.get(f"/inbox/c/{c.pk}/")
    client.get(f"/inbox/c/{c.pk}/", {"fragment": "live"})  # a live refresh is not a new view
    assert list(AuditEvent.objects.filter(verb="conversation.view").values_list("actor", "target_id")) == [
        (alice.pk, str(c.pk))]
    assert login(carol).get("/api/v1/dashboard/", {"format": "csv"}).status_code == 200
    assert AuditEvent.objects.get(verb="dashboard.export").actor == carol


def test_changes_in_the_admin_site_are_copied_to_the_trail(dave, alice):
    response = login(dave).post(f"/admin/auth/user/{alice.pk}/change/", {
        "username": "alice", "first_name": "Alícia", "last_name": "", "email": "", "is_active": "on",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    })
    assert response.status_code == 302, response.content.decode()[:300]
    event = AuditEvent.objects.get(verb="admin.change")
    assert (event.actor, event.target_type, event.target_id) == (dave, "auth.user", str(alice.pk))
    assert "First name" in event.data["change"]


def test_the_trail_and_the_exports_pages_keep_their_query_budgets(sim_account, dave, team_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox.audit import audit_record_many

    client = login(dave)

    def measure(url) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    measure("/records/audit/")
    measure("/records/exports/")
    audit_record_many(dave, "team.touch", [(team_a, {"n": n}) for n in range(5)])
    RecordExport.objects.create(requester=dave, kind="foi", scope={"account": sim_account.pk})
    small_trail, small_exports = measure("/records/audit/"), measure("/records/exports/")
    audit_record_many(dave, "team.touch", [(team_a, {"n": n}) for n in range(80)])
    for _ in range(10):
        RecordExport.objects.create(requester=dave, kind="foi", scope={"account": sim_account.pk, "person": 1})
    assert measure("/records/audit/") == small_trail <= 14
    assert measure("/records/exports/") == small_exports + 1 <= 14  # the Persons' names, once
