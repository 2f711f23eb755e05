"""`make run`'s pieces: the demo seed and the simulated citizen feed over real HTTP."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from inbox.models import Conversation, Message, RawEvent, Team
from inbox.permissions import team_ids_for_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_demo_builds_a_lived_in_inbox_and_is_idempotent(django_user_model):
    call_command("seed_demo", history=30, stdout=StringIO())
    call_command("seed_demo", history=30, stdout=StringIO())

    assert set(Team.objects.values_list("slug", flat=True)) == {"mobility", "waste", "general"}
    assert Message.objects.filter(direction="in").count() == 30
    assert Message.objects.filter(direction="out", delivery_status="sent").exists()
    assert not RawEvent.objects.filter(processed_at__isnull=True).exists()
    officer = django_user_model.objects.get(username="officer")
    assert officer.check_password("citizen-inbox-demo")
    assert len(team_ids_for_user(officer)) == 2
    languages = set(Conversation.objects.values_list("language", flat=True))
    assert len(languages - {""}) >= 4


def test_simulated_citizens_arrive_through_the_webhook(live_server):
    call_command("seed_demo", history=0, stdout=StringIO())
    out = StringIO()

    call_command("simulate_citizens", url=live_server.url, rate=40, duration=1.5, burst_every=0.5,
                 burst_size=5, seed=1, stdout=out)

    delivered = int(out.getvalue().split("Delivered ")[1].split()[0])
    assert "(0 failed)" in out.getvalue()
    assert delivered >= 10
    assert RawEvent.objects.filter(processed_at__isnull=False).count() == delivered
    assert Message.objects.filter(direction="in").count() >= delivered  # X/Meta shapes may carry one each
    assert not Conversation.objects.filter(team__isnull=True).exists()
