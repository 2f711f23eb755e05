"""Commands run in a Django process on the chaos stack's database (see Stack.control).

    python -m tests.chaos.control <command> '<json kwargs>'

The last line of stdout is the JSON result. The test process itself stays on the test
settings; only these subprocesses, gunicorn and the workers use the chaos PostgreSQL.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import django

OFFICERS = 3


def setup() -> dict:
    """Teams, officers and the three accounts the deliveries are addressed to."""
    from django.contrib.auth import get_user_model

    from inbox.models import ChannelAccount, Team
    from inbox.permissions import OFFICER, team_member_add
    from tests.chaos.deliveries import FB_PAGE, SIM_ACCOUNT, X_ACCOUNT

    team, _ = Team.objects.get_or_create(
        slug="chaos", defaults={"name": "Chaos", "assignment": Team.Assignment.ROUND_ROBIN}
    )
    Team.objects.get_or_create(slug="general", defaults={"name": "General"})
    for n in range(1, OFFICERS + 1):
        user, created = get_user_model().objects.get_or_create(username=f"chaos-officer-{n}")
        if created:
            user.set_unusable_password()
            user.save()
        team_member_add(team, user, OFFICER)
    accounts = [
        ("simulator", SIM_ACCOUNT, {}),
        ("x", X_ACCOUNT, {"oauth2": {"access_token": "chaos-token", "expires_at": None}}),
        ("facebook", FB_PAGE, {"page_access_token": "chaos-page-token"}),
    ]
    for platform, external_id, credentials in accounts:
        ChannelAccount.objects.update_or_create(
            platform=platform, external_id=external_id,
            defaults={"name": f"Chaos {platform}", "handle": f"chaos_{platform}", "default_team": team,
                      "credentials": credentials, "status": ChannelAccount.Status.ACTIVE,
                      "next_poll_at": datetime(2100, 1, 1, tzinfo=UTC), "cursors": {}},
        )
    return {"team": team.id}


def raw_events_sweep() -> dict:
    """The beat's raw-event sweep, run now as if its 60 s grace had passed."""
    import time_machine

    from channels_adapters.tasks import raw_events_sweep as sweep

    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61), tick=True):
        return {"requeued": sweep()}


def outbound_sweep() -> dict:
    """The beat's outbound sweep, treating every open attempt as stuck: call it only once
    the workers that could still hold an attempt are stopped."""
    from channels_adapters import outbound

    outbound.STUCK_AFTER = timedelta(0)
    return outbound.outbound_sweep()


def replies_submit(*, count: int, first: int = 0, conversations: int | None = None) -> dict:
    """``count`` public replies on X conversations, through reply_submit as the UI does."""
    from django.contrib.auth import get_user_model

    from channels_adapters.outbound import reply_submit
    from channels_adapters.x.simulate import numeric_id
    from inbox.inbound import InboundAuthor, InboundMessage
    from inbox.models import Conversation
    from inbox.services import messages_ingest
    from routing.services import conversations_route
    from tests.chaos.deliveries import X_ACCOUNT

    conversations = conversations or count
    now = datetime.now(UTC)
    items = []
    for i in range(first, first + conversations):
        post_id = numeric_id(f"chaos-reply-target-{i}")
        items.append((InboundMessage(
            platform="x", account_external_id=X_ACCOUNT, external_id=post_id, thread_key=f"post:{post_id}",
            kind="mention", visibility="public",
            author=InboundAuthor(external_id=numeric_id(f"citizen-{i}"), handle=f"citizen{i}", name=f"Citizen {i}"),
            text=f"@chaos_x Question number {i}", sent_at=now - timedelta(minutes=10),
        ), None))
    result = messages_ingest(items)
    conversations_route(result.new_conversation_ids)
    user = get_user_model().objects.get(username="chaos-officer-1")
    targets = list(
        Conversation.objects.filter(account__platform="x", thread_key__startswith="post:")
        .select_related("account", "team").order_by("id")
    )[first: first + conversations]
    ids = []
    for i in range(count):
        conversation = targets[i % len(targets)]
        message = reply_submit(
            conversation=conversation, user=user, option_key="public",
            text=f"Gràcies, ho revisem avui. [reply {first + i}]",
        )
        ids.append(message.id)
    return {"ids": ids}


COMMANDS = {
    "setup": setup, "raw_events_sweep": raw_events_sweep,
    "outbound_sweep": outbound_sweep, "replies_submit": replies_submit,
}


def main() -> None:
    django.setup()
    command, kwargs = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    print(json.dumps(COMMANDS[command](**kwargs), default=str))


if __name__ == "__main__":
    main()
