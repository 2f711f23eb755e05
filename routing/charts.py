"""The dashboard's charts as server-side SVG: no JavaScript, no charting package, and readable
without colour alone — every series has its own pattern (solid, hatched, dotted) besides its
colour, bars carry their values as text, and every chart has a title, a description and,
per bar, a tooltip (``<title>``) that screen readers read. The tables below each chart on the
page hold the same numbers.

Charts are drawn left to right in every language (``direction="ltr"``): a time axis reads so
in right-to-left scripts too; the labels themselves are bidi-isolated text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from routing.dashboard import Attainment

FONT = 'font-family="system-ui, sans-serif" font-size="11"'
INK, MUTED, GRID = "#1a1f26", "#4f5866", "#d8dce2"
BLUE, TEAL, AMBER, RED = "#1f4fd1", "#0f766e", "#b45309", "#a61b1b"


def _patterns(prefix: str) -> str:
    return (
        "<defs>"
        f'<pattern id="{prefix}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#fff"/><rect width="2.5" height="6" fill="{TEAL}"/></pattern>'
        f'<pattern id="{prefix}-amber" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(-45)">'
        f'<rect width="6" height="6" fill="#fff"/><rect width="2.5" height="6" fill="{AMBER}"/></pattern>'
        f'<pattern id="{prefix}-dots" width="5" height="5" patternUnits="userSpaceOnUse">'
        f'<rect width="5" height="5" fill="#fff"/><circle cx="2.5" cy="2.5" r="1.4" fill="{RED}"/></pattern>'
        "</defs>"
    )


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _num(value: float) -> str:
    """1, 2.5, 0.25: no more digits than the value has (up to three significant ones)."""
    return f"{value:.3g}"


def _svg(prefix: str, width: int, height: int, title: str, desc: str, body: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every text below went through escape()
        f'<svg class="chart" id="{prefix}" viewBox="0 0 {width} {height}" role="img" direction="ltr" '
        f'aria-labelledby="{prefix}-title {prefix}-desc" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f'<title id="{prefix}-title">{escape(title)}</title><desc id="{prefix}-desc">{escape(desc)}</desc>'
        f"{_patterns(prefix)}{body}</svg>"
    )


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> str:
    """Swatches with their names, in a row: ``(fill, label)``."""
    out = []
    for fill, label in items:
        out.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{fill}" stroke="{INK}" stroke-width=".5"/>')
        out.append(f'<text x="{x + 16}" y="{y + 1}" fill="{INK}">{escape(label)}</text>')
        x += 26 + 6.2 * len(label)
    return "".join(out)


def volume_chart(rows: Sequence[dict], *, period_label: str) -> SafeString:
    """Messages in and out per hour of the day (bars), officers who answered (line)."""
    prefix = "chart-volume"
    width, height, left, right, top, bottom = 760, 270, 44, 44, 34, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max([max(r["messages_in"], r["messages_out"]) for r in rows] or [0]))
    officers_peak = _nice_max(max([r["officers_answered"] for r in rows] or [0]))
    slot = plot_w / 24
    bar = slot * 0.36
    parts = [_legend([(BLUE, _("Messages in")), (f"url(#{prefix}-hatch)", _("Messages out"))], left, 14)]
    parts.append(f'<line x1="{width - right - 150}" y1="10" x2="{width - right - 130}" y2="10" stroke="{INK}" '
                 'stroke-width="2"/>')
    parts.append(f'<circle cx="{width - right - 140}" cy="10" r="3" fill="{INK}"/>')
    parts.append(f'<text x="{width - right - 124}" y="14" fill="{INK}">{escape(_("Officers who answered"))}</text>')
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_num(value)}</text>')
        parts.append(f'<text x="{width - right + 6}" y="{y + 4:.1f}" fill="{MUTED}">'
                     f"{_num(officers_peak * i / 4)}</text>")
    points = []
    for row in rows:
        h = row["hour"]
        x0 = left + h * slot + slot * 0.14
        for offset, key, fill in ((0, "messages_in", BLUE), (bar, "messages_out", f"url(#{prefix}-hatch)")):
            value = row[key]
            bar_h = plot_h * value / peak
            y = top + plot_h - bar_h
            parts.append(f'<rect x="{x0 + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bar_h:.1f}" '
                         f'fill="{fill}" stroke="{INK}" stroke-width=".4"/>')
        cx = left + h * slot + slot / 2
        cy = top + plot_h - plot_h * row["officers_answered"] / officers_peak
        points.append((cx, cy))
        tip = _("%(hour)02d:00 — %(in)s in, %(out)s out, %(officers)s officers answered (per day)") % {
            "hour": h, "in": _num(row["messages_in"]), "out": _num(row["messages_out"]),
            "officers": _num(row["officers_answered"]),
        }
        parts.append(f'<rect x="{left + h * slot:.1f}" y="{top}" width="{slot:.1f}" height="{plot_h}" '
                     f'fill="transparent"><title>{escape(tip)}</title></rect>')
        if h % 2 == 0:
            parts.append(f'<text x="{cx:.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="{MUTED}">'
                         f"{h:02d}</text>")
    if points:
        # Officers as a step line: the staffing of each hour, level across the hour's slot.
        steps = []
        for cx, cy in points:
            steps += [f"{cx - slot / 2:.1f},{cy:.1f}", f"{cx + slot / 2:.1f},{cy:.1f}"]
        path = " ".join(steps)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{INK}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{INK}"/>' for x, y in points)
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" fill="{MUTED}">'
                 f'{escape(_("Hour of the day (local time)"))}</text>')
    busiest = max(rows, key=lambda r: r["messages_in"], default=None)
    if busiest and busiest["messages_in"]:
        desc = _("%(period)s, average per day. Busiest hour %(hour)02d:00 with %(in)s messages in, "
                 "%(out)s out and %(officers)s officers answering.") % {
            "period": period_label, "hour": busiest["hour"], "in": _num(busiest["messages_in"]),
            "out": _num(busiest["messages_out"]), "officers": _num(busiest["officers_answered"])}
    else:
        desc = _("%(period)s: no messages.") % {"period": period_label}
    return _svg(prefix, width, height, _("Volume per hour against officers who answered"), desc, "".join(parts))


def _bucket_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else f"{low}–{high}"


def distribution_chart(buckets: Sequence[dict], closed_without_response: int) -> SafeString:
    """First responses by business minutes taken: substantive (solid) and holding (hatched)
    stacked, and the conversations closed without any response apart (dotted)."""
    prefix = "chart-distribution"
    width, height, left, right, top, bottom = 560, 280, 40, 12, 44, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    columns = [(_bucket_label(b["from_minutes"], b["to_minutes"]), b["substantive"], b["holding"], None)
               for b in buckets]
    columns.append((_("none"), 0, 0, closed_without_response))
    peak = _nice_max(max([s + h for _l, s, h, _c in columns] + [closed_without_response, 0]))
    slot = plot_w / len(columns)
    bar = slot * 0.62
    parts = [_legend([(BLUE, _("Substantive")), (f"url(#{prefix}-amber)", _("Holding")),
                      (f"url(#{prefix}-dots)", _("Closed without response"))], left, 14)]
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_num(peak * i / 4)}</text>')
    for index, (label, substantive, holding, closed) in enumerate(columns):
        x = left + index * slot + (slot - bar) / 2
        base = top + plot_h
        stack = [(substantive, BLUE), (holding, f"url(#{prefix}-amber)")] if closed is None \
            else [(closed, f"url(#{prefix}-dots)")]
        total = 0
        for value, fill in stack:
            h = plot_h * value / peak
            base -= h
            total += value
            if value:
                parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{fill}" '
                             f'stroke="{INK}" stroke-width=".4"/>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - 4:.1f}" text-anchor="middle" fill="{INK}" '
                     f'font-weight="600">{total}</text>')
        if closed is None:
            tip = _("%(range)s business minutes: %(substantive)s substantive, %(holding)s holding") % {
                "range": label, "substantive": substantive, "holding": holding}
        else:
            tip = _("Closed without response: %(n)s") % {"n": closed}
        parts.append(f'<rect x="{left + index * slot:.1f}" y="{top}" width="{slot:.1f}" height="{plot_h}" '
                     f'fill="transparent"><title>{escape(tip)}</title></rect>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 15}" text-anchor="middle" '
                     f'fill="{MUTED}">{escape(label)}</text>')
    # The usual two-hour target: between the 90–120 and the 120–240 buckets.
    target_index = next((i for i, b in enumerate(buckets) if b["from_minutes"] == 120), None)
    if target_index is not None:
        tx = left + target_index * slot
        parts.append(f'<line x1="{tx:.1f}" y1="{top - 3}" x2="{tx:.1f}" y2="{top + plot_h}" stroke="{RED}" '
                     'stroke-dasharray="4 3" stroke-width="1.5"/>')
        parts.append(f'<text x="{tx:.1f}" y="{top - 7}" text-anchor="middle" fill="{RED}">'
                     f'{escape(_("target 120"))}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" fill="{MUTED}">'
                 f'{escape(_("Business minutes to the first response"))}</text>')
    answered = sum(b["substantive"] + b["holding"] for b in buckets)
    within = sum(b["substantive"] + b["holding"] for b in buckets if b["to_minutes"] and b["to_minutes"] <= 120)
    desc = _("%(answered)s first responses, %(within)s of them within two business hours; "
             "%(closed)s closed without response.") % {"answered": answered, "within": within,
                                                      "closed": closed_without_response}
    return _svg(prefix, width, height, _("First-response distribution"), desc, "".join(parts))


def attainment_chart(rows: Sequence[Attainment], *, prefix: str, title: str) -> SafeString:
    """Share answered within target per team or channel: substantive (solid) and holding
    (hatched) parts of one bar, labelled with the share and the counts."""
    label_w, bar_w, row_h, top = 190, 220, 28, 30
    width = label_w + bar_w + 250
    height = top + max(1, len(rows)) * row_h + 12
    parts = [_legend([(BLUE, _("Substantive within target")), (f"url(#{prefix}-amber)", _("Holding within target"))],
                     label_w, 14)]
    for pct in (0, 50, 100):
        x = label_w + bar_w * pct / 100
        parts.append(f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{height - 8}" stroke="{GRID}"/>')
        parts.append(f'<text x="{x}" y="{height - 1}" text-anchor="middle" fill="{MUTED}" font-size="9">{pct} %</text>')
    if not rows:
        parts.append(f'<text x="{label_w}" y="{top + 16}" fill="{MUTED}">{escape(_("No first responses in the period."))}</text>')
    for index, row in enumerate(rows):
        y = top + index * row_h
        name = row.label if len(row.label) <= 30 else row.label[:29] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" fill="{INK}" unicode-bidi="isolate">'
                     f"{escape(name)}<title>{escape(row.label)}</title></text>")
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="16" fill="#f4f5f7" stroke="{GRID}"/>')
        x = label_w
        for value, fill in ((row.substantive_within, BLUE), (row.holding_within, f"url(#{prefix}-amber)")):
            w = bar_w * value / row.answered if row.answered else 0
            if w:
                parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="16" fill="{fill}" '
                             f'stroke="{INK}" stroke-width=".4"/>')
            x += w
        if row.answered:
            text = _("%(share)s %% (%(within)s of %(answered)s)") % {
                "share": _num(row.within_share or 0), "within": row.within, "answered": row.answered}
        else:
            text = _("no first responses")
        if row.closed_without_response:
            text += " · " + _("%(n)s closed unanswered") % {"n": row.closed_without_response}
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 16}" fill="{INK}">{escape(text)}</text>')
    best = max(rows, key=lambda r: (r.within_share or 0), default=None)
    desc = _("Share of first responses within target.") + (
        " " + _("Highest: %(name)s, %(share)s %%.") % {"name": best.label, "share": _num(best.within_share or 0)}
        if best and best.answered else "")
    return _svg(prefix, width, height, title, desc, "".join(parts))
