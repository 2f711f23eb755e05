"""Two-factor sign-in (inbox/security/): enrolment with a real TOTP code, verification after
the password, recovery codes used once, enforcement for admins and supervisors, the site's
setting for everyone, and API tokens only from a verified session."""

from __future__ import annotations

import re
import time
from io import StringIO

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from inbox.models import AuditEvent
from inbox.security.models import SecuritySettings
from tests.conftest import PASSWORD, login, post_sim, sim_body, sim_event

pytestmark = pytest.mark.django_db


def sign_in(username: str, next_url: str = "/inbox/") -> tuple[Client, object]:
    client = Client()
    response = client.post(f"/login/?next={next_url}", {"username": username, "password": PASSWORD})
    return client, response


def secret_on(page: str) -> str:
    return re.search(r'<code id="totp-secret" data-secret>([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")


def enrol(client: Client) -> list[str]:
    """As a person with an authenticator app: read the key, type the app's code."""
    page = client.get("/account/security/two-factor/setup/").content.decode()
    code = pyotp.TOTP(secret_on(page)).now()
    response = client.post("/account/security/two-factor/setup/", {"code": code, "next": "/inbox/"})
    assert response.status_code == 302 and "/two-factor/recovery-codes/" in response["Location"]
    shown = client.get(response["Location"]).content.decode()
    return re.findall(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4})</code></li>", shown)


def verbs(user) -> list[str]:
    return list(AuditEvent.objects.filter(target_type="auth.user", target_id=str(user.pk))
                .order_by("id").values_list("verb", flat=True))


def totp_now(user) -> str:
    """The app's code, as a person would type it. A code is accepted once (django-otp keeps the
    last time step used, and takes one step of clock drift), so a second sign-in within the
    same 30 seconds types the next step's code, as if it came half a minute later."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    step = max(int(time.time()) // 30, (device.last_t or 0) + 1)
    return pyotp.TOTP(secret_from_device(device)).at(step * 30)


def secret_from_device(device) -> str:
    from base64 import b32encode

    return b32encode(device.bin_key).decode()


@pytest.mark.parametrize("who", ["dave", "carol"])
def test_admins_and_supervisors_must_enrol_and_reach_nothing_else_until_done(request, who):
    user = request.getfixturevalue(who)
    client, response = sign_in(who)

    assert response.status_code == 302
    assert response["Location"] == "/account/security/two-factor/setup/?next=%2Finbox%2F"
    for path in ("/inbox/", "/dashboard/", "/teams/", "/account/security/", "/admin/"):
        blocked = client.get(path)
        assert blocked.status_code == 302 and blocked["Location"].startswith("/account/security/two-factor/setup/"), path
    api = client.get("/api/v1/conversations/")
    assert api.status_code == 403 and "Two-factor verification required" in api.json()["detail"]
    assert client.get("/account/security/two-factor/setup/").status_code == 200
    assert verbs(user) == ["auth.login"]


def test_officers_sign_in_with_a_password_only(alice):
    client, response = sign_in("alice")

    assert response["Location"] == "/inbox/"
    assert client.get("/inbox/").status_code == 200
    assert 'id="two-factor-due"' not in client.get("/inbox/").content.decode()


def test_enrolment_with_a_real_authenticator_code_shows_recovery_codes_once(dave):
    client, _ = sign_in("dave")

    qr = client.get("/account/security/two-factor/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml" and "no-store" in qr["Cache-Control"]
    assert b"<svg" in qr.content
    codes = enrol(client)

    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/inbox/").status_code == 200  # the session is verified
    assert TOTPDevice.objects.get(user=dave).confirmed
    assert client.get("/account/security/two-factor/recovery-codes/")["Location"] == "/account/security/"  # once
    assert verbs(dave) == ["auth.login", "two_factor.enrolled"]


def test_a_wrong_first_code_does_not_enrol(dave):
    client, _ = sign_in("dave")
    page = client.get("/account/security/two-factor/setup/").content.decode()
    right = pyotp.TOTP(secret_on(page)).now()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = client.post("/account/security/two-factor/setup/", {"code": wrong})

    assert response.status_code == 200 and "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=dave, confirmed=True).exists()
    assert client.get("/inbox/").status_code == 302
    assert verbs(dave) == ["auth.login", "two_factor.enrol_failed"]


def test_after_the_password_an_enrolled_user_gives_a_code(dave):
    first, _ = sign_in("dave")
    enrol(first)
    client, response = sign_in("dave", next_url="/teams/")

    assert response["Location"] == "/account/security/two-factor/verify/?next=%2Fteams%2F"
    assert client.get("/inbox/")["Location"].startswith("/account/security/two-factor/verify/")
    # A password alone never replaces the authenticator.
    assert client.get("/account/security/two-factor/setup/")["Location"].startswith("/account/security/two-factor/verify/")
    assert client.get("/account/security/two-factor/qr.svg").status_code == 403

    wrong = client.post("/account/security/two-factor/verify/", {"code": "000000", "next": "/teams/"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    assert DEVICE_ID_SESSION_KEY not in client.session

    TOTPDevice.objects.filter(user=dave).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    ok = client.post("/account/security/two-factor/verify/", {"code": totp_now(dave), "next": "/teams/"})
    assert ok["Location"] == "/teams/"
    assert client.get("/teams/").status_code == 200
    assert verbs(dave)[-3:] == ["auth.login", "two_factor.failed", "two_factor.verified"]


def test_wrong_codes_are_throttled(dave):
    first, _ = sign_in("dave")
    enrol(first)
    client, _ = sign_in("dave")
    client.post("/account/security/two-factor/verify/", {"code": "000000"})

    # Straight after a wrong code, even the right one waits (django-otp's growing delay).
    response = client.post("/account/security/two-factor/verify/", {"code": totp_now(dave)})

    assert "before the next try" in response.content.decode()
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_a_recovery_code_signs_in_once_and_is_audited(dave):
    first, _ = sign_in("dave")
    codes = enrol(first)

    client, _ = sign_in("dave")
    response = client.post("/account/security/two-factor/verify/", {"code": codes[3].upper(), "next": "/inbox/"})
    assert response["Location"] == "/inbox/"
    assert "9 are left" in client.get("/inbox/").content.decode()
    assert StaticToken.objects.filter(device__user=dave).count() == 9

    again, _ = sign_in("dave")
    reused = again.post("/account/security/two-factor/verify/", {"code": codes[3]})
    assert reused.status_code == 200 and DEVICE_ID_SESSION_KEY not in again.session
    used = AuditEvent.objects.filter(verb="two_factor.recovery_code_used", target_id=str(dave.pk)).get()
    assert used.data["recovery_codes_left"] == 9 and used.actor == dave
    assert AuditEvent.objects.filter(verb="two_factor.failed", target_id=str(dave.pk),
                                     data__method="recovery_code").count() == 1


def test_new_recovery_codes_replace_the_old_ones(dave):
    client, _ = sign_in("dave")
    old = enrol(client)

    response = client.post("/account/security/two-factor/recovery-codes/new/")
    new = re.findall(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4})</code></li>", client.get(response["Location"]).content.decode())

    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.filter(device__user=dave).values_list("token", flat=True)) == {c.replace("-", "") for c in new}
    assert "two_factor.recovery_codes_regenerated" in verbs(dave)


def test_officers_enrol_from_the_security_page_and_may_turn_it_off(alice):
    client, _ = sign_in("alice")
    page = client.get("/account/security/").content.decode()
    assert "Set up two-factor sign-in" in page
    enrol(client)
    assert "10 unused recovery codes left of 10" in client.get("/account/security/").content.decode()

    again, response = sign_in("alice")
    assert response["Location"].startswith("/account/security/two-factor/verify/")  # enrolled: a code each time
    again.post("/account/security/two-factor/verify/", {"code": totp_now(alice)})
    again.post("/account/security/two-factor/disable/")

    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert sign_in("alice")[1]["Location"] == "/inbox/"
    assert "two_factor.disabled" in verbs(alice)


def test_supervisors_cannot_turn_it_off(carol):
    client = login(carol)  # verified
    assert "Turn off two-factor sign-in" not in client.get("/account/security/").content.decode()

    assert client.post("/account/security/two-factor/disable/").status_code == 403
    assert TOTPDevice.objects.filter(user=carol).exists()


def test_an_admin_can_require_it_of_everyone(dave, alice):
    assert login(alice).get("/account/security/settings/").status_code == 403
    response = login(dave).post("/account/security/settings/", {"two_factor_for_everyone": "on"})
    assert response.status_code == 302
    assert SecuritySettings.current().two_factor_for_everyone

    client, response = sign_in("alice")

    assert response["Location"].startswith("/account/security/two-factor/setup/")
    assert client.get("/inbox/").status_code == 302
    changed = AuditEvent.objects.get(verb="security.settings_change")
    assert changed.actor == dave and changed.data == {"two_factor_for_everyone": True}


def test_deferred_enrolment_reminds_instead_of_blocking(settings, dave):
    settings.TWO_FACTOR_DEFER_ENROLMENT = True
    client, response = sign_in("dave")

    assert response["Location"] == "/inbox/"
    page = client.get("/inbox/").content.decode()
    assert 'id="two-factor-due"' in page
    # ...but a password alone still cannot mint an API token.
    client.post("/account/security/api-token/", {"action": "create"})
    assert not Token.objects.filter(user=dave).exists()


def test_creating_a_token_needs_a_verified_session_for_those_with_a_second_factor(alice, sim_account):
    post_sim(Client(), sim_body([sim_event(1)]))
    alice_client, _ = sign_in("alice")
    enrol(alice_client)
    unverified, _ = sign_in("alice")
    refused = unverified.post("/account/security/api-token/", {"action": "create"})
    assert refused["Location"].startswith("/account/security/two-factor/verify/")
    assert not Token.objects.filter(user=alice).exists()

    unverified.post("/account/security/two-factor/verify/", {"code": totp_now(alice)})
    unverified.post("/account/security/api-token/", {"action": "create"})
    key = Token.objects.get(user=alice).key
    assert key in unverified.get("/account/security/").content.decode()  # shown once
    assert key not in unverified.get("/account/security/").content.decode()

    # The token itself works without any session: token authentication is unaffected.
    api = Client().get("/api/v1/conversations/", headers={"Authorization": f"Token {key}"})
    assert api.status_code == 200 and len(api.json()["results"]) == 1
    created = AuditEvent.objects.get(verb="api_token.create")
    assert created.actor == alice and created.data["via"] == "web"


def test_drf_create_token_refuses_users_with_a_second_factor(alice, dave):
    with pytest.raises(CommandError, match="dave signs in with two-factor authentication"):
        call_command("drf_create_token", "dave", stdout=StringIO())
    assert not Token.objects.filter(user=dave).exists()

    out = StringIO()
    call_command("drf_create_token", "alice", stdout=out)
    assert out.getvalue().startswith("Generated token ")
    assert AuditEvent.objects.get(verb="api_token.create", target_id=str(alice.pk)).data["via"] == "command"


def test_the_admin_makes_tokens_only_for_password_only_users(dave, carol):
    admin = login(dave)
    assert admin.post("/admin/authtoken/tokenproxy/add/", {"user": carol.pk}).status_code == 200  # form error
    assert not Token.objects.filter(user=carol).exists()
    assert admin.get("/admin/authtoken/tokenproxy/add/").status_code == 200  # verified: may add

    unverified = Client()
    unverified.force_login(dave)
    session = unverified.session
    session["signin_two_factor"] = {"required": "admin", "enrolled": True}
    session.save()
    assert unverified.get("/admin/authtoken/tokenproxy/add/").status_code == 302  # to the second factor
