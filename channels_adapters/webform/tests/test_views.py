"""The admins' pages: create a form, set it up (consent, origins, e-mail account), copy the snippet."""

from __future__ import annotations

import pytest
from django.test import Client

from channels_adapters.webform.tests.conftest import ORIGIN, login
from inbox.models import AuditEvent, ChannelAccount

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_form_and_sets_it_up(dave, team_a, mailbox):
    client = login(dave)
    response = client.post("/channels/webform/connect/", {"slug": "bustia-web", "name": "Bústia web",
                                                           "default_team": team_a.pk})
    account = ChannelAccount.objects.get(platform="webform", external_id="bustia-web")
    assert response.status_code == 302 and response["Location"] == f"/channels/webform/forms/{account.pk}/"
    response = client.post(f"/channels/webform/forms/{account.pk}/", {
        "consent_text": "Accepto la política de privacitat.", "allowed_origins": f"{ORIGIN}/contacte\nnot an origin",
        "answer_account": mailbox.external_id})
    assert response.status_code == 400 and "Not an origin" in response.content.decode()
    response = client.post(f"/channels/webform/forms/{account.pk}/", {
        "consent_text": "Accepto la política de privacitat.", "allowed_origins": f"{ORIGIN}/contacte",
        "answer_account": mailbox.external_id})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.credentials["allowed_origins"] == [ORIGIN]
    assert account.credentials["answer_account"] == mailbox.external_id
    page = client.get(f"/channels/webform/forms/{account.pk}/").content.decode()
    assert "&lt;iframe src=&quot;http://testserver/contact/bustia-web/&quot;" in page
    assert AuditEvent.objects.filter(verb="channel_account.settings", target_id=str(account.pk)).exists()
    assert Client().get("/contact/bustia-web/").status_code == 200


def test_officers_cannot_create_or_change_forms(alice, form_account):
    client = login(alice)
    assert client.post("/channels/webform/connect/", {"slug": "x-form", "name": "X"}).status_code == 403
    assert client.post(f"/channels/webform/forms/{form_account.pk}/", {"allowed_origins": "https://evil.example"}
                       ).status_code == 403
    form_account.refresh_from_db()
    assert form_account.credentials["allowed_origins"] == [ORIGIN]
    assert not ChannelAccount.objects.filter(external_id="x-form").exists()


def test_a_signed_in_admin_with_two_factor_still_due_sees_the_form_as_a_citizen(dave, form_account):
    # The form is a page for citizens: a session whose second factor is still due is not sent to
    # enrolment from it (inbox/security/middleware.py opens the registry's public prefixes).
    client = Client()
    client.force_login(dave)
    assert client.get("/inbox/")["Location"].startswith("/account/security/two-factor/setup/")
    response = client.get(f"/contact/{form_account.external_id}/")
    assert response.status_code == 200
    assert 'class="wf-submit"' in response.content.decode()
