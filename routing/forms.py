"""Forms of the service-hours pages (calendars and SLA policies): they parse and validate
what an admin typed; ``routing.services`` does the writes."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import available_timezones

import holidays as holidays_package
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inbox.models import ChannelAccount, Team
from routing.calendars import Calendar, CalendarError, check_holiday_region, parse_periods
from routing.models import ServiceCalendar, SlaPolicy

WEEKDAYS = (
    (0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")),
    (4, _("Friday")), (5, _("Saturday")), (6, _("Sunday")),
)
HHMM = r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00"
_HHMM = re.compile(rf"^(?:{HHMM})$")


# --- choices from the holidays package and the time-zone database ----------------------------


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(available_timezones()) if "/" in name or name == "UTC"]


def _spaced(class_name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", class_name)


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    """The countries the ``holidays`` package knows, by name."""
    from holidays import registry

    supported = holidays_package.list_supported_countries(include_aliases=False)
    names = {entry[1]: _spaced(entry[0]) for entry in registry.COUNTRIES.values()}
    return sorted(((code, f"{names.get(code, code)} ({code})") for code in supported), key=lambda c: c[1])


@lru_cache(maxsize=256)
def subdivision_choices(country: str) -> list[tuple[str, str]]:
    """The regions of ``country`` the package knows, with a name where it gives one."""
    supported = holidays_package.list_supported_countries(include_aliases=False)
    if country not in supported:
        return []
    names: dict[str, str] = {}
    try:
        aliases = holidays_package.country_holidays(country).subdivisions_aliases or {}
    except Exception:  # a country class that cannot be built without options: codes only
        aliases = {}
    for name, code in aliases.items():
        names.setdefault(code, name)
    return [(code, f"{names[code]} ({code})" if code in names else code) for code in supported[country]]


# --- service calendars -----------------------------------------------------------------------


class PeriodForm(forms.Form):
    """One opening period of a weekday; both empty is a blank row (ignored)."""

    opens = forms.CharField(label=_("Opens"), required=False, max_length=5, widget=forms.TextInput(attrs={
        "pattern": HHMM, "inputmode": "numeric", "size": 5, "class": "time-input", "autocomplete": "off",
    }))
    closes = forms.CharField(label=_("Closes"), required=False, max_length=5, widget=forms.TextInput(attrs={
        "pattern": HHMM, "inputmode": "numeric", "size": 5, "class": "time-input", "autocomplete": "off",
    }))

    def clean(self):
        data = super().clean()
        opens, closes = (data.get("opens") or "").strip(), (data.get("closes") or "").strip()
        if not opens and not closes:
            return data
        for field, value in (("opens", opens), ("closes", closes)):
            if not _HHMM.match(value):
                self.add_error(field, _("A time of day as HH:MM, from 00:00 to 24:00."))
        if self.errors:
            return data
        if opens == "24:00":
            self.add_error("opens", _("A period cannot open at 24:00."))
        elif closes <= opens:
            self.add_error("closes", _("A period must close after it opens (24:00 closes at midnight)."))
        data["opens"], data["closes"] = opens, closes
        return data


PeriodFormSet = forms.formset_factory(PeriodForm, extra=1, can_delete=True, max_num=8, validate_max=True)


class ServiceCalendarForm(forms.ModelForm):
    timezone = forms.ChoiceField(label=_("Time zone"), choices=timezone_choices)
    holidays_country = forms.ChoiceField(
        label=_("Public holidays of"), required=False,
        choices=lambda: [("", _("No public holidays")), *country_choices()],
    )
    holidays_subdivision = forms.ChoiceField(label=_("Region"), required=False, choices=[])
    closed_days = forms.CharField(
        label=_("Extra closed days"), required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "2026-09-24", "dir": "ltr"}),
        help_text=_("Local holidays the package does not know (La Mercè, 24 September): one date per line, "
                    "YYYY-MM-DD."),
    )

    class Meta:
        model = ServiceCalendar
        fields = ["name", "timezone", "always_open", "holidays_country", "holidays_subdivision", "closed_days"]
        labels = {"always_open": _("Open around the clock (24/7)")}

    def __init__(self, data=None, *, instance: ServiceCalendar | None = None, **kwargs):
        initial = kwargs.pop("initial", {})
        if instance is not None:
            initial.setdefault("closed_days", "\n".join(instance.closed_days or []))
        super().__init__(data, instance=instance, initial=initial, **kwargs)
        country = (self.data.get(self.add_prefix("holidays_country")) if self.is_bound
                   else self["holidays_country"].initial) or ""
        self.fields["holidays_subdivision"].choices = [("", _("The whole country")), *subdivision_choices(country)]
        self.fields["holidays_subdivision"].widget.attrs["data-country"] = country
        self.periods = [
            (weekday, label, PeriodFormSet(
                data, prefix=f"day{weekday}",
                initial=None if data is not None else [
                    {"opens": p["opens"], "closes": p["closes"]}
                    for p in (instance.periods if instance is not None else []) if p.get("weekday") == weekday
                ],
            ))
            for weekday, label in WEEKDAYS
        ]

    def clean_closed_days(self) -> list[str]:
        days, bad = set(), []
        for token in re.split(r"[\s,;]+", self.cleaned_data.get("closed_days") or ""):
            if not token:
                continue
            try:
                days.add(date.fromisoformat(token).isoformat())
            except ValueError:
                bad.append(token)
        if bad:
            raise ValidationError(_("Not dates as YYYY-MM-DD: %(bad)s"), params={"bad": ", ".join(bad)})
        return sorted(days)

    def clean(self):
        data = super().clean()
        try:
            check_holiday_region(data.get("holidays_country") or "", data.get("holidays_subdivision") or "")
        except CalendarError:
            self.add_error("holidays_subdivision", _("Choose a region of the chosen country, or the whole country."))
        return data

    def is_valid(self) -> bool:
        # Every weekday's formset is checked, even after the first error: all of them are shown.
        valid = [super().is_valid(), *(formset.is_valid() for _w, _l, formset in self.periods)]
        if all(valid):
            try:
                parse_periods(self.cleaned_periods())
            except CalendarError as exc:
                self.add_error(None, str(exc))
                return False
        return all(valid)

    def cleaned_periods(self) -> list[dict]:
        periods = []
        for weekday, _label, formset in self.periods:
            rows = [f.cleaned_data for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
            periods += [{"weekday": weekday, "opens": r["opens"], "closes": r["closes"]}
                        for r in sorted(rows, key=lambda r: r.get("opens") or "") if r.get("opens")]
        return periods

    def service_fields(self) -> dict:
        """What ``service_calendar_save`` takes."""
        data = self.cleaned_data
        return {
            "name": data["name"], "timezone": data["timezone"], "always_open": data["always_open"],
            "holidays_country": data.get("holidays_country") or "",
            "holidays_subdivision": data.get("holidays_subdivision") or "",
            "closed_days": data["closed_days"], "periods": self.cleaned_periods(),
        }

    def calendar(self) -> Calendar:
        """The calendar as typed (valid form only), for the preview before saving."""
        data = self.cleaned_data
        return Calendar(timezone=data["timezone"], periods=self.cleaned_periods(),
                        country=data.get("holidays_country") or "", subdivision=data.get("holidays_subdivision") or "",
                        closed_days=data.get("closed_days") or [], always_open=data.get("always_open", False))


class PreviewForm(forms.Form):
    """"A message at Fri 21:30 is due …": a local date and time in the calendar's zone."""

    at = forms.DateTimeField(label=_("A message at"), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                             widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    minutes = forms.IntegerField(label=_("with a target of (minutes of service time)"), min_value=1,
                                 max_value=60 * 24 * 30, initial=120,
                                 widget=forms.NumberInput(attrs={"size": 5}))

    def __init__(self, data=None, **kwargs):
        super().__init__(data, prefix="preview", **kwargs)
        if not self.is_bound:
            self.initial.setdefault("at", next_friday_evening())

    def local_at(self, tz) -> datetime:
        """The typed wall-clock time, read in the calendar's zone (not the viewer's)."""
        at = self.cleaned_data["at"]
        return (timezone.make_naive(at) if timezone.is_aware(at) else at).replace(tzinfo=tz)


def next_friday_evening() -> datetime:
    today = timezone.localdate()
    friday = date.fromordinal(today.toordinal() + (4 - today.weekday()) % 7)
    return datetime.combine(friday, time(21, 30))


class AccountCalendarForm(forms.Form):
    """Give one channel account this calendar (or take it back: around the clock)."""

    account = forms.ModelChoiceField(queryset=ChannelAccount.objects.order_by("platform", "name"),
                                     label=_("Channel account"))


# --- SLA policies ----------------------------------------------------------------------------


class SlaPolicyForm(forms.ModelForm):
    PRIORITIES = [("", _("Any priority")), (0, _("Low")), (1, _("Normal")), (2, _("High")), (3, _("Urgent"))]

    priority = forms.TypedChoiceField(label=_("Priority"), choices=PRIORITIES, coerce=int, empty_value=None,
                                      required=False)
    warn_at = forms.CharField(
        label=_("Warn at (percent of the target)"), required=False, initial="75, 90",
        help_text=_("Comma-separated, each between 1 and 99; empty: no warning."),
    )

    class Meta:
        model = SlaPolicy
        fields = ["name", "is_active", "team", "account", "priority", "first_response_minutes",
                  "next_response_minutes", "substantive_minutes", "resolution_minutes", "warn_at",
                  "notify_outside_hours"]
        labels = {
            "name": _("Name"), "is_active": _("Active"), "team": _("Team"), "account": _("Channel account"),
            "first_response_minutes": _("First response (minutes of service time)"),
            "next_response_minutes": _("Next response, after a citizen's follow-up"),
            "substantive_minutes": _("Real answer after a holding reply"),
            "resolution_minutes": _("Resolution"),
            "notify_outside_hours": _("Notify even while the service is closed"),
        }
        help_texts = {
            "substantive_minutes": _("Empty: the first response's target."),
            "team": _("Empty: any team."), "account": _("Empty: any channel account."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].empty_label = _("Any team")
        self.fields["account"].empty_label = _("Any channel account")
        for name in ("first_response_minutes", "next_response_minutes", "substantive_minutes", "resolution_minutes"):
            self.fields[name].widget.attrs.update(min=1, size=6)
            self.fields[name].validators.append(MinValueValidator(1))
        if self.instance.pk and not self.is_bound:
            self.initial["warn_at"] = ", ".join(str(p) for p in self.instance.warn_at or [])
        teams = [("", _("—")), *Team.objects.order_by("name").values_list("slug", "name")]
        self.escalations = EscalationFormSet(
            self.data if self.is_bound else None, prefix="esc", form_kwargs={"teams": teams},
            # Posted rows are read as posted (an initial row equal to its data would be skipped).
            initial=None if self.is_bound else list(self.instance.escalations or []) if self.instance.pk else
            [{"at": 100, "action": SlaPolicy.Action.NOTIFY_SUPERVISORS}],
        )

    def clean_warn_at(self) -> list[int]:
        raw = self.cleaned_data.get("warn_at") or ""
        values = set()
        for token in re.split(r"[\s,;%]+", raw):
            if not token:
                continue
            if not token.isdigit() or not 1 <= int(token) <= 99:
                raise ValidationError(_("Percentages between 1 and 99, e.g. 75, 90."))
            values.add(int(token))
        return sorted(values)

    def clean(self):
        data = super().clean()
        targets = ("first_response_minutes", "next_response_minutes", "resolution_minutes")
        if data.get("is_active") and not any(data.get(name) for name in targets):
            raise ValidationError(_("An active policy needs at least one target."))
        return data

    def is_valid(self) -> bool:
        return all([super().is_valid(), self.escalations.is_valid()])

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["escalations"] = [
            {k: v for k, v in (("at", f.cleaned_data["at"]), ("action", f.cleaned_data["action"]),
                               ("team", f.cleaned_data.get("team") or "")) if v not in ("", None)}
            for f in self.escalations.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("action")
        ]
        data["escalations"].sort(key=lambda step: step["at"])
        return data


class EscalationForm(forms.Form):
    at = forms.IntegerField(label=_("At (percent of the target)"), min_value=1, max_value=1000, required=False,
                            widget=forms.NumberInput(attrs={"size": 4}))
    action = forms.ChoiceField(label=_("Action"), required=False,
                               choices=[("", _("—")), *SlaPolicy.Action.choices])
    team = forms.ChoiceField(label=_("Team (reassign)"), required=False)

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = list(teams)

    def clean(self):
        data = super().clean()
        if not data.get("action"):
            return data
        if not data.get("at"):
            self.add_error("at", _("When, as a percent of the target (100 = at the breach)."))
        if data["action"] == SlaPolicy.Action.REASSIGN and not data.get("team"):
            self.add_error("team", _("Reassigning needs a team."))
        return data


EscalationFormSet = forms.formset_factory(EscalationForm, extra=1, can_delete=True, max_num=10, validate_max=True)
