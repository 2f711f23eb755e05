"""Writes and reads of routing rules: save (a new version each time, audited), move,
delete, the dry run, and what a rule names that no longer exists.

Evaluation lives in ``routing.rules``; applying matches to conversations in
``routing.services.conversations_route``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from inbox.audit import audit_record
from inbox.models import Message, SavedReply, Tag, Team
from routing.models import ContactList, RoutingRule, RoutingRuleVersion, RoutingTrace, SlaPolicy
from routing.rules import (
    Subject,
    explain,
    inside_hours_of,
    rule_compile,
    rule_validate,
    rules_changed,
)

RULE_FIELDS = ("name", "position", "enabled", "mode", "stop", "conditions", "actions")
DRY_RUN_LIMIT = 5000  # most recent inbound messages a dry run reads
DRY_RUN_SAMPLE = 10


def snapshot(rule: RoutingRule, *, deleted: bool = False) -> dict:
    data = {name: getattr(rule, name) for name in RULE_FIELDS}
    if deleted:
        data["deleted"] = True
    return data


def _version_add(rule: RoutingRule, actor, reason: str, *, deleted: bool = False) -> RoutingRuleVersion:
    return RoutingRuleVersion.objects.create(
        rule=rule, number=rule.version, snapshot=snapshot(rule, deleted=deleted), reason=reason[:300],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _tags_ensure(actions: Sequence[dict]) -> None:
    """Tags an ``add_tags`` action names are created with the rule (an admin's shorthand)."""
    names = {name.strip() for a in actions if a.get("type") == "add_tags" for name in a.get("tags", ())}
    existing = set(Tag.objects.filter(name__in=names).values_list("name", flat=True))
    for name in sorted(names - existing):
        slug = slugify(name)[:60] or "tag"
        Tag.objects.get_or_create(name=name[:60], defaults={"slug": _free_slug(slug)})


def _free_slug(slug: str) -> str:
    candidate, n = slug, 1
    while Tag.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{slug[:55]}-{n}"
    return candidate


def rule_save(*, actor, rule: RoutingRule | None = None, reason: str = "", **fields) -> RoutingRule:
    """Create or change a rule (validated: ``RuleInvalid`` with the path of the error).

    Every save is a new version with who and why, and is audited; every process reloads the
    rules at its next batch.
    """
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown rule fields {sorted(unknown)}")
    current = snapshot(rule) if rule is not None else {}
    merged = {**current, **fields}
    rule_validate(merged.get("conditions") or {}, merged.get("actions") or [])
    now = timezone.now()
    with transaction.atomic():
        if rule is None:
            if "position" not in fields:
                top = RoutingRule.objects.filter(deleted_at__isnull=True).aggregate(m=Max("position"))["m"]
                fields["position"] = (top or 0) + 10
            rule = RoutingRule(**fields, version=1, created_by=_user(actor), updated_by=_user(actor),
                               created_at=now, updated_at=now)
            rule.save()
            verb = "routing_rule.create"
        else:
            rule = RoutingRule.objects.select_for_update().get(pk=rule.pk)
            changed = {k: v for k, v in fields.items() if getattr(rule, k) != v}
            if not changed:
                return rule
            for name, value in changed.items():
                setattr(rule, name, value)
            rule.version += 1
            rule.updated_by, rule.updated_at = _user(actor), now
            rule.save()
            fields = changed
            verb = "routing_rule.change"
        _tags_ensure(rule.actions)
        version = _version_add(rule, actor, reason)
        audit_record(actor, verb, rule, version=version.number, reason=reason, **fields)
        transaction.on_commit(rules_changed)
    return rule


def rule_move(*, actor, rule: RoutingRule, direction: str) -> RoutingRule:
    """Swap a rule with its neighbour above (``up``) or below (``down``): two new versions."""
    live = list(RoutingRule.objects.filter(deleted_at__isnull=True).order_by("position", "id"))
    index = next(i for i, r in enumerate(live) if r.pk == rule.pk)
    other_index = index - 1 if direction == "up" else index + 1
    if not 0 <= other_index < len(live):
        return rule
    with transaction.atomic():
        # Renumber in steps of 10 so that positions stay distinct and the swap is a swap.
        for i, r in enumerate(live):
            r._wanted = (i + 1) * 10
        live[index]._wanted, live[other_index]._wanted = live[other_index]._wanted, live[index]._wanted
        reason = _("moved up") if direction == "up" else _("moved down")
        for r in live:
            if r.position != r._wanted:
                rule_save(actor=actor, rule=r, reason=reason if r.pk == rule.pk else _("reordered"),
                          position=r._wanted)
    rule.refresh_from_db()
    return rule


def rule_delete(*, actor, rule: RoutingRule, reason: str = "") -> None:
    """Delete a rule from the list. Its versions stay, for the traces that name them."""
    with transaction.atomic():
        rule = RoutingRule.objects.select_for_update().get(pk=rule.pk)
        if rule.deleted_at is not None:
            return
        rule.version += 1
        rule.deleted_at = rule.updated_at = timezone.now()
        rule.updated_by = _user(actor)
        rule.save()
        _version_add(rule, actor, reason or _("deleted"), deleted=True)
        audit_record(actor, "routing_rule.delete", rule, version=rule.version, reason=reason)
        transaction.on_commit(rules_changed)


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


# --- references: what a rule names that no longer exists -------------------------------------


def references(rules: Iterable) -> dict[str, set]:
    """Every team slug, username, saved reply, SLA policy and contact list the rules name."""
    refs: dict[str, set] = {"team": set(), "user": set(), "saved_reply": set(), "policy": set(), "list": set()}

    def walk(node):
        if not isinstance(node, dict):
            return
        if node.get("field") == "contact_list" and isinstance(node.get("value"), list):
            refs["list"].update(node["value"])
        for key in ("all", "any"):
            for child in node.get(key, ()) or ():
                walk(child)
        if "not" in node:
            walk(node["not"])

    for rule in rules:
        walk(rule.conditions or {})
        for action in rule.actions or ():
            kind = action.get("type")
            if kind == "route_to_team":
                refs["team"].add(action.get("team"))
            elif kind == "assign_to":
                refs["user"].add(action.get("user"))
            elif kind == "auto_reply":
                refs["saved_reply"].add(action.get("saved_reply"))
            elif kind == "apply_sla_policy":
                refs["policy"].add(action.get("policy"))
    return refs


def existing(refs: dict[str, set]) -> dict[str, dict]:
    """Look up what ``references`` found: one query per kind that is named at all."""
    out: dict[str, dict] = {"team": {}, "user": {}, "saved_reply": {}, "policy": {}, "list": {}}
    if refs["team"]:
        out["team"] = {t.slug: t for t in Team.objects.filter(slug__in=refs["team"])}
    if refs["user"]:
        out["user"] = {u.get_username(): u for u in get_user_model().objects.filter(
            username__in=refs["user"], is_active=True)}
    if refs["saved_reply"]:
        out["saved_reply"] = {r.id: r for r in SavedReply.objects.filter(id__in=refs["saved_reply"])}
    if refs["policy"]:
        out["policy"] = {p.id: p for p in SlaPolicy.objects.filter(id__in=refs["policy"], is_active=True)}
    if refs["list"]:
        out["list"] = {cl.slug: cl for cl in ContactList.objects.filter(slug__in=refs["list"])}
    return out


def problems_of(rule, found: dict[str, dict]) -> list[str]:
    """What the rule names that is gone: shown in the UI; the action is skipped at routing."""
    out = []
    one = references([rule])
    for slug in sorted(one["team"] - set(found["team"])):
        out.append(_("Team “%(name)s” does not exist (any more): the action is skipped.") % {"name": slug})
    for name in sorted(one["user"] - set(found["user"])):
        out.append(_("Officer “%(name)s” does not exist or is deactivated: the action is skipped.") % {"name": name})
    for pk in sorted(one["saved_reply"] - set(found["saved_reply"])):
        out.append(_("Saved reply #%(id)s does not exist (any more): the action is skipped.") % {"id": pk})
    for pk in sorted(one["policy"] - set(found["policy"])):
        out.append(_("SLA policy #%(id)s does not exist or is inactive: the action is skipped.") % {"id": pk})
    for slug in sorted(one["list"] - set(found["list"])):
        out.append(_("Contact list “%(name)s” does not exist: nobody is on it.") % {"name": slug})
    return out


def rules_with_problems(rules: Sequence) -> dict[int, list[str]]:
    found = existing(references(rules))
    return {rule.pk: problems_of(rule, found) for rule in rules}


# --- subjects: messages as the rules see them ------------------------------------------------


def subjects_for(messages: Sequence[Message], first_ids: set[int], *, need_lists: bool) -> list[Subject]:
    """``messages`` with ``conversation``, ``conversation.contact`` and ``account__calendar``
    loaded; one more query when a rule asks about contact lists."""
    lists: dict[tuple[str, int], set[str]] = {}
    if need_lists and messages:
        contact_ids = {m.conversation.contact_id for m in messages}
        person_ids = {m.conversation.contact.person_id for m in messages} - {None}
        through_c = ContactList.contacts.through
        through_p = ContactList.people.through
        for contact_id, slug in through_c.objects.filter(contact_id__in=contact_ids).values_list(
                "contact_id", "contactlist__slug"):
            lists.setdefault(("c", contact_id), set()).add(slug)
        if person_ids:
            for person_id, slug in through_p.objects.filter(person_id__in=person_ids).values_list(
                    "person_id", "contactlist__slug"):
                lists.setdefault(("p", person_id), set()).add(slug)
    out = []
    for m in messages:
        contact = m.conversation.contact
        profile = contact.profile or {}
        followers = profile.get("followers")
        key_c, key_p = ("c", contact.id), ("p", contact.person_id)
        out.append(Subject(
            platform=m.account.platform, account_id=m.account_id, kind=m.kind,
            first_message=m.id in first_ids, text=m.text, language=m.conversation.language,
            verified=bool(profile.get("verified")),
            followers=followers if isinstance(followers, int) else 0,
            has_attachment=bool(m.attachments),
            lists_of=(lambda a=key_c, b=key_p: frozenset(lists.get(a, set()) | lists.get(b, set()))),
            inside_of=inside_hours_of(m.account.calendar, m.sent_at),
        ))
    return out


# --- the dry run -----------------------------------------------------------------------------


def rule_dry_run(*, conditions: dict, actions: list, days: int = 7, now=None) -> dict:
    """Run a rule (saved or not) over the last ``days`` of inbound messages; change nothing.

    Returns how many messages were read and matched, counts per team and per action, and a
    sample of matching messages with each condition's result.
    """
    rule_validate(conditions, actions)
    now = now or timezone.now()
    since = now - timedelta(days=days)
    compiled = rule_compile(id=0, version=0, version_id=None, name="", position=0, mode="active", stop=True,
                            conditions=conditions, actions=actions)
    messages = list(
        Message.objects.filter(direction=Message.Direction.INBOUND, sent_at__gte=since, deleted_at__isnull=True)
        .select_related("conversation__contact", "conversation__team", "account__calendar")
        .order_by("-sent_at", "-id")[:DRY_RUN_LIMIT]
    )
    conversation_ids = {m.conversation_id for m in messages}
    first = dict(
        Message.objects.filter(conversation_id__in=conversation_ids, direction=Message.Direction.INBOUND)
        .values("conversation_id").annotate(first=Min("id")).values_list("conversation_id", "first")
    ) if conversation_ids else {}
    subjects = subjects_for(messages, set(first.values()), need_lists="contact_list" in compiled.fields)
    matched = [(m, s) for m, s in zip(messages, subjects, strict=True) if compiled.matches(s)]
    teams = {t.slug: t.name for t in Team.objects.filter(
        slug__in=[a.get("team") for a in actions if a.get("type") == "route_to_team"])}
    per_action: Counter = Counter()
    for action in actions:
        per_action[_action_key(action)] = len(matched)
    per_team: Counter = Counter()
    route = next((a for a in actions if a.get("type") == "route_to_team"), None)
    for m, _s in matched:
        if route is not None:
            per_team[teams.get(route["team"], route["team"])] += 1
        else:
            per_team[m.conversation.team.name if m.conversation.team else _("(no team)")] += 1
    sample = [
        {
            "message": m.id, "conversation": m.conversation_id, "platform": m.account.platform,
            "kind": m.kind, "language": m.conversation.language, "sent_at": m.sent_at.isoformat(),
            "text": m.text[:280], "current_team": m.conversation.team.name if m.conversation.team else "",
            "conditions": explain(compiled.tree, s),
        }
        for m, s in matched[:DRY_RUN_SAMPLE]
    ]
    return {
        "days": days, "since": since.isoformat(), "messages": len(messages),
        "conversations": len(conversation_ids), "matched": len(matched),
        "matched_conversations": len({m.conversation_id for m, _s in matched}),
        "truncated": len(messages) >= DRY_RUN_LIMIT,
        "per_team": [{"team": k, "count": v} for k, v in per_team.most_common()],
        "per_action": [{"action": k, "count": v} for k, v in per_action.items()],
        "sample": sample,
    }


def _action_key(action: dict) -> str:
    kind = action.get("type", "")
    detail = {
        "route_to_team": action.get("team"), "set_priority": action.get("value"),
        "add_tags": ", ".join(action.get("tags", ())), "assign_to": action.get("user"),
        "auto_reply": action.get("saved_reply"), "apply_sla_policy": action.get("policy"),
    }.get(kind)
    return f"{kind}: {detail}" if detail not in (None, "") else kind


def traces_for(conversation_ids: Sequence[int]) -> dict[int, RoutingTrace]:
    """The latest trace of each conversation (one query)."""
    out: dict[int, RoutingTrace] = {}
    for trace in RoutingTrace.objects.filter(conversation_id__in=list(conversation_ids)).order_by(
            "conversation_id", "-evaluated_at", "-id"):
        out.setdefault(trace.conversation_id, trace)
    return out

