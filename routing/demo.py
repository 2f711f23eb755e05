"""The demo's service calendars and SLA policy, as the 012 citizen service runs them.

X is answered 8:00–17:00 and Telegram 8:00–22:00 on weekdays that are not public holidays
in Catalonia (La Mercè, Barcelona's 24 September, is municipal and added as a closed day);
the first answer is due within 120 minutes of that service time. Safe to run twice.
"""

from __future__ import annotations

from datetime import date

from django.contrib.auth import get_user_model
from django.utils import timezone

from inbox.models import (
    AutoReplySetting,
    ChannelAccount,
    Conversation,
    Message,
    OfficerProfile,
    SavedReply,
)
from routing import sla
from routing.models import ServiceCalendar, SlaPolicy

WEEKDAYS = range(5)
# The saved replies of the demo that say "we are looking into it".
HOLDING_TITLES = ("Working on it", "Estem treballant", "Estamos en ello")


def _merce(years=2) -> list[str]:
    this = timezone.now().year
    return [date(y, 9, 24).isoformat() for y in range(this, this + years)]


def sla_demo_seed() -> dict[str, ServiceCalendar]:
    calendars = {}
    for key, name, closes in (("x", "012 · X (8:00–17:00)", "17:00"), ("telegram", "012 · Telegram (8:00–22:00)", "22:00")):
        calendars[key], _ = ServiceCalendar.objects.get_or_create(name=name, defaults={
            "timezone": "Europe/Madrid",
            "periods": [{"weekday": d, "opens": "08:00", "closes": closes} for d in WEEKDAYS],
            "holidays_country": "ES", "holidays_subdivision": "CT", "closed_days": _merce(),
        })
    SlaPolicy.objects.get_or_create(name="Default (012)", defaults={
        "first_response_minutes": 120, "next_response_minutes": 120, "warn_at": [75, 90],
        "escalations": [{"at": 100, "action": "notify_supervisors"}],
    })
    # X accounts follow X's hours; the others the longer Telegram-like hours.
    ChannelAccount.objects.filter(calendar__isnull=True, platform="x").update(calendar=calendars["x"])
    ChannelAccount.objects.filter(calendar__isnull=True).exclude(platform="x").update(calendar=calendars["telegram"])
    SavedReply.objects.filter(title__in=HOLDING_TITLES).update(kind=SavedReply.Kind.HOLDING)
    return calendars


def sla_demo_history_settle() -> None:
    """The demo's history is written with the core services directly: give its clocks the
    replies and status changes the hooks would have seen."""
    sent = Message.objects.filter(direction=Message.Direction.OUTBOUND, delivery_status=Message.Delivery.SENT)
    sla.replies_sent(list(sent.order_by("delivered_at").values_list("id", flat=True)))
    sla.conversations_sync(Conversation.objects.values_list("id", flat=True))


# Who speaks what in the demo (routing/assignment.py sends a conversation in a language to an
# available officer who speaks it), and the 012's out-of-hours message per language.
DEMO_LANGUAGES = {"officer": ["ca", "es"], "officer2": ["es", "ca", "ar"], "officer3": ["en", "es", "pl"]}
OUT_OF_HOURS = [
    ("ca", "Ara som fora de l'horari d'atenció. Us respondrem a partir de {next_opening}. Gràcies!"),
    ("es", "Ahora estamos fuera del horario de atención. Le responderemos a partir del {next_opening}. ¡Gracias!"),
    ("en", "We are outside our service hours now. We will answer you from {next_opening}. Thank you!"),
]
OUT_OF_HOURS_TITLE = "Out of hours (automatic)"


def assignment_demo_seed() -> None:
    """The demo officers' languages, and the out-of-hours automatic reply on the accounts
    that have service hours (never on X unless the citizen addressed the account). Safe to
    run twice."""
    User = get_user_model()
    for username, languages in DEMO_LANGUAGES.items():
        user = User.objects.filter(username=username).first()
        if user is not None:
            OfficerProfile.objects.update_or_create(user=user, defaults={"languages": languages})
    first = None
    for language, body in OUT_OF_HOURS:
        reply, _ = SavedReply.objects.get_or_create(
            title=OUT_OF_HOURS_TITLE, language=language,
            defaults={"body": body, "kind": SavedReply.Kind.ACKNOWLEDGEMENT},
        )
        first = first or reply
    for account in ChannelAccount.objects.filter(calendar__isnull=False, autoreply__isnull=True):
        AutoReplySetting.objects.create(account=account, out_of_hours=first)
