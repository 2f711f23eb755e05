"""Connect a channel account from the command line (or a deployment script).

Prints only the new account's id on stdout, so a script can capture it:

    ACCOUNT_ID=$(manage.py add_channel_account --platform simulator --external-id city \
                 --name "City" --team mobility --credentials-file /run/secrets/city.json)

Credentials are read from a JSON file (``-`` for stdin, so they need not touch the disk)
and are encrypted at rest by the model field; they are never printed or audited.

An account of a real platform added without credentials cannot read or answer anything: it
is created as *Needs reconnecting*, and an admin connects it from its platform's page. The
simulated network needs none.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from channels_adapters.registry import get_adapter, platforms
from inbox.models import ChannelAccount, Team
from inbox.services import channel_account_connect

# Platforms whose accounts work without credentials: the simulated network answers itself.
PLATFORMS_WITHOUT_CREDENTIALS = {"simulator"}


def _known_platforms() -> list[str]:
    # An adapter may serve several account platforms (Meta: facebook and instagram).
    known: set[str] = set()
    for platform in platforms():
        known.add(platform)
        known.update(get_adapter(platform).account_platforms())
    return sorted(known)


class Command(BaseCommand):
    help = "Create a channel account; prints its id on stdout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--platform", required=True, help="A platform of the adapter registry.")
        parser.add_argument("--external-id", required=True, help="The platform's own id of the account.")
        parser.add_argument("--name", required=True, help="A name officers recognise.")
        parser.add_argument("--handle", default="", help="The account's handle (@name), if any.")
        parser.add_argument("--team", default="", help="Slug of the team its conversations go to by default.")
        parser.add_argument(
            "--credentials-file", default="",
            help="A JSON object of tokens and secrets; '-' reads it from stdin.",
        )

    def handle(self, *args, **options) -> None:
        platform = options["platform"].strip()
        known = _known_platforms()
        if platform not in known:
            raise CommandError(f"Unknown platform {platform!r}; known platforms: {', '.join(known)}.")
        external_id = options["external_id"].strip()
        name = options["name"].strip()
        handle = options["handle"].strip().lstrip("@")
        for label, value, field in (
            ("--external-id", external_id, "external_id"), ("--name", name, "name"), ("--handle", handle, "handle"),
        ):
            if field != "handle" and not value:
                raise CommandError(f"{label} must not be empty.")
            limit = ChannelAccount._meta.get_field(field).max_length
            if len(value) > limit:
                raise CommandError(f"{label} is {len(value)} characters long; the limit is {limit}.")

        team = None
        if options["team"]:
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                slugs = ", ".join(Team.objects.values_list("slug", flat=True)) or "none yet"
                raise CommandError(f"No team with slug {options['team']!r} (teams: {slugs}).")

        credentials = self._credentials(options["credentials_file"])

        existing = ChannelAccount.objects.filter(platform=platform, external_id=external_id).first()
        if existing is not None:
            raise CommandError(
                f"A {platform} account with external id {external_id!r} already exists "
                f"(id {existing.id}, {existing.name!r})."
            )
        account, _ = channel_account_connect(
            platform=platform, external_id=external_id, name=name, handle=handle, credentials=credentials,
            default_team=team, method="add_channel_account",
            needs_credentials=platform not in PLATFORMS_WITHOUT_CREDENTIALS,
        )
        self.stdout.write(str(account.id))
        self.stderr.write(f"Created {account} (id {account.id}).")
        if account.status == ChannelAccount.Status.NEEDS_RECONNECT:
            self.stderr.write(
                "It has no credentials, so it shows as Needs reconnecting until an admin connects "
                "it from its platform's page."
            )

    def _credentials(self, path: str) -> dict:
        if not path:
            return {}
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read the credentials file {path!r}: {exc.strerror or exc}.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"The credentials file {path!r} is not UTF-8 text.") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            # The message names the position, never the content: it may be a secret.
            raise CommandError(
                f"The credentials file {path!r} is not valid JSON (line {exc.lineno}, column {exc.colno})."
            ) from exc
        if not isinstance(data, dict):
            raise CommandError(f"The credentials file {path!r} must hold a JSON object, not {type(data).__name__}.")
        return data
