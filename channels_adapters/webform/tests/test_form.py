"""The public contact form: a submission becomes a conversation; what is refused, and why.

Submissions are posted as the browser posts the form (urlencoded, with the signed token of a
page served earlier); tasks run eagerly, so the RawEvent is parsed and routed at once.
"""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from channels_adapters.webform import guard
from channels_adapters.webform.tests.conftest import ORIGIN, SLUG, filled, submit, token_aged
from inbox.models import Contact, Conversation, Message, RawEvent

pytestmark = pytest.mark.django_db


def _reference(response) -> str:
    page = Client().get(response["Location"])
    assert page.status_code == 200
    return re.search(r"F-\d{4}-[0-9A-Z]{8}", page.content.decode()).group(0)


def test_the_form_page_needs_no_sign_in_and_sets_no_cookie(form_account):
    response = Client().get(f"/contact/{SLUG}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'for="id_name"' in body and 'name="token"' in body
    assert "Accepto que l&#x27;Ajuntament" in body  # the admin's consent text
    assert not response.cookies  # no session, no CSRF cookie: nothing a framed page would lose
    assert response["Cache-Control"] == "no-store"


def test_a_submission_opens_a_conversation_answered_by_e_mail(form_account, team_a):
    response = submit()
    assert response.status_code == 302
    reference = _reference(response)
    conversation = Conversation.objects.get(account=form_account)
    assert conversation.thread_key == f"email:{reference}"
    assert conversation.team == team_a
    message = conversation.messages.get()
    assert message.external_id == reference and message.direction == Message.Direction.INBOUND
    assert "carrer Verdi" in message.text
    contact = conversation.contact
    assert contact.external_id == "marta@example.org" and contact.name == "Marta Puig"
    assert contact.profile["reply_by"] == "email"
    assert contact.profile["consent_text"].startswith("Accepto")


def test_a_second_message_from_the_same_address_is_a_new_conversation_of_the_same_citizen(form_account):
    submit(data=filled(email="Marta@Example.org"))
    submit(data=filled(message="I write again about the bins."))
    assert Conversation.objects.filter(account=form_account).count() == 2
    assert Contact.objects.filter(platform="webform").count() == 1


def test_inbox_only_needs_no_e_mail_and_says_so_on_the_receipt(form_account):
    response = submit(data=filled(email="", phone="+34 600 123 456", reply_by="inbox"))
    assert response.status_code == 302
    page = Client().get(response["Location"]).content.decode()
    assert "we will not write to you" in page
    conversation = Conversation.objects.get(account=form_account)
    assert conversation.thread_key.startswith("inbox:")
    assert conversation.contact.external_id == "tel:+34600123456"


@pytest.mark.parametrize(("data", "field", "text"), [
    (filled(name=""), "name", "This field is required"),
    (filled(email=""), "email", "Enter your e-mail address"),
    (filled(email="not-an-address"), "email", "valid email"),
    (filled(message=""), "message", "This field is required"),
    (filled(consent=None), "consent", "only be kept with your agreement"),
    (filled(phone="call me maybe"), "phone", "Enter a phone number"),
])
def test_validation_errors_are_listed_and_tied_to_their_fields(form_account, data, field, text):
    response = submit(data=data)
    assert response.status_code == 400
    body = response.content.decode()
    assert text in body
    assert f'id="id_{field}-error"' in body
    assert re.search(rf'id="id_{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="id_{field}"', body)
    assert re.search(rf'aria-describedby="[^"]*id_{field}-error', body)
    assert f'href="#id_{field}"' in body  # the summary links to the field
    assert "carrer Verdi" in body or field == "message"  # what the citizen typed is kept
    assert not RawEvent.objects.exists()


def test_the_honeypot_refuses_with_a_reason_and_stores_nothing(form_account):
    response = submit(data=filled(hp_url="http://spam.example"))
    assert response.status_code == 400
    assert "must stay empty" in response.content.decode()
    assert not RawEvent.objects.exists()


def test_a_form_sent_too_fast_is_refused_then_accepted_when_sent_again(form_account):
    page = Client().get(f"/contact/{SLUG}/")
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    response = submit(data=filled(token=token))
    assert response.status_code == 400
    assert "very quickly" in response.content.decode()
    assert not RawEvent.objects.exists()
    assert submit(data=filled(token=token_aged(4))).status_code == 302


def test_a_token_is_good_once_and_a_forged_or_old_one_never(form_account):
    token = token_aged()
    assert submit(data=filled(token=token)).status_code == 302
    again = submit(data=filled(token=token))
    assert again.status_code == 400 and "already sent once" in again.content.decode()
    forged = submit(data=filled(token=token[:-3] + "abc"))
    assert forged.status_code == 400 and "could not be checked" in forged.content.decode()
    old = submit(data=filled(token=guard.token_issue(SLUG, challenge=False, issued=time.time() - 3 * 3600)))
    assert old.status_code == 400 and "open for a long time" in old.content.decode()
    other_form = submit(data=filled(token=guard.token_issue("another-form", challenge=False, issued=time.time() - 10)))
    assert other_form.status_code == 400
    assert RawEvent.objects.count() == 1


def test_a_post_from_another_site_is_refused(form_account):
    response = Client().post(f"/contact/{SLUG}/", data=filled(), headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert not RawEvent.objects.exists()
    # Its own page, framed in the administration's site, posts with this site's origin: accepted.
    assert submit(Origin="http://testserver").status_code == 302


def test_submissions_are_limited_per_address_and_per_e_mail(form_account, settings):
    settings.WEBFORM_SUBMISSIONS_PER_ADDRESS = "2/h"
    settings.WEBFORM_SUBMISSIONS_PER_EMAIL = "2/h"
    assert submit(data=filled(email="a@example.org")).status_code == 302
    assert submit(data=filled(email="b@example.org")).status_code == 302
    limited = submit(data=filled(email="c@example.org"))
    assert limited.status_code == 429
    assert "send it again later" in limited.content.decode() and "carrer Verdi" in limited.content.decode()
    # Another address, same e-mail twice more: the second is over the e-mail's limit.
    assert submit(data=filled(email="d@example.org"), address="198.51.100.9").status_code == 302
    assert submit(data=filled(email="d@example.org"), address="198.51.100.10").status_code == 302
    assert submit(data=filled(email="d@example.org"), address="198.51.100.11").status_code == 429
    assert RawEvent.objects.count() == 4


def test_posts_per_address_are_limited_before_the_form_is_read(form_account, settings):
    settings.WEBFORM_POSTS_PER_ADDRESS = "3/10m"
    for _ in range(3):
        assert submit(data=filled(token="junk")).status_code == 400
    assert submit().status_code == 429
    assert submit(address="198.51.100.20").status_code == 302


def test_under_attack_the_form_asks_for_a_proof_of_work_or_an_answer(form_account, settings):
    settings.WEBFORM_ATTACK_POSTS = "5/5m"
    settings.WEBFORM_POW_BITS = 12
    for i in range(6):
        submit(data=filled(token="junk"), address=f"192.0.2.{i}")
    assert guard.under_attack(SLUG)
    page = Client().get(f"/contact/{SLUG}/").content.decode()
    assert "data-pow-seed=" in page and 'name="answer"' in page
    # A token issued before the attack: asked for the check, with the text kept.
    refused = submit(address="198.51.100.30")
    assert refused.status_code == 400 and "one more check" in refused.content.decode()
    # A proof of work over the token's seed passes ...
    token = token_aged(challenge=True)
    seed = guard.token_read(SLUG, token).challenge
    assert submit(data=filled(token=token, pow=guard.pow_solve(seed, 12)), address="198.51.100.31").status_code == 302
    # ... and so does the right answer to the question (without JavaScript); a wrong one does not.
    token = token_aged(challenge=True)
    assert submit(data=filled(token=token, answer="99"), address="198.51.100.32").status_code == 400
    token = token_aged(challenge=True)
    answer = str(guard.QUESTIONS[guard.token_read(SLUG, token).question][1])
    persian = answer.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert submit(data=filled(token=token, answer=persian), address="198.51.100.33").status_code == 302
    assert RawEvent.objects.count() == 2


def test_a_flood_of_1000_bot_submissions_is_refused_and_a_citizen_in_the_middle_gets_through(form_account):
    """Bots from 50 addresses: replayed tokens, junk tokens, honeypots, instant posts, and
    fresh aged tokens without the check. The citizen comes at the 500th post, is asked for
    the check (the switch is on by then) and passes it."""
    statuses: dict[int, int] = {}
    citizen = None
    start = time.monotonic()
    replayed = token_aged()
    for i in range(1000):
        address = f"10.0.{i % 50}.{i % 7}"
        kind = i % 4
        data = filled(
            name=f"bot {i}", email=f"bot{i}@spam.example",
            token=[replayed, "junk", token_aged(), guard.token_issue(SLUG, challenge=False)][kind],
            hp_url="http://spam.example" if kind == 2 else "",
        )
        status = submit(data=data, address=address).status_code
        statuses[status] = statuses.get(status, 0) + 1
        if i == 500:
            refused = submit(address="198.51.100.77")
            assert refused.status_code == 400 and "one more check" in refused.content.decode()
            token = token_aged(challenge=True)
            seed = guard.token_read(SLUG, token).challenge
            citizen = submit(data=filled(token=token, pow=guard.pow_solve(seed)), address="198.51.100.77")
    elapsed = time.monotonic() - start
    assert citizen is not None and citizen.status_code == 302
    stored = [bytes(body) for body in RawEvent.objects.order_by("id").values_list("body", flat=True)]
    # The citizen's message is kept. Of the bots', only the very first post got in: a token
    # that was still fresh and slow enough, before anything looked like a flood (its replays
    # were refused, and the switch turned on after WEBFORM_ATTACK_POSTS posts).
    assert len(stored) == 2 and b"bot 0" in stored[0] and b"Marta Puig" in stored[1]
    assert Conversation.objects.filter(account=form_account).count() == 2
    assert statuses.pop(302) == 1 and set(statuses) <= {400, 429} and sum(statuses.values()) == 999
    print(f"\nflood: {statuses} in {elapsed:.1f} s ({1000 / elapsed:.0f} posts/s)")


def test_the_form_may_be_framed_only_by_its_listed_origins(form_account):
    response = Client().get(f"/contact/{SLUG}/")
    csp = response["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {ORIGIN}" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "X-Frame-Options" not in response  # CSP governs; X-Frame-Options cannot list origins
    form_account.credentials = {**form_account.credentials, "allowed_origins": []}
    form_account.save()
    response = Client().get(f"/contact/{SLUG}/")
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert ORIGIN not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_every_other_page_still_refuses_to_be_framed(form_account, alice):
    response = Client().get("/login/")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_the_form_follows_the_browser_language_and_the_embedding_page_may_choose(form_account):
    persian = Client().get(f"/contact/{SLUG}/", headers={"Accept-Language": "fa"}).content.decode()
    assert 'lang="fa" dir="rtl"' in persian
    catalan = Client().get(f"/contact/{SLUG}/?lang=ca", headers={"Accept-Language": "fa"}).content.decode()
    assert 'lang="ca" dir="ltr"' in catalan


def test_an_unknown_or_disabled_form_is_a_404(form_account):
    assert Client().get("/contact/nope/").status_code == 404
    form_account.status = form_account.Status.DISABLED
    form_account.save()
    assert Client().get(f"/contact/{SLUG}/").status_code == 404


def test_no_inline_script_or_style_in_the_form(form_account, settings):
    settings.WEBFORM_ATTACK_POSTS = "1/5m"
    submit(data=filled(token="junk"))
    submit(data=filled(token="junk"))
    body = Client().get(f"/contact/{SLUG}/").content.decode()
    assert "data-pow-seed" in body
    assert "<script>" not in body and "<style" not in body and " style=" not in body
    assert re.findall(r"<script[^>]*>", body) == [re.search(r'<script src="[^"]+webform\.js" defer>', body).group(0)]
