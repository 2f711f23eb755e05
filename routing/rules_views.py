"""Pages of the routing rules: the list in order, create/edit with a condition builder
(static/js/rules.js over JSON fields that work without it), dry run, versions.

Admins write, supervisors read (as ``/api/v1/routing-rules/``); anyone else gets a 403.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inbox.api.permissions import sees_channel_accounts
from inbox.models import ChannelAccount, SavedReply, Team
from inbox.permissions import can_manage_channels
from routing.models import ContactList, RoutingRule, SlaPolicy
from routing.rules import ACTIONS, FIELDS, KINDS, PRIORITIES, RuleInvalid, rule_validate
from routing.rules_services import (
    rule_delete,
    rule_dry_run,
    rule_move,
    rule_save,
    rules_with_problems,
)


def _check(request, *, write: bool = False) -> bool:
    may_write = can_manage_channels(request.user)
    if not (may_write or sees_channel_accounts(request.user)) or (write and not may_write):
        raise PermissionDenied
    return may_write


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)
    mode = forms.ChoiceField(label=gettext_lazy("Mode"), choices=RoutingRule.Mode.choices,
                             initial=RoutingRule.Mode.ACTIVE)
    stop = forms.BooleanField(label=gettext_lazy("Stop after this rule matches"), required=False, initial=True)
    conditions = forms.CharField(
        label=gettext_lazy("Conditions (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 8}),
        help_text=gettext_lazy('Empty or {} matches every message. Example: {"all": [{"field": "language", '
                               '"op": "in", "value": ["ca"]}]}'))
    actions = forms.CharField(
        label=gettext_lazy("Actions (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy('Example: [{"type": "route_to_team", "team": "waste"}]'))
    reason = forms.CharField(label=gettext_lazy("Why this change"), max_length=300, required=False,
                             help_text=gettext_lazy("Kept with the version, for whoever reads the history."))
    days = forms.IntegerField(label=gettext_lazy("Dry run over the last … days"), min_value=1, max_value=90,
                              initial=7, required=False)

    def _json(self, name: str, empty):
        raw = (self.cleaned_data.get(name) or "").strip()
        if not raw:
            return empty
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc

    def clean_conditions(self):
        return self._json("conditions", {})

    def clean_actions(self):
        return self._json("actions", [])

    def clean(self):
        data = super().clean()
        if "conditions" in data and "actions" in data:
            try:
                rule_validate(data["conditions"], data["actions"])
            except RuleInvalid as exc:
                target = "actions" if exc.path.startswith("actions") else "conditions"
                self.add_error(target, f"{exc.path}: {exc.message}")
        return data

    def rule_fields(self) -> dict:
        data = self.cleaned_data
        return {k: data[k] for k in ("name", "enabled", "mode", "stop", "conditions", "actions")}


def _initial(rule: RoutingRule) -> dict:
    return {"name": rule.name, "enabled": rule.enabled, "mode": rule.mode, "stop": rule.stop,
            "conditions": json.dumps(rule.conditions, ensure_ascii=False, indent=1),
            "actions": json.dumps(rule.actions, ensure_ascii=False, indent=1), "days": 7}


def _builder_options() -> dict:
    """What the condition builder offers (static/js/rules.js), read from the database."""
    return {
        "fields": {name: list(ops) for name, ops in FIELDS.items()},
        "values": {f"{name}.{op}": kind for name, ops in FIELDS.items() for op, kind in ops.items()},
        "actions": {kind: list(spec) for kind, spec in ACTIONS.items()},
        "kinds": list(KINDS),
        "priorities": list(PRIORITIES),
        "teams": [[t.slug, t.name] for t in Team.objects.order_by("name")],
        "accounts": [[a.id, f"{a.get_platform_display()} · {a.name}"] for a in ChannelAccount.objects.order_by("name")],
        "users": [[u.username, u.get_full_name() or u.username]
                  for u in get_user_model().objects.filter(is_active=True).order_by("username")],
        "saved_replies": [[r.id, f"{r.title} ({r.language})" if r.language else r.title]
                          for r in SavedReply.objects.order_by("title")],
        "policies": [[p.id, p.name] for p in SlaPolicy.objects.filter(is_active=True).order_by("name")],
        "lists": [[cl.slug, cl.name] for cl in ContactList.objects.order_by("name")],
        "labels": {
            "platform": _("Platform"), "account": _("Channel account"), "kind": _("Kind of message"),
            "first_message": _("First message of the conversation"), "text": _("Text"),
            "language": _("Detected language"), "contact_verified": _("Citizen is verified"),
            "contact_followers": _("Citizen's followers"), "contact_list": _("Citizen is on the list"),
            "service_hours": _("Service hours"), "has_attachment": _("Has an attachment"),
            "in": _("is one of"), "is": _("is"), "contains_any": _("contains any of the words"),
            "matches": _("matches the regular expression"), "gte": _("at least"),
            "route_to_team": _("Route to team"), "set_priority": _("Set priority"), "add_tags": _("Add tags"),
            "assign_to": _("Assign to officer"), "auto_reply": _("Send automatic reply"),
            "mark_spam": _("Mark as spam"), "apply_sla_policy": _("Apply SLA policy"),
            "all": _("All of these"), "any": _("Any of these"), "not": _("None of these"),
            "add_condition": _("Add condition"), "add_group": _("Add group"), "remove": _("Remove"),
            "add_action": _("Add action"), "inside": _("inside"), "outside": _("outside"),
            "yes": _("yes"), "no": _("no"), "comma": _("separate with commas"),
            "delay": _("delay (minutes)"), "choose": _("choose…"), "field": _("Field"),
            "operator": _("Operator"), "value": _("Value"), "action": _("Action"),
            "reassign": _("even if an officer holds it"),
            "missing": _("%(name)s (does not exist any more: skipped)"),
        },
    }


@login_required
@require_GET
def rule_list(request):
    may_write = _check(request)
    rules = list(RoutingRule.objects.filter(deleted_at__isnull=True).select_related("updated_by")
                 .order_by("position", "id"))
    problems = rules_with_problems(rules)
    team_names = dict(Team.objects.values_list("slug", "name"))
    for rule in rules:
        rule.problems = problems.get(rule.pk, [])
        rule.shown_actions = [{**a, "team_name": team_names.get(a.get("team"), "")} for a in rule.actions]
    return render(request, "routing/rule_list.html", {"rules": rules, "may_write": may_write,
                                                       "rules_section": "rules"})


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int | None = None):
    """Create (no ``pk``) or change a rule; "dry run" shows what it would match, unsaved."""
    dry_running = request.POST.get("do") == "dry_run"
    may_write = _check(request, write=request.method == "POST" and not dry_running)
    rule = get_object_or_404(RoutingRule, pk=pk, deleted_at__isnull=True) if pk is not None else None
    if rule is None and not may_write:
        raise PermissionDenied
    if request.method == "POST" and dry_running and not may_write:
        raise PermissionDenied
    form = RuleForm(request.POST if request.method == "POST" else None,
                    initial=_initial(rule) if rule else {"days": 7, "conditions": "{}", "actions": "[]"})
    dry_run = None
    if request.method == "POST" and form.is_valid():
        if dry_running:
            dry_run = rule_dry_run(conditions=form.cleaned_data["conditions"],
                                   actions=form.cleaned_data["actions"], days=form.cleaned_data["days"] or 7)
        else:
            saved = rule_save(actor=request.user, rule=rule, reason=form.cleaned_data["reason"],
                              **form.rule_fields())
            messages.success(request, _("Rule “%(name)s” saved (version %(version)s).")
                             % {"name": saved.name, "version": saved.version})
            return redirect("routing:rules")
    versions = list(rule.versions.select_related("created_by").order_by("-number")) if rule else []
    problems = rules_with_problems([rule]).get(rule.pk, []) if rule else []
    return render(request, "routing/rule_edit.html", {
        "rule": rule, "form": form, "may_write": may_write, "dry_run": dry_run, "versions": versions,
        "problems": problems, "builder": _builder_options(), "rules_section": "rules",
    })


@login_required
@require_POST
def rule_action(request, pk: int):
    """The list's buttons: move up/down, enable/disable, active/shadow, delete."""
    _check(request, write=True)
    rule = get_object_or_404(RoutingRule, pk=pk, deleted_at__isnull=True)
    what = request.POST.get("do")
    if what in ("up", "down"):
        rule_move(actor=request.user, rule=rule, direction=what)
    elif what == "enable":
        rule_save(actor=request.user, rule=rule, reason=_("enabled"), enabled=True)
    elif what == "disable":
        rule_save(actor=request.user, rule=rule, reason=_("disabled"), enabled=False)
    elif what in ("shadow", "active"):
        rule_save(actor=request.user, rule=rule, reason=_("mode changed"), mode=what)
    elif what == "delete":
        rule_delete(actor=request.user, rule=rule, reason=request.POST.get("reason", ""))
        messages.success(request, _("Rule “%(name)s” deleted; its versions are kept.") % {"name": rule.name})
    return redirect("routing:rules")
