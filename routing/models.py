"""Service calendars, SLA policies, stored clocks, the append-only ledger and its rollups.

See docs/sla.md. Only ``routing.sla`` and ``routing.sla_scan`` write clocks, events and
rollups; everything here can be recomputed from ``SlaEvent``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


def default_warn_at() -> list[int]:
    return [75, 90]


def default_escalations() -> list[dict]:
    return [{"at": 100, "action": "notify_supervisors"}]


class ServiceCalendar(models.Model):
    """When a channel is served: see ``routing.calendars.Calendar`` for the arithmetic."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Madrid")
    # [{"weekday": 0, "opens": "08:00", "closes": "22:00"}, ...]; weekday 0 = Monday.
    periods = models.JSONField(_("opening periods"), default=list, blank=True)
    holidays_country = models.CharField(_("public holidays of (country)"), max_length=3, blank=True)
    holidays_subdivision = models.CharField(_("and region"), max_length=10, blank=True)
    closed_days = models.JSONField(_("extra closed days"), default=list, blank=True)
    always_open = models.BooleanField(_("24/7"), default=False)
    # Incremented on every change: cached Calendar values are keyed by (id, version).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("service calendar")

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    """Targets in business minutes, warnings and an escalation ladder for a scope.

    Scope fields left empty match anything; the most specific active policy wins. A change
    increments ``version``; clocks keep a copy of what they started under.
    """

    class Action(models.TextChoices):
        NOTIFY_ASSIGNEE = "notify_assignee", _("Notify the assignee")
        NOTIFY_SUPERVISORS = "notify_supervisors", _("Notify the team's supervisors")
        RAISE_PRIORITY = "raise_priority", _("Raise the priority")
        REASSIGN = "reassign", _("Reassign to a team")

    name = models.CharField(_("name"), max_length=120, unique=True)
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(
        "inbox.ChannelAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True, default=120)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    substantive_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    warn_at = models.JSONField(default=default_warn_at, blank=True)
    escalations = models.JSONField(default=default_escalations, blank=True)
    notify_outside_hours = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    @property
    def specificity(self) -> int:
        return sum(x is not None for x in (self.team_id, self.account_id, self.priority))


class SlaClock(models.Model):
    """One target of one conversation, counted in business time (see docs/sla.md)."""

    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", _("First response")
        NEXT_RESPONSE = "next_response", _("Next response")
        SUBSTANTIVE = "substantive", _("Substantive answer")
        RESOLUTION = "resolution", _("Resolution")

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        MET = "met", _("Met")
        BREACHED = "breached", _("Breached")
        STOPPED = "stopped", _("Stopped")

    class MetKind(models.TextChoices):
        HOLDING = "holding", _("Holding reply")
        SUBSTANTIVE = "substantive", _("Substantive answer")

    OPEN_STATES = (State.RUNNING, State.PAUSED, State.BREACHED)

    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.PROTECT, related_name="sla_clocks")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="clocks")
    policy_version = models.PositiveIntegerField(default=1)
    calendar = models.ForeignKey(
        ServiceCalendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_seconds = models.PositiveIntegerField()
    # What the scan does, copied from the policy at start: [[percent, kind, level, action, team]]
    # sorted by percent; ``checks_done`` of them have been done.
    plan = models.JSONField(default=list, blank=True)
    checks_done = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0)
    met_at = models.DateTimeField(null=True, blank=True)
    met_kind = models.CharField(max_length=12, choices=MetKind.choices, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # A first response and a substantive answer are owed once per conversation.
            models.UniqueConstraint(
                fields=["conversation", "kind"], name="sla_clock_once_uniq",
                condition=Q(kind__in=["first_response", "substantive"]),
            ),
            # At most one open clock of a kind: starting twice (redelivery, two workers) is one.
            models.UniqueConstraint(
                fields=["conversation", "kind"], name="sla_clock_open_uniq",
                condition=Q(state__in=["running", "paused", "breached"]),
            ),
        ]
        indexes = [
            # The scan's index range: running (or breached, for late escalations) clocks by
            # the next instant they need attention.
            models.Index(
                fields=["next_check_at"], name="sla_clock_scan_idx",
                condition=Q(state__in=["running", "breached"], next_check_at__isnull=False),
            ),
            models.Index(fields=["conversation", "state"], name="sla_clock_conv_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of #{self.conversation_id}: {self.state}"


class SlaEvent(models.Model):
    """The append-only ledger: every start, pause, resume, warning, escalation, breach,
    fulfilment and stop of a clock, written once."""

    class Kind(models.TextChoices):
        START = "start", _("Started")
        PAUSE = "pause", _("Paused")
        RESUME = "resume", _("Resumed")
        WARNING = "warning", _("Warning")
        ESCALATION = "escalation", _("Escalation")
        BREACH = "breach", _("Breach")
        FULFIL = "fulfil", _("Fulfilled")
        STOP = "stop", _("Stopped")

    # Pauses and resumes may repeat (level counts them); the rest happen once per clock.
    ONCE = ("start", "warning", "escalation", "breach", "fulfil", "stop")

    clock = models.ForeignKey(SlaClock, on_delete=models.PROTECT, related_name="events")
    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    level = models.PositiveIntegerField(default=0)
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clock", "kind", "level"], name="sla_event_once_uniq",
                condition=Q(kind__in=["start", "warning", "escalation", "breach", "fulfil", "stop"]),
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "at"], name="sla_event_conv_idx"),
            # No (kind, at) index: nothing reads the ledger by kind, and each index is paid on
            # every write — 400,000 rows in one scan after an outage (docs/benchmarks.md).
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.level} of clock {self.clock_id} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("SLA events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("SLA events are append-only")


class SlaResponseFact(models.Model):
    """One row per conversation whose first response was met (or that closed without one):
    what the dashboard's medians, percentiles and attainment are computed over."""

    class Kind(models.TextChoices):
        HOLDING = "holding", _("Holding reply")
        SUBSTANTIVE = "substantive", _("Substantive answer")
        CLOSED_WITHOUT_RESPONSE = "closed_without_response", _("Closed without response")

    conversation = models.OneToOneField("inbox.Conversation", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    account = models.ForeignKey("inbox.ChannelAccount", on_delete=models.CASCADE, related_name="+")
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    day = models.DateField(help_text="The day of the citizen's first message, in the calendar's zone")
    started_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    business_seconds = models.PositiveIntegerField(null=True, blank=True)
    calendar_seconds = models.PositiveIntegerField(null=True, blank=True)
    target_seconds = models.PositiveIntegerField()
    within_target = models.BooleanField(default=False)
    # After a holding reply: when the real answer came, and how long it took in business time.
    substantive_at = models.DateTimeField(null=True, blank=True)
    substantive_business_seconds = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        indexes = [
            models.Index(fields=["day", "team"], name="sla_fact_day_team_idx"),
            models.Index(fields=["day", "account"], name="sla_fact_day_account_idx"),
            models.Index(fields=["officer", "day"], name="sla_fact_officer_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.kind} {self.business_seconds}s"


class VolumeHour(models.Model):
    """Messages in and out per hour (UTC, truncated), team and account."""

    hour = models.DateTimeField()
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # team_id or 0: the unique key (and ON CONFLICT target) cannot hold a NULL.
    team_key = models.PositiveIntegerField(default=0)
    account = models.ForeignKey("inbox.ChannelAccount", on_delete=models.CASCADE, related_name="+")
    messages_in = models.PositiveIntegerField(default=0)
    messages_out = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "team_key", "account"], name="volume_hour_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 team {self.team_key} account {self.account_id}"


class OfficerHour(models.Model):
    """Replies sent per hour (UTC, truncated), officer, team and account: the dashboard's
    "officers who answered in that hour" (presence does not exist yet, so this is what the
    officers did, not when they were available). Upserted by ``routing.sla.replies_sent``."""

    hour = models.DateTimeField()
    officer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("inbox.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # team_id or 0: the unique key (and ON CONFLICT target) cannot hold a NULL.
    team_key = models.PositiveIntegerField(default=0)
    account = models.ForeignKey("inbox.ChannelAccount", on_delete=models.CASCADE, related_name="+")
    replies = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "officer", "team_key", "account"], name="officer_hour_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 officer {self.officer_id}: {self.replies}"


class SlaRollup(models.Model):
    """Counters of the dashboard's periods, kept current by ``routing.sla`` as facts are written
    and recomputed by ``manage.py sla_rebuild_rollups`` (routing/sla_rollups.py).

    A row counts the first responses of the ``days`` days ending on ``end_day`` (1, 7 and 30:
    today, 7 and 30 days) for a team (0: none), a channel account and, for ``officer`` rows, an
    officer: per ``measure``, a count per ``bucket`` — response minutes in fixed buckets (see
    ``routing.sla_rollups.bucket_of``) or an outcome code. A fact adds to each window that
    contains its day, so a period is read as one range of a few thousand rows, whatever the
    number of conversations, and its percentiles come from the buckets.
    """

    end_day = models.DateField()
    days = models.PositiveSmallIntegerField()
    measure = models.CharField(max_length=8)
    team_key = models.PositiveIntegerField(default=0)
    account_key = models.PositiveIntegerField(default=0)
    officer_key = models.PositiveIntegerField(default=0)
    bucket = models.IntegerField(default=0)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            # Also the read path: (end_day, days, measure) then the keys. No INCLUDE (n): SQLite
            # (the demo) would not create the constraint, and the upsert needs it.
            models.UniqueConstraint(
                fields=["end_day", "days", "measure", "team_key", "account_key", "officer_key", "bucket"],
                name="sla_rollup_key_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.measure} {self.days}d to {self.end_day}: {self.bucket} × {self.n}"


# --- Routing rules (docs/routing.md) ---------------------------------------------------------


class RoutingRule(models.Model):
    """One ordered rule: a condition tree and a list of actions (``routing.rules``).

    Every change writes a ``RoutingRuleVersion`` (and increments ``version``); evaluation
    compiles the rule once per version. Deleting a rule keeps it, and its versions, for the
    traces that name it: ``deleted_at`` is set and it is never evaluated again.
    """

    class Mode(models.TextChoices):
        ACTIVE = "active", _("Active")
        SHADOW = "shadow", _("Shadow (traced, never acts)")

    name = models.CharField(_("name"), max_length=120)
    position = models.IntegerField(_("position"), default=0)
    enabled = models.BooleanField(_("enabled"), default=True)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.ACTIVE)
    stop = models.BooleanField(_("stop after a match"), default=True)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    actions = models.JSONField(_("actions"), default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("routing rule")
        indexes = [
            models.Index(fields=["position", "id"], name="routing_rule_live_idx", condition=Q(deleted_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return self.name


class RoutingRuleVersion(models.Model):
    """What a rule was at one version, who made it and why. Never changed afterwards."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # name, position, enabled, mode, stop, conditions, actions, deleted (bool)
    snapshot = models.JSONField()
    reason = models.CharField(_("why"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["rule", "-number"]
        constraints = [models.UniqueConstraint(fields=["rule", "number"], name="routing_rule_version_uniq")]

    def __str__(self) -> str:
        return f"{self.snapshot.get('name', self.rule_id)} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Rule versions are immutable")
        super().save(*args, **kwargs)


class RoutingTrace(models.Model):
    """One evaluation of the rules for one conversation (its first message).

    ``tried``: ``[[rule_id, version, matched], ...]`` in order, for every rule reached;
    ``matches``: for each rule that matched (active or shadow), its name, version, mode,
    each condition's result (``[[path, label, result], ...]``) and its actions, with
    ``done`` (acted), ``shadow`` (would have) or ``skipped`` (and why);
    ``outcome``: what routing did in the end (team, routed_by, priority, ...).
    Written with one bulk insert per batch.
    """

    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE, related_name="routing_traces")
    message = models.ForeignKey("inbox.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rules_generation = models.CharField(max_length=40, blank=True)
    tried = models.JSONField(default=list, blank=True)
    matches = models.JSONField(default=list, blank=True)
    outcome = models.JSONField(default=dict, blank=True)
    evaluated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        indexes = [models.Index(fields=["conversation", "-evaluated_at"], name="routing_trace_conv_idx")]

    def __str__(self) -> str:
        return f"trace of conversation {self.conversation_id} at {self.evaluated_at:%Y-%m-%d %H:%M}"


class ContactList(models.Model):
    """A named list of citizens (press, elected officials, ...) that rules can ask about.

    Members are contacts (one identity on one platform) or people (every identity of them).
    These lists are also how a Person is "tagged" for routing: a tag on a person is a list.
    """

    name = models.CharField(_("name"), max_length=120, unique=True)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    description = models.TextField(_("description"), blank=True)
    contacts = models.ManyToManyField("inbox.Contact", blank=True, related_name="contact_lists")
    people = models.ManyToManyField("inbox.Person", blank=True, related_name="contact_lists")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("contact list")

    def __str__(self) -> str:
        return self.name


class SlaPolicyOverride(models.Model):
    """A routing rule chose this conversation's SLA policy (``apply_sla_policy``):
    ``routing.sla.policy_choose`` takes it over the most specific policy."""

    conversation = models.OneToOneField(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="sla_policy_override"
    )
    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="+")
    rule_version = models.ForeignKey(RoutingRuleVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"conversation {self.conversation_id}: {self.policy_id}"
