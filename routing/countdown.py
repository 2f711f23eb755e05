"""What the conversation page shows of the SLA: the current target's countdown in business
time, and the platform's reply window when it closes first (docs/sla.md).

The due time is the server's (the clock's ``due_at``, which ``routing.sla`` keeps); the page
ticks between refreshes with the figures given here: the business seconds left when it was
rendered and the span in which the service is open from then, so that the browser counts
only service time and the next live refresh corrects any drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from inbox.models import Conversation
from routing import sla
from routing.calendars import CalendarError, calendar_for
from routing.models import SlaClock

State = SlaClock.State
DEFAULT_WARN_PERCENT = 75


@dataclass
class Countdown:
    kind: str  # SlaClock.Kind
    state: str  # running, at_risk, breached, paused
    due: datetime | None
    remaining: int  # business seconds; negative once overdue
    target: int
    warn_remaining: int  # at risk from this many business seconds left
    rendered_at: datetime
    open_from: datetime | None  # the service's next (or current) open span, for the browser's tick
    open_until: datetime | None  # None with open_from set: open around the clock
    always_open: bool

    @property
    def overdue(self) -> int:
        return max(0, -self.remaining)

    @property
    def first_response_at_risk(self) -> bool:
        return self.kind == SlaClock.Kind.FIRST_RESPONSE and self.state in ("at_risk", "breached")


@dataclass
class Window:
    closes: datetime
    first: bool  # closes before the SLA's due time (or there is no due time)
    platform: str
    closed: bool


def countdown(conversation: Conversation, *, now: datetime | None = None) -> Countdown | None:
    """The current target of an active conversation (one query), or None."""
    if conversation.status not in Conversation.ACTIVE_STATUSES:
        return None
    if conversation.sla_state in ("", "met"):
        return None  # no open clock (routing.sla keeps the column with the clocks): no query
    clocks = list(
        SlaClock.objects.filter(conversation_id=conversation.id, state__in=sla.OPEN).order_by("due_at", "id")
    )
    if not clocks:
        return None
    now = now or timezone.now()
    running = [c for c in clocks if c.state != State.PAUSED]
    clock = running[0] if running else clocks[0]
    cal = calendar_for(conversation.account.calendar) if conversation.account.calendar_id else calendar_for(None)
    warn_percent = min((c[0] for c in (clock.plan or {}).get("checks", []) if c[1] == "warning"),
                       default=DEFAULT_WARN_PERCENT)
    target = clock.target_seconds
    warn_remaining = round(target * (100 - warn_percent) / 100)
    if clock.state == State.PAUSED:
        remaining = cal.business_seconds(clock.paused_at, clock.due_at) if clock.paused_at else 0
        state = "paused"
    elif clock.due_at > now:
        remaining = cal.business_seconds(now, clock.due_at)
        state = "breached" if clock.state == State.BREACHED else ("at_risk" if remaining <= warn_remaining else "running")
    else:
        remaining = -cal.business_seconds(clock.due_at, now)
        state = "breached"
    open_from = open_until = None
    if state != "paused":
        try:
            open_from = now if cal.is_open(now) else cal.next_opening(now)
            open_until = cal.next_closing(open_from) if open_from is not None else None
        except CalendarError:
            open_from = open_until = None
    return Countdown(
        kind=clock.kind, state=state, due=clock.due_at if state != "paused" else None, remaining=remaining,
        target=target, warn_remaining=warn_remaining, rendered_at=now, open_from=open_from,
        open_until=open_until, always_open=cal.always_open,
    )


def reply_window(conversation: Conversation, countdown: Countdown | None, *, now: datetime | None = None
                 ) -> Window | None:
    """Messenger and Instagram: when the standard reply window closes, if it is still open."""
    window = sla.reply_window(conversation)
    if window is None or conversation.status not in Conversation.ACTIVE_STATUSES:
        return None
    closes = window["standard"]
    due = countdown.due if countdown is not None else None
    return Window(closes=closes, first=due is None or closes < due, platform=conversation.account.platform,
                  closed=closes <= (now or timezone.now()))
