"""Seed the demo: teams, users, channel accounts, saved replies and a few hours of history.

Safe to run again: existing rows are kept, and history is only added to an empty inbox. The
demo users this command created take the given password (DEMO_PASSWORD) on every run, so the
password `make run` prints is the one that signs in; a user of the same name that it did not
create (its e-mail is not ``<username>@example.org``) is left alone.
The history goes through the real path: signed payloads -> RawEvent -> adapter.parse ->
ingest -> routing.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from channels_adapters.pipeline import raw_events_process
from channels_adapters.registry import get_adapter
from channels_adapters.simulator.deliver import demo_accounts, simulated_adapters
from channels_adapters.simulator.feed import Feed
from inbox.models import ChannelAccount, Conversation, Message, RawEvent, SavedReply, Tag, Team
from inbox.permissions import ADMIN, OFFICER, SUPERVISOR, team_member_add
from inbox.services import (
    conversation_status_set,
    message_claim_for_send,
    message_mark_sent,
    message_reply_create,
)
from routing.demo import assignment_demo_seed, sla_demo_history_settle, sla_demo_seed

TEAMS = [
    ("Mobility", "mobility", "Buses, metro, traffic, parking and bicycle lanes."),
    ("Waste & cleaning", "waste", "Collection, containers, bulky waste, street cleaning."),
    ("General enquiries", "general", "Everything else: taxes, permits, registration, events."),
]
USERS = [
    # username, first name, role, teams
    ("admin", "Ada", ADMIN, []),
    ("supervisor", "Sílvia", SUPERVISOR, ["mobility", "waste", "general"]),
    ("officer", "Oriol", OFFICER, ["mobility", "general"]),
    ("officer2", "Fatima", OFFICER, ["waste"]),
    ("officer3", "Piotr", OFFICER, ["general", "mobility"]),
]
SAVED_REPLIES = [
    ("Working on it", "Thank you for writing to us. The team is looking into it and will come back to you today."),
    ("Bulky waste booking", "You can book a free bulky waste collection on the city website or by calling 010."),
    ("Move to private", "So we can check your case, please send us a private message with your reference number. Never share personal data in a public reply."),
    ("Estem treballant", "Gràcies pel vostre missatge. L'equip ho està revisant i us respondrem avui mateix."),
    ("Estamos en ello", "Gracias por escribirnos. El equipo lo está revisando y le responderemos hoy."),
]
# The demo users' addresses are in a domain reserved for examples (RFC 2606): it also tells
# the users this command created from real users who happen to share a name.
DEMO_EMAIL_DOMAIN = "example.org"
TAGS = [("Complaint", "complaint", "#b91c1c"), ("Information", "information", "#1d4ed8"), ("Urgent", "urgent", "#c2410c")]


class Command(BaseCommand):
    help = "Create the demo teams, users, channel accounts and some history."

    def add_arguments(self, parser):
        parser.add_argument("--history", type=int, default=60, help="Past citizen messages to ingest")

    def handle(self, *args, history, **options):
        password = os.environ.get("DEMO_PASSWORD", "citizen-inbox-demo")
        with transaction.atomic():
            teams = self._teams()
            users = self._users(teams, password)
            self._accounts(teams)
            for title, body in SAVED_REPLIES:
                SavedReply.objects.get_or_create(title=title, defaults={"body": body})
            for name, slug, color in TAGS:
                Tag.objects.get_or_create(slug=slug, defaults={"name": name, "color": color})
            sla_demo_seed()  # the 012 calendars and the default SLA policy (routing/demo.py)
            assignment_demo_seed()  # officers' languages, the out-of-hours reply (routing/demo.py)
        if not Message.objects.exists() and history:
            self._history(history, users)
            sla_demo_history_settle()
        self.stdout.write(self.style.SUCCESS(
            f"Demo ready: {Team.objects.count()} teams, {len(users)} users (password: {password}), "
            f"{ChannelAccount.objects.count()} channel accounts, {Conversation.objects.count()} conversations."
        ))

    def _teams(self) -> dict[str, Team]:
        return {
            slug: Team.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})[0]
            for name, slug, description in TEAMS
        }

    def _users(self, teams: dict[str, Team], password: str) -> dict:
        User = get_user_model()
        users = {}
        for username, first_name, role, team_slugs in USERS:
            email = f"{username}@{DEMO_EMAIL_DOMAIN}"
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first_name, "email": email},
            )
            if created and role == ADMIN:
                user.is_staff = user.is_superuser = True
            if user.email == email:  # ours: created by this command, now or on an earlier run
                user.set_password(password)
                user.save()
                # Sign-in attempts with the old password must not keep the new one locked out.
                if AccessAttempt.objects.filter(username=username).exists():
                    axes_reset(username=username)
            else:
                self.stderr.write(f"User {username!r} was not created by seed_demo: its password is left as it is.")
            user.groups.add(Group.objects.get_or_create(name=role)[0])
            for slug in team_slugs:
                team_member_add(teams[slug], user, role)
            users[username] = user
        return users

    def _accounts(self, teams: dict[str, Team]) -> None:
        """The simulated accounts of every registered platform that can be simulated (each
        platform lists them in its package's simulate.py)."""
        for platform, adapter in simulated_adapters().items():
            for spec in adapter.simulated_accounts():
                if spec.platform != platform:
                    continue  # an adapter serving several platforms lists them all
                ChannelAccount.objects.get_or_create(
                    platform=platform, external_id=spec.external_id,
                    defaults={
                        "name": spec.name, "handle": spec.handle,
                        "default_team": teams.get(spec.team, teams["general"]),
                        # Fed and answered by the simulated network, never by the real platform.
                        "simulated": True,
                    },
                )

    def _history(self, count: int, users: dict) -> None:
        """Citizen messages over the last six hours; answer and resolve about half of them."""
        feed = Feed(seed=2026)
        accounts = demo_accounts()
        now = timezone.now()
        ids = []
        for i in range(count):
            account, shape = accounts[i % len(accounts)]
            at = now - timedelta(hours=6) * (1 - i / count)
            _slug, body, headers = shape(feed.event(at), account)
            adapter = get_adapter(account.platform)
            raw = RawEvent.objects.create(
                platform=adapter.platform, account=account, source=RawEvent.Source.WEBHOOK,
                body=body, headers=headers,
            )
            ids.append(raw.id)
        raw_events_process(ids, extra=0)
        rng = random.Random(7)  # noqa: S311 - demo data
        answered = list(Conversation.objects.filter(assignee__isnull=False).order_by("first_inbound_at"))
        for conversation in answered[: len(answered) // 2]:
            officer = conversation.assignee
            reply = message_reply_create(
                conversation=conversation, user=officer, visibility=conversation.kind,
                kind=Message.Kind.REPLY if conversation.kind == "public" else Message.Kind.DM,
                text=rng.choice(SAVED_REPLIES)[1],
            )
            sent_at = conversation.first_inbound_at + timedelta(minutes=rng.randint(5, 150))
            Message.objects.filter(pk=reply.pk).update(sent_at=sent_at)
            reply, attempt = message_claim_for_send(reply.pk)
            message_mark_sent(reply, attempt, external_id=f"demo-out-{reply.uuid}", sent_at=sent_at)
            if rng.random() < 0.6:
                conversation_status_set(conversation=conversation, user=officer, status=Conversation.Status.RESOLVED)
