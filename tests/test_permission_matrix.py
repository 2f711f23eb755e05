"""Least privilege, proven: every route of the app, requested by everyone, for every method.

The routes come from the URL resolver (pages) and from drf-spectacular's generator (API
operations), so a route nobody thought of is a failing test that names it. Each is requested
as the standard cast of issue 10 — anonymous, an officer of the object's team, an officer of
another team, a supervisor of another team, an admin and a deactivated user — with GET and
every write method the route accepts. For each, the status says what the table says, and for
those who may not act the database is exactly as it was (PostgreSQL's per-transaction tuple
counters: an INSERT, UPDATE or DELETE on any table, even one written back unchanged, counts).
Another team's objects are a 404, never a 403 that would confirm they exist; and nothing of
team A's conversation (a marker in its text, its contact's name) appears in a page or an answer
given to someone outside team A.

HOW TO ADD A ROUTE (someone else's new page or endpoint fails ``test_every_route_has_an_entry``):

1. Put its URL name (``namespace:name``; an unnamed route by its pattern) in ``PAGES`` under the
   access class that describes who may use it, or its OpenAPI ``operationId`` in ``API``. When
   reading and writing differ, list ``"name POST"`` (or ``PUT``/``PATCH``/``DELETE``) under the
   writers' class and the bare name under the readers'.
2. If it takes a path argument, say which object of the world it names in ``ARGS`` (pages, by
   URL name prefix) or ``API_ARGS`` (API, by path prefix): every object of the world belongs to
   team A, the team of the "officer" of the cast.
3. If a write needs a body for the permission check to mean anything (e.g. whom to assign),
   add it to ``BODIES``.

Access classes (who is allowed; everyone else is refused as shown):

=================  ==========  =========  =============  ===================  =====  ===========
class              anonymous   officer A  officer B      supervisor B         admin  deactivated
=================  ==========  =========  =============  ===================  =====  ===========
PUBLIC             yes         yes        yes            yes                  yes    yes
SIGNED_IN          sign-in     yes        yes            yes                  yes    sign-in
TEAM               sign-in     yes        404            404                  yes    sign-in
TEAM_SUPERVISE     sign-in     403        404            404                  yes    sign-in
  (team-scoped, and acting needs more than an officer: a supervisor of the team, or an admin)
OWN                sign-in     yes        404            404                  404    sign-in
OFFICERS_ONLY      sign-in     yes        yes            403                  403    sign-in
SUPERVISOR         sign-in     403        403            yes                  yes    sign-in
ADMIN              sign-in     403        403            403                  yes    sign-in
ADMIN_SITE         admin login (every non-staff user)                         yes    admin login
WEBHOOK            refused for everyone (no platform signature), nothing stored
UNSEEN             sign-in     refused (4xx) for everyone signed in: the world has no such object
=================  ==========  =========  =============  ===================  =====  ===========

"sign-in" is a redirect to the login page for pages and a 401/403 for the API. Allowed users are
refused nothing (no 403/404/405, no sign-in redirect, no server error); their writes are rolled
back after each request so that every request meets the same world.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from inbox.models import ChannelAccount, Contact, Conversation, Message, Person, Team
from inbox.permissions import ADMIN, OFFICER, SUPERVISOR, team_member_add
from routing.models import RoutingRule, ServiceCalendar, SlaPolicy
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

# --- The expectation table -----------------------------------------------------------------

PUBLIC, SIGNED_IN, TEAM, TEAM_SUPERVISE = "public", "signed-in", "team", "team-supervise"
SUPERVISOR_CLASS, ADMIN_CLASS, ADMIN_SITE, WEBHOOK = "supervisor", "admin", "admin-site", "webhook"
UNSEEN = "unseen"  # no such object in the world: everyone is refused
OFFICERS_ONLY = "officers-only"
OWN = "own"  # the object's author only (the officer of the cast); for everyone else it does not exist

PAGES: dict[str, list[str]] = {
    PUBLIC: ["", "healthz", "login", "logout", "language", "signed_out", "admin:login", "admin:logout",
             # The citizens' contact form and its receipt (QUERIES: a signed receipt).
             "webform_public:contact", "webform_public:sent"],
    SIGNED_IN: [
        "inbox:queue", "teams:presence", "teams:heartbeat", "schema", "api-docs",
        # One's own sign-in settings (inbox/security/).
        "security:page", "security:setup", "security:qr", "security:verify", "security:recovery_codes_shown",
        "security:recovery_codes_new", "security:disable", "security:api_token",
        "records:exports",
        # Acts on the selection as the user may see it: another team's conversation comes back
        # "not found" and is left alone (tests/test_bulk.py).
        "inbox:bulk",
    ],
    TEAM: [
        "inbox:conversation", "inbox:reply", "inbox:note", "inbox:status",
        # ``assignee=me`` (BODIES): taking a conversation is for whoever may answer it.
        "inbox:assign",
        "meta:message_hide", "routing:conversation_take",
        "inbox:snooze", "inbox:priority", "inbox:tags",
        # The composer's saved replies: the conversation's team's and the shared ones.
        "inbox:composer-saved-search", "inbox:composer-saved-text",
        # One citizen across channels: from a conversation one may answer (the link's author,
        # the officer, may undo it; so may supervisors and admins).
        "inbox:person-link", "inbox:person-notes", "inbox:person-link-undo",
        # A citizen's whole e-mail and its attachments, for those who see the conversation.
        "email:message", "email:part",
    ],
    TEAM_SUPERVISE: ["teams:move", "inbox:approval-decide",
                     # Team A's saved reply: its officers use it, its supervisors and admins manage it.
                     "inbox:library-edit", "inbox:library-delete"],
    # (taking a conversation for oneself is TEAM: "routing:conversation_take", assignee=me)
    SUPERVISOR_CLASS: [
        "dashboard:page",
        "routing:calendars", "routing:calendar", "routing:calendar_regions", "routing:calendar_preview",
        "routing:policies", "routing:policy", "routing:rules", "routing:rule",
        "inbox:approvals", "records:audit", "records:audit_csv",
        # The reply library: admins, and supervisors for their teams (BODIES: a reply of team B).
        "inbox:library", "inbox:library-new",
    ],
    OWN: ["inbox:draft-withdraw",
          # An export is its requester's (the officer's): nobody else's, whatever their role.
          "records:export", "records:export_download"],
    ADMIN_CLASS: [
        "routing:calendar POST", "routing:calendar_new", "routing:calendar_new_preview",
        "routing:calendar_preview POST", "routing:calendar_accounts",
        "routing:policy POST", "routing:policy_new", "routing:rule POST", "routing:rule_new", "routing:rule_action",
        "teams:teams", "teams:team", "teams:team_new", "teams:member_add", "teams:member_remove",
        "teams:people", "teams:person", "teams:person_active",
        "teams:autoreplies", "teams:autoreply",
        "meta:connect", "x:accounts", "x:connect", "x:callback", "x:oauth1",
        "telegram:connect", "security:settings",
        "records:people", "records:person", "records:person_dsar", "records:person_hold", "records:person_remove",
        "records:contact_person", "records:holds", "records:conversation_hold", "records:retention",
        "records:retention_set", "records:hold_release", "telegram:mode",
        "email:connect", "webform:connect", "webform:settings",
    ],
    # The world holds no such object yet (an export, a hold, a Telegram file): only that nobody
    # gets anything and nothing changes is checked. Give the world one and a real class instead.
    # (telegram:file needs a real bot's getFile behind it.)
    UNSEEN: ["telegram:file"],
    # Those for whom a second factor is optional may turn it off; admins and supervisors may not.
    OFFICERS_ONLY: ["security:disable POST"],
    # Django's admin site guards every one of its views centrally (AdminSite.admin_view), so
    # its routes, present and future, are one class; unnamed ones are matched by pattern.
    ADMIN_SITE: ["admin:*", "admin/*"],
    WEBHOOK: ["webhooks:receive"],
}

API: dict[str, list[str]] = {
    SIGNED_IN: [
        "v1_conversations_list", "v1_teams_list", "v1_presence_retrieve", "v1_presence_create",
        "v1_approvals_list",  # an officer's own drafts, a supervisor's teams' drafts
        "v1_conversations_bulk_create",  # others' conversations come back "not_found"
        "v1_notifications_list", "v1_notifications_read_create",  # one's own only
        "v1_saved_replies_list",  # the teams' whose queue one sees, and the shared ones
        "v1_tags_list", "v1_tags_retrieve",
    ],
    TEAM: [
        "v1_conversations_retrieve", "v1_conversations_messages_list", "v1_conversations_reply_options_list",
        "v1_conversations_reply_create", "v1_conversations_notes_create", "v1_conversations_status_create",
        "v1_teams_retrieve", "v1_conversations_take_create",
        "v1_approvals_retrieve",  # the draft's author (the officer) reads it
        "v1_conversations_priority_create", "v1_conversations_snooze_create", "v1_conversations_tags_create",
        "v1_saved_replies_retrieve",
    ],
    # A team's settings are seen by its members and changed by admins only.
    TEAM_SUPERVISE: ["v1_conversations_assign_create", "v1_teams_update", "v1_teams_partial_update",
                     "v1_approvals_approve_create", "v1_approvals_return_create",
                     # Team A's saved reply: its supervisors and admins change it. PUT has no body:
                     # an officer is refused before the input is read.
                     "v1_saved_replies_update", "v1_saved_replies_partial_update", "v1_saved_replies_destroy"],
    SUPERVISOR_CLASS: [
        "v1_dashboard_retrieve", "v1_channel_accounts_list",
        "v1_service_calendars_list", "v1_service_calendars_retrieve",
        "v1_sla_policies_list", "v1_sla_policies_retrieve",
        "v1_routing_rules_list", "v1_routing_rules_retrieve", "v1_routing_rules_versions_list",
        "v1_channel_accounts_approval_retrieve",
        "v1_saved_replies_create",  # for one's own team (BODIES: team B, the supervisor's)
    ],
    ADMIN_CLASS: [
        "v1_channel_accounts_partial_update",
        "v1_service_calendars_create", "v1_service_calendars_update", "v1_service_calendars_partial_update",
        "v1_sla_policies_create", "v1_sla_policies_update", "v1_sla_policies_partial_update",
        "v1_routing_rules_create", "v1_routing_rules_update", "v1_routing_rules_partial_update",
        "v1_routing_rules_destroy", "v1_routing_rules_move_create", "v1_routing_rules_dry_run_create",
        "v1_channel_accounts_approval_partial_update", "v1_tags_create", "v1_tags_partial_update",
    ],
}

# Which object of the world a path argument names: pages by URL-name prefix (longest wins),
# the API by path prefix. Values are attributes of ``World``.
ARGS: dict[str, dict[str, str]] = {
    "inbox:": {"pk": "conversation"},
    "teams:move": {"pk": "conversation"},
    "meta:message_hide": {"pk": "fb_message"},
    "inbox:approval-decide": {"pk": "draft"},
    "inbox:draft-withdraw": {"pk": "draft"},
    "routing:calendar": {"pk": "calendar"},
    "routing:polic": {"pk": "policy"},
    "routing:rule": {"pk": "rule"},
    "teams:team": {"slug": "team_slug"},
    "teams:member": {"slug": "team_slug", "user_id": "officer_id"},
    "routing:conversation_take": {"pk": "conversation"},
    "teams:person": {"pk": "officer_id"},
    "teams:autoreply": {"account_id": "account_id"},
    "webhooks:": {"slug": "webhook_slug"},
    "telegram:mode": {"pk": "telegram_account"},
    "telegram:file": {"bot_id": "one", "chat_id": "one", "message_id": "one", "unique_id": "one"},
    "records:person": {"pk": "person"},
    "records:contact_person": {"pk": "lone_contact"},
    "records:conversation_hold": {"pk": "conversation"},
    "records:retention_set": {"pk": "account_id"},
    "records:export": {"uuid": "export_uuid"},
    "records:hold_release": {"pk": "hold"},
    "inbox:library-": {"pk": "saved_reply"},
    "inbox:composer-saved-text": {"pk": "conversation", "saved_id": "saved_reply"},
    "inbox:person-notes": {"pk": "person"},
    "inbox:person-link-undo": {"pk": "person_link"},
    "email:": {"address": "email_address", "key": "email_key", "index": "email_part"},
    "webform:settings": {"pk": "webform_account"},
    "webform_public:": {"slug": "webform_slug"},
    "admin/": {"object_id": "one", "url": "nowhere"},
    "admin:otp_totp_totpdevice_": {"object_id": "totp_device", "pk": "totp_device"},
    "admin:": {"object_id": "one", "pk": "one", "app_label": "app_label", "content_type_id": "one", "id": "one", "object_pk": "team_id",
               "user_id": "officer_id", "group_id": "one"},
}
API_ARGS: dict[str, str] = {
    "/api/v1/conversations/": "conversation",
    "/api/v1/teams/": "team_slug",
    "/api/v1/channel-accounts/": "account_id",
    "/api/v1/service-calendars/": "calendar",
    "/api/v1/sla-policies/": "policy",
    "/api/v1/routing-rules/": "rule",
    "/api/v1/approvals/": "draft",
    "/api/v1/tags/": "tag",
    "/api/v1/saved-replies/": "saved_reply",
}
# Query strings a page needs to mean anything: URL name -> query (formatted with the world).
QUERIES: dict[str, str] = {
    "webform_public:sent": "r={webform_receipt}",
}
# Bodies of writes whose refusal only means something with real input: (route or operation) -> body.
BODIES: dict[str, dict] = {
    "inbox:assign": {"assignee": "me"},
    "inbox:reply": {"text": "Gràcies, ho mirem", "option": "public"},
    "inbox:note": {"text": "internal"},
    "inbox:status": {"status": "resolved"},
    "teams:move": {"team": "{other_team_id}"},
    "v1_conversations_assign_create": {"assignee": "{other_officer_id}"},
    "v1_conversations_reply_create": {"text": "Gràcies", "option": "public"},
    "v1_conversations_notes_create": {"text": "internal"},
    "v1_conversations_status_create": {"status": "resolved"},
    "v1_teams_partial_update": {"assignment": "round_robin"},
    "inbox:snooze": {"until": "tomorrow"},
    "inbox:priority": {"priority": "3"},
    "inbox:tags": {"tags": "{tag}"},
    "inbox:bulk": {"action": "resolve", "conversations": "{conversation}"},
    "inbox:library-new": {"title": "Bins", "body": "We will collect it.", "kind": "other", "team": "{other_team_id}",
                          "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"},
    "inbox:library-edit": {"title": "Bus times", "body": "See the timetable.", "kind": "other",
                           "team": "{team_id}", "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"},
    "inbox:person-link": {"contact": "{suggested_contact}"},
    "inbox:person-notes": {"notes": "Prefers e-mail"},
    "records:hold_release": {"release-reason": "Case closed"},
    "telegram:mode": {"mode": "polling"},
    "v1_conversations_priority_create": {"priority": 3},
    "v1_conversations_snooze_create": {"until": "tomorrow"},
    "v1_conversations_tags_create": {"add": ["{tag_slug}"]},
    "v1_conversations_bulk_create": {"action": "resolve", "conversations": ["{conversation}"]},
    "v1_notifications_read_create": {"all": True},
    "v1_saved_replies_create": {"title": "Bins", "body": "We will collect it.", "team": "{other_team_id}"},
    "v1_saved_replies_partial_update": {"title": "Bus times"},
    "v1_tags_create": {"name": "Elections", "slug": "elections"},
    "v1_tags_partial_update": {"requires_approval": True},
    "v1_channel_accounts_approval_partial_update": {"reply_approval": "all_public"},
}

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Written by signing in, not by the request under test.
IGNORED_TABLES = {"django_session", "axes_accesslog", "axes_accessattempt", "axes_accessfailurelog"}
MARKER = "Zq7-TEAM-A-ONLY"


# --- Routes, from the resolver and the schema ----------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the URL name (or pattern), or the operationId
    kind: str  # "page" or "api"
    route: str  # the pattern, or the OpenAPI path
    method: str | None = None  # API operations have one; pages are tried with every method
    params: tuple[str, ...] = ()
    named: bool = True

    def __str__(self) -> str:
        return f"{self.method} {self.key}" if self.method else self.key


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            inner = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + str(pattern.pattern), name, _params(pattern)


def _params(pattern: URLPattern) -> tuple[str, ...]:
    converters = getattr(pattern.pattern, "converters", None)
    return tuple(converters) if converters else tuple(pattern.pattern.regex.groupindex)


def page_routes() -> list[Route]:
    """Every URL pattern but the API's (those are its OpenAPI operations, below)."""
    routes = {}
    for route, name, params in _walk(get_resolver().url_patterns):
        if route.startswith("api/v1/"):
            continue
        key = name or route
        routes.setdefault(key, Route(key=key, kind="page", route=route, params=params, named=bool(name)))
    return list(routes.values())


def api_routes() -> list[Route]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        Route(key=operation["operationId"], kind="api", route=path, method=method.upper(),
              params=tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "path"))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


def api_url_patterns_without_operation() -> list[str]:
    """API URL patterns that no OpenAPI path covers (an APIView the schema does not see)."""
    paths = {r.route for r in api_routes()}
    missing = []
    for route, name, _ in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or route.endswith(r"\.(?P<format>[a-z0-9]+)/?$"):
            continue
        normalised = "/" + route.replace("/^", "/").removesuffix("$")
        for old, new in ((r"(?P<pk>\d+)", "{id}"), (r"(?P<pk>[^/.]+)", "{id}"), ("<int:pk>", "{id}"),
                         ("<slug:slug>", "{slug}")):
            normalised = normalised.replace(old, new)
        if normalised not in paths:
            missing.append(f"{name or route} ({normalised})")
    return missing


def access_class(route: Route, method: str) -> str | None:
    table = PAGES if route.kind == "page" else API
    for access, keys in table.items():
        if f"{route.key} {method}" in keys:
            return access
    for access, keys in table.items():
        if route.key in keys or (route.kind == "page" and any(
            "*" in k and fnmatch.fnmatchcase(route.key, k) for k in keys
        )):
            return access
    return None


ALL_ROUTES = [*page_routes(), *api_routes()]


def test_every_route_has_an_entry():
    missing = [str(r) for r in ALL_ROUTES if access_class(r, r.method or "GET") is None]
    assert not missing, (
        "Routes without an entry in the permission matrix (tests/test_permission_matrix.py, PAGES or API; "
        f"the module's docstring says how): {missing}"
    )
    assert not api_url_patterns_without_operation(), api_url_patterns_without_operation()


def test_every_entry_names_a_route():
    """A renamed route leaves a stale entry behind: it would silently stop being checked."""
    names = {r.key for r in ALL_ROUTES}
    stale = [
        key for table in (PAGES, API) for keys in table.values() for key in keys
        if "*" not in key and key.split(" ")[0] not in names
    ]
    assert not stale, f"Entries that name no route: {stale}"


# --- The world and the cast ------------------------------------------------------------------


class World:
    pass


def _user(django_user_model, username, **extra):
    return django_user_model.objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> World:
    """Built once for the module in a transaction that is rolled back at its end; each test
    runs in a savepoint inside it (pytest-django's ``db``), each request in another."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _world(get_user_model())
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _world(django_user_model) -> World:
    w = World()
    team_a = Team.objects.create(name="Mobility", slug="mobility")
    team_b = Team.objects.create(name="Waste & cleaning", slug="waste")
    w.officer = _user(django_user_model, "alice")
    team_member_add(team_a, w.officer, OFFICER)
    w.colleague = _user(django_user_model, "anna")  # another officer of team A, to be assigned
    team_member_add(team_a, w.colleague, OFFICER)
    w.other_officer = _user(django_user_model, "bob")
    team_member_add(team_b, w.other_officer, OFFICER)
    w.other_supervisor = _user(django_user_model, "sam")
    team_member_add(team_b, w.other_supervisor, SUPERVISOR)
    w.admin = _user(django_user_model, "dave", is_staff=True, is_superuser=True)
    w.admin.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    w.deactivated = _user(django_user_model, "dora")
    team_member_add(team_a, w.deactivated, OFFICER)

    account = ChannelAccount.objects.create(
        platform="simulator", external_id="city-sim", name="City (simulated)", handle="city", default_team=team_a,
    )
    ChannelAccount.objects.create(platform="simulator", external_id="waste-sim", name="Waste", default_team=team_b)
    contact = Contact.objects.create(platform="simulator", external_id="c1", handle="citizen", name=f"Name {MARKER}")
    conversation = Conversation.objects.create(
        account=account, kind="public", thread_key="mention:t1", contact=contact, team=team_a,
        subject=f"Bus {MARKER}", last_message_preview=f"The bus {MARKER}", last_inbound_at=timezone.now(),
    )
    Message.objects.create(
        conversation=conversation, account=account, direction="in", kind="mention", visibility="public",
        external_id="m1", author_contact=contact, text=f"The bus did not come {MARKER}", sent_at=timezone.now(),
    )
    fb = ChannelAccount.objects.create(platform="facebook", external_id="page-1", name="City page", default_team=team_a)
    fb_contact = Contact.objects.create(platform="facebook", external_id="psid-1", name=f"FB {MARKER}")
    fb_conversation = Conversation.objects.create(
        account=fb, kind="public", thread_key="post_1:c1", contact=fb_contact, team=team_a,
    )
    fb_message = Message.objects.create(
        conversation=fb_conversation, account=fb, direction="in", kind="comment", visibility="public",
        external_id="c1", author_contact=fb_contact, text=f"Comment {MARKER}", sent_at=timezone.now(),
    )
    w.calendar = ServiceCalendar.objects.create(name="Office hours", timezone="Europe/Madrid", periods=[])
    w.policy = SlaPolicy.objects.create(name="Default", first_response_minutes=120)
    w.rule = RoutingRule.objects.create(name="Buses", conditions={}, actions=[{"type": "route_to_team", "team": "mobility"}])
    w.conversation = conversation.pk
    w.fb_message = fb_message.pk
    w.calendar, w.policy, w.rule = w.calendar.pk, w.policy.pk, w.rule.pk
    w.team_slug, w.team_id, w.other_team_id = team_a.slug, team_a.pk, team_b.pk
    w.account_id = account.pk
    w.officer_id, w.other_officer_id = w.officer.pk, w.colleague.pk
    w.webhook_slug = "simulator"
    w.person = Person.objects.create(display_name="A citizen").pk
    Contact.objects.filter(pk=contact.pk).update(person_id=w.person)
    w.lone_contact = Contact.objects.create(platform="simulator", external_id="c2", name="Lone").pk
    w.missing_uuid = "00000000-0000-4000-8000-000000000000"
    w.draft = _draft(conversation, w.officer)
    w.one = "1"
    w.app_label = "inbox"
    w.nowhere = "no/such/page/"
    _world_more(w, team_a, account, contact, fb_conversation)

    w.clients = {role: signed_in(getattr(w, role))
                 for role in ("officer", "other_officer", "other_supervisor", "admin", "deactivated")}
    w.clients["anonymous"] = Client()
    # Signed in, then deactivated by an admin: the session must be worth nothing from now on.
    w.deactivated.is_active = False
    w.deactivated.save(update_fields=["is_active"])
    return w


def _world_more(w: World, team_a: Team, account: ChannelAccount, contact: Contact, held: Conversation) -> None:
    """Team A's objects of the later pages: a tag, a saved reply, a link of two contacts (and a
    third to suggest), an e-mail with an attachment, a contact form, an export, a legal hold,
    a Telegram bot."""
    from django.core import signing

    from channels_adapters.email import adapter as email_adapter
    from channels_adapters.email import payloads as email_payloads
    from channels_adapters.webform.views import RECEIPT_SALT
    from inbox.models import LegalHold, RawEvent, RecordExport, SavedReply, Tag
    from inbox.services.people import contacts_link

    tag = Tag.objects.create(name="Buses", slug="buses")
    w.tag, w.tag_slug = tag.pk, tag.slug
    # Team A's own: nobody outside team A may read its text (the marker). (Its title is listed to
    # every supervisor by the routing rule editor's builder, where rules name saved replies.)
    w.saved_reply = SavedReply.objects.create(title="Bus times", body=f"See the timetable {MARKER}.",
                                              team=team_a).pk

    def contact_in_team_a(external_id: str) -> Contact:
        other = Contact.objects.create(platform="simulator", external_id=external_id, name=f"Citizen {external_id}")
        Conversation.objects.create(account=account, kind="private", thread_key=f"dm:{external_id}", contact=other,
                                    team=team_a, last_inbound_at=timezone.now())
        return other

    # A link made by the officer (the marker's contact and another), and one more to suggest.
    w.person_link = contacts_link(w.officer, contact, contact_in_team_a("c3")).pk
    w.suggested_contact = contact_in_team_a("c4").pk

    address = "ajuntament@example.org"
    mail = (
        "From: Citizen <citizen@example.net>\r\nTo: ajuntament@example.org\r\nSubject: Bins\r\n"
        "Message-ID: <m1@example.net>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0200\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        f"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe bins {MARKER}\r\n"
        '--b1\r\nContent-Type: text/plain; name="note.txt"\r\nContent-Disposition: attachment; filename="note.txt"'
        f"\r\n\r\nAttached {MARKER}\r\n--b1--\r\n"
    ).encode()
    email_account = ChannelAccount.objects.create(platform="email", external_id=address, name="Ajuntament mail",
                                                  default_team=team_a)
    email_contact = Contact.objects.create(platform="email", external_id="citizen@example.net", name="Citizen")
    email_conversation = Conversation.objects.create(
        account=email_account, kind="private", thread_key="mail:m1", contact=email_contact, team=team_a,
        subject="Bins", last_inbound_at=timezone.now(),
    )
    key = email_payloads.read_mail(mail).message_id
    raw = RawEvent.objects.create(platform="email", account=email_account, source="poll", body=mail)
    Message.objects.create(
        conversation=email_conversation, account=email_account, direction="in", kind="email",
        visibility="private", external_id=key, author_contact=email_contact, text=f"The bins {MARKER}",
        sent_at=timezone.now(), raw_event=raw,
    )
    w.email_address, w.email_key = address, email_adapter.encode_key(key)
    w.email_part = next(i for i, part in email_payloads.leaves(email_payloads.parse_bytes(mail))
                        if part.get_filename() == "note.txt")

    webform = ChannelAccount.objects.create(platform="webform", external_id="contact-city", name="Contact form",
                                            default_team=team_a)
    w.webform_account, w.webform_slug = webform.pk, webform.external_id
    w.webform_receipt = signing.dumps({"r": "WF-1", "b": "email"}, salt=RECEIPT_SALT)

    w.export_uuid = RecordExport.objects.create(requester=w.officer, kind="foi", scope={"conversation": w.conversation}).uuid
    w.hold = LegalHold.objects.create(conversation=held, reason="Complaint pending", set_by=w.admin).pk
    w.telegram_account = ChannelAccount.objects.create(platform="telegram", external_id="123456", name="City bot",
                                                       default_team=team_a, simulated=False).pk
    # django-otp's admin pages for an authenticator (config, QR code) read it with .get(): they
    # need one that exists, whatever ids earlier tests used up.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    w.totp_device = TOTPDevice.objects.create(user=w.officer, name="Officer's phone", confirmed=True).pk


def _draft(conversation, author) -> int | None:
    """A reply held for approval (inbox/approvals), where that part of the app exists."""
    try:
        model = apps.get_model("inbox", "ReplyDraft")
    except LookupError:
        return None
    return model.objects.create(conversation=conversation, author=author, text="Draft", option="public",
                                visibility="public").pk


def signed_in(user) -> Client:
    """A browser session as after a complete sign-in: password and, where the app asks for
    one (admins and supervisors), a verified second factor (django-otp's session key)."""
    client = Client()
    client.force_login(user)
    if apps.is_installed("django_otp"):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


CAST = ("anonymous", "officer", "other_officer", "other_supervisor", "admin", "deactivated")
ALLOW, SIGN_IN, FORBIDDEN, HIDDEN, ADMIN_LOGIN, REFUSED = "allow", "sign-in", 403, 404, "admin-login", "refused"
STAFF = "staff"  # let into the admin site

EXPECTED: dict[str, dict[str, object]] = {
    PUBLIC: dict.fromkeys(CAST, ALLOW),
    SIGNED_IN: {**dict.fromkeys(CAST, ALLOW), "anonymous": SIGN_IN, "deactivated": SIGN_IN},
    TEAM: {"anonymous": SIGN_IN, "officer": ALLOW, "other_officer": HIDDEN, "other_supervisor": HIDDEN,
           "admin": ALLOW, "deactivated": SIGN_IN},
    TEAM_SUPERVISE: {"anonymous": SIGN_IN, "officer": FORBIDDEN, "other_officer": HIDDEN,
                     "other_supervisor": HIDDEN, "admin": ALLOW, "deactivated": SIGN_IN},
    SUPERVISOR_CLASS: {"anonymous": SIGN_IN, "officer": FORBIDDEN, "other_officer": FORBIDDEN,
                       "other_supervisor": ALLOW, "admin": ALLOW, "deactivated": SIGN_IN},
    ADMIN_CLASS: {**dict.fromkeys(CAST, FORBIDDEN), "anonymous": SIGN_IN, "admin": ALLOW, "deactivated": SIGN_IN},
    OWN: {"anonymous": SIGN_IN, "officer": ALLOW, "other_officer": HIDDEN, "other_supervisor": HIDDEN,
          "admin": HIDDEN, "deactivated": SIGN_IN},
    ADMIN_SITE: {**dict.fromkeys(CAST, ADMIN_LOGIN), "admin": STAFF},
    UNSEEN: {**dict.fromkeys(CAST, REFUSED), "anonymous": SIGN_IN, "deactivated": SIGN_IN},
    OFFICERS_ONLY: {"anonymous": SIGN_IN, "officer": ALLOW, "other_officer": ALLOW, "other_supervisor": FORBIDDEN,
                    "admin": FORBIDDEN, "deactivated": SIGN_IN},
    WEBHOOK: dict.fromkeys(CAST, REFUSED),
}
# Who may see team A's conversation at all: everyone else must never read the marker.
SEES_TEAM_A = {"officer", "admin"}


# --- Requests --------------------------------------------------------------------------------


def _args_for(route: Route, world: World, names: list[str]) -> dict[str, str]:
    if route.kind == "api":
        attr = next((a for prefix, a in API_ARGS.items() if route.route.startswith(prefix)), None)
        assert attr or not names, f"{route}: no entry in API_ARGS for {route.route}"
        return {name: str(getattr(world, attr)) for name in names}
    candidates = [(p, m) for p, m in ARGS.items() if route.key.startswith(p)]
    mapping = max(candidates, key=lambda c: len(c[0]))[1] if candidates else {}
    missing = [n for n in names if n not in mapping]
    assert not missing, f"{route}: say in ARGS which object of the world {missing} names"
    return {name: str(getattr(world, mapping[name])) for name in names}


def url_for(route: Route, world: World) -> str:
    if route.kind == "api":
        url = route.route
        for name, value in _args_for(route, world, list(route.params)).items():
            url = url.replace("{" + name + "}", value)
        return url
    kwargs = _args_for(route, world, list(route.params))
    if route.named:
        query = QUERIES.get(route.key, "").format(**vars(world))
        return reverse(route.key, kwargs=kwargs or None) + (f"?{query}" if query else "")
    # An unnamed route (the admin's old-style object URLs): fill its <converter:name> parts.
    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: kwargs[m.group(1)], route.route)
    url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: kwargs[m.group(1)], url)
    return "/" + url.replace("^", "").removesuffix("$")


def _body(route: Route, world: World) -> dict:
    body = BODIES.get(route.key, {})
    return {k: _fill(v, world) for k, v in body.items()}


def _fill(value, world: World):
    if isinstance(value, str):
        return value.format(**vars(world))
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def _changes() -> dict[str, int]:
    """Rows inserted, updated or deleted in this transaction so far, per table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del + n_tup_hot_upd FROM pg_stat_xact_user_tables"
        )
        return {name: n for name, n in cursor.fetchall() if n and name not in IGNORED_TABLES}


def send(client: Client, route: Route, method: str, url: str, body: dict):
    if route.kind == "api":
        return client.generic(method, url, json.dumps(body) if method != "GET" else "",
                              content_type="application/json", HTTP_ACCEPT="application/json")
    if method == "GET":
        return client.get(url)
    if method == "POST":
        return client.post(url, body)
    from urllib.parse import urlencode
    return client.generic(method, url, urlencode(body), content_type="application/x-www-form-urlencoded")


def outcome(route: Route, response) -> object:
    status = response.status_code
    location = response.get("Location", "")
    if status == 302 and "/admin/login/" in location:
        return ADMIN_LOGIN
    if status == 302 and location.startswith(reverse("login")):
        return SIGN_IN
    if status in (401, 403) and _is_unauthenticated(response):
        return SIGN_IN
    if status in (403, 404):
        return status
    return status


def _is_unauthenticated(response) -> bool:
    """DRF's answer to a request without (valid) credentials, in whatever renderer."""
    data = getattr(response, "data", None)
    detail = data.get("detail") if isinstance(data, dict) else None
    return response.status_code == 401 or getattr(detail, "code", "") in ("not_authenticated", "authentication_failed")


def check(route: Route, method: str, role: str, expected, response, changed: dict[str, int]) -> list[str]:
    got = outcome(route, response)
    status = response.status_code
    problems = []
    if expected == ALLOW:
        # A public route may refuse a method to the anonymous that it takes from the signed in
        # (the sign-in page redirects those); that is no question of privilege.
        # (and signing out of the admin site lands on the sign-in page).
        refused = (403, 404) if route.key in PAGES[PUBLIC] else (SIGN_IN, ADMIN_LOGIN, 403, 404, 405)
        if got in refused or status >= 500:
            problems.append(f"{role}: expected to be allowed, got {status} {response.get('Location', '')}")
    elif expected == STAFF:
        # Inside the admin site, what each model allows (read-only records, no add) is its ModelAdmin's business.
        if got == ADMIN_LOGIN or status >= 500:
            problems.append(f"{role}: expected the admin site, got {status} {response.get('Location', '')}")
    elif expected == REFUSED:
        if not 400 <= status < 500:
            problems.append(f"{role}: expected a refusal (4xx), got {status}")
    elif got != expected:
        problems.append(f"{role}: expected {expected}, got {status} {response.get('Location', '')}".rstrip())
    if expected not in (ALLOW, STAFF) and changed:
        problems.append(f"{role}: may not act, yet the database changed: {changed}")
    if role not in SEES_TEAM_A and not getattr(response, "streaming", False) and MARKER.encode() in response.content:
        problems.append(f"{role}: the answer shows team A's conversation")
    return problems


def request_as(world: World, role: str, route: Route, method: str):
    """One request in a savepoint that is rolled back: the next request meets the same world."""
    url = url_for(route, world)
    with transaction.atomic():
        before = _changes()
        # A fresh browser with the role's session cookie: a sign-out must not carry over.
        client = Client()
        client.cookies = SimpleCookie(world.clients[role].cookies.output(header="", sep=";"))
        response = send(client, route, method, url, _body(route, world))
        after = _changes()
        transaction.set_rollback(True)
    changed = {t: n - before.get(t, 0) for t, n in after.items() if n != before.get(t, 0)}
    return response, changed


def _methods(world: World, route: Route) -> list[str]:
    """GET and the write methods the route accepts (an admin is told 405 for the others)."""
    if route.method:
        return [route.method]
    if access_class(route, "GET") == ADMIN_SITE:
        return ["GET", "POST"]
    methods = []
    for method in ("GET", *WRITE_METHODS):
        response, _changed = request_as(world, "admin", route, method)
        if response.status_code != 405:
            methods.append(method)
    return methods


@pytest.mark.parametrize("route", ALL_ROUTES, ids=str)
def test_route(db, world, route):
    problems = []
    methods = _methods(world, route)
    assert methods, f"{route}: accepts no method at all"
    for method in methods:
        access = access_class(route, method)
        assert access, f"{method} {route}: no entry in the permission matrix"
        for role in CAST:
            if access == ADMIN_SITE and role == "admin" and method != "GET":
                continue  # the admin's own writes there are Django's business
            response, changed = request_as(world, role, route, method)
            problems += [f"{method} {route.route} [{access}] {p}" for p in
                         check(route, method, role, EXPECTED[access][role], response, changed)]
    assert not problems, "\n".join(problems)


# --- Permission before validation --------------------------------------------------------------


def test_an_officer_cannot_tell_existing_user_ids_from_missing_ones_by_assigning(db, world):
    """The reported leak: 400 "invalid pk" for a missing id but 403 for an existing one listed
    user ids. Permission is now settled first: both are the same 403, and nothing changes."""
    url = f"/api/v1/conversations/{world.conversation}/assign/"
    client = signed_in(world.officer)
    missing = get_user_model().objects.order_by("-pk").first().pk + 1000
    answers = []
    for assignee in (world.colleague.pk, missing, world.admin.pk, "not-a-number"):
        with transaction.atomic():
            before = _changes()
            response = client.post(url, {"assignee": assignee}, content_type="application/json")
            changed = {t: n for t, n in _changes().items() if n != before.get(t, 0)}
            transaction.set_rollback(True)
        assert not changed, changed
        answers.append((response.status_code, response.json()))
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][0] == 403
    # Taking it for oneself stays an officer's right.
    response = client.post(url, {"assignee": world.officer.pk}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["assignee"]["id"] == world.officer.pk
