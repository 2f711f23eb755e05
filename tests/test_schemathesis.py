"""schemathesis against the OpenAPI schema the app serves: every operation, called as an admin
and as an officer with an API token, answers without a server error and as the schema says
(status code, content type, body).

The schema is drf-spectacular's, generated in-process (the one /api/schema/ serves); requests go
through Django's WSGI handler in the test's own transaction, each example in a savepoint that is
rolled back, so a DELETE or a PUT never changes the world the next example sees. Path parameters
are the seeded world's ids (a calendar, a rule, a conversation ...), so the operations are
exercised rather than answered 404; query strings and bodies are generated from the schema.
Examples are derandomised (the same cases on every run) and their number is bounded, so the
whole module runs in about two minutes on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inbox.models import ChannelAccount, Contact, Conversation, Message, ReplyDraft, Tag, Team
from inbox.permissions import ADMIN, OFFICER, team_member_add
from routing.models import RoutingRule, ServiceCalendar, SlaPolicy
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

EXAMPLES = 12  # per operation and role: 41 operations x 2 roles x 12 is about a thousand requests
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = schemathesis.openapi.from_dict(_schema())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@dataclass
class World:
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, object] = field(default_factory=dict)

    def path_parameters(self, path: str) -> dict[str, object]:
        """The seeded object each path names: /api/v1/<collection>/{id}/... or teams/{slug}/."""
        collection = path.removeprefix("/api/v1/").split("/", 1)[0]
        if "{slug}" in path:
            return {"slug": self.ids["team_slug"]}
        if "{id}" in path and collection in self.ids:
            return {"id": self.ids[collection]}
        return {}  # a collection the world has nothing of: generated ids, answered 404


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module in a transaction rolled back at its end (as
    tests/test_permission_matrix.py does); every example runs in a savepoint inside it."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _world() -> World:
    users = get_user_model()
    w = World()
    team = Team.objects.create(name="Mobility", slug="mobility")
    Team.objects.create(name="Waste & cleaning", slug="waste")
    officer = users.objects.create_user("alice", password=PASSWORD)
    team_member_add(team, officer, OFFICER)
    admin = users.objects.create_user("dave", password=PASSWORD, is_staff=True, is_superuser=True)
    admin.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    # Tokens are made on a verified session in the app (inbox/security/); here, directly.
    w.tokens = {"admin": Token.objects.create(user=admin).key, "officer": Token.objects.create(user=officer).key}

    calendar = ServiceCalendar.objects.create(name="Office hours", timezone="Europe/Madrid", periods=[])
    account = ChannelAccount.objects.create(
        platform="simulator", external_id="city-sim", name="City (simulated)", handle="city", default_team=team,
        calendar=calendar,
    )
    contact = Contact.objects.create(platform="simulator", external_id="c1", handle="citizen", name="A citizen")
    now = timezone.now()
    conversation = Conversation.objects.create(
        account=account, kind="public", thread_key="mention:t1", contact=contact, team=team,
        subject="Bus 24", last_message_preview="The bus did not come", last_inbound_at=now, first_inbound_at=now,
    )
    Message.objects.create(
        conversation=conversation, account=account, direction="in", kind="mention", visibility="public",
        external_id="m1", author_contact=contact, text="The bus did not come", sent_at=now,
    )
    draft = ReplyDraft.objects.create(conversation=conversation, author=officer, text="We are on it",
                                      option="public", visibility="public")
    policy = SlaPolicy.objects.create(name="Default", first_response_minutes=120)
    rule = RoutingRule.objects.create(
        name="Buses", conditions={}, actions=[{"type": "route_to_team", "team": "mobility"}],
    )
    tag = Tag.objects.create(name="buses", slug="buses")
    conversation.tags.add(tag)
    w.ids = {
        "tags": tag.pk,
        "team_slug": team.slug, "conversations": conversation.pk, "approvals": draft.pk,
        "channel-accounts": account.pk, "routing-rules": rule.pk, "service-calendars": calendar.pk,
        "sla-policies": policy.pk,
    }
    return w


@pytest.fixture
def wsgi(settings):
    """Django's own WSGI handler, on the test's database connection: a finished request must not
    close the connection that holds the test's transaction (as django.test.Client arranges)."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _label(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


@pytest.mark.parametrize("role", ["admin", "officer"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
def test_operation_conforms_to_the_schema(db, world, wsgi, role, operation):
    headers = {"Authorization": f"Token {world.tokens[role]}"}
    strategy = operation.as_strategy(path_parameters=world.path_parameters(operation.path))

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def conforms(case):
        with transaction.atomic():
            response = case.call(app=wsgi, headers=headers)
            transaction.set_rollback(True)  # the next example sees the seeded world again
        case.validate_response(response, checks=CHECKS)

    conforms()
