"""Cheap labels for long timelines (templates/inbox/_timeline.html).

``m.get_kind_display`` rebuilds a dict of the field's (lazy) choices and translates it on
every call: three calls per message made a fifth of a 200-message conversation page
(bench/conversation_page.py). The labels are read once per language and field here.
"""

from __future__ import annotations

from django import template
from django.template.loader import get_template
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext

from inbox.models import Message
from inbox.templatetags.inbox_ui import ago

register = template.Library()

_FIELDS = {"kind": Message.Kind, "visibility": Message.Visibility, "delivery_status": Message.Delivery}
_labels: dict[tuple[str, str], dict[str, str]] = {}


@register.filter
def message_label(message: Message, field: str) -> str:
    """``{{ m|message_label:"kind" }}``: the translated label of the message's choice field."""
    key = (field, get_language() or "")
    labels = _labels.get(key)
    if labels is None:
        labels = _labels[key] = {value: str(label) for value, label in _FIELDS[field].choices}
    value = getattr(message, field)
    return labels.get(value, value)


# --- Rendered messages, kept per state --------------------------------------------------------
#
# A 200-message conversation spent most of its page time rendering the same <li> again on
# every view and every live refresh (bench/conversation_page.py, docs/benchmarks.md). Each
# message's HTML is kept here, in the process, under everything it is made of: the message's
# own state (delivery, edits, deletion, hiding, text, attachments, error, revisions), its
# author's name, the actions offered on it, whether it is marked new, its relative time as
# shown ("3 h ago"), the language and the time zone. A change to any of them is another key,
# so nothing stale is shown; the store is bounded and emptied when full.
_ITEM_TEMPLATE = "inbox/_timeline_item.html"
_MAX_ITEMS = 20_000
_items: dict[tuple, str] = {}


def _item_key(m: Message, *, is_new: bool, ago_text: str, language: str, zone: str) -> tuple:
    contact = m.author_contact if m.author_contact_id else None
    user = m.author_user if m.author_user_id else None
    revisions = getattr(m, "revision_list", None)
    if revisions is None:
        revisions = list(m.revisions.all())
    return (
        m.pk, m.direction, m.kind, m.visibility, m.delivery_status, m.delivery_error, m.sent_at, m.edited_at,
        m.deleted_at, m.hidden_at, m.text, repr(m.attachments),
        (contact.name, contact.handle) if contact else None,
        (user.get_full_name(), user.get_username()) if user else None,
        tuple((r.pk, r.action, r.previous_text, r.occurred_at) for r in revisions),
        tuple((a.label, a.url) for a in getattr(m, "platform_actions", None) or ()),
        is_new, ago_text, language, zone,
    )


@register.simple_tag(takes_context=True)
def timeline_items(context, timeline, new_after) -> list[str]:
    """The HTML of each message of ``timeline``, from the store or rendered once."""
    language, zone = get_language() or "", timezone.get_current_timezone_name()
    template = get_template(_ITEM_TEMPLATE)
    labels = {"citizen_label": gettext("Citizen"), "automatic_label": gettext("Automatic reply")}
    request = context.get("request")
    out = []
    for m in timeline:
        is_new = isinstance(new_after, int) and m.id > new_after  # unset in fragments: ""
        ago_text = ago(m.sent_at)
        key = _item_key(m, is_new=is_new, ago_text=ago_text, language=language, zone=zone)
        html = _items.get(key)
        if html is None:
            html = template.render({"m": m, "is_new": is_new, "ago": ago_text, **labels}, request)
            if len(_items) >= _MAX_ITEMS:
                _items.clear()
            _items[key] = html
        out.append(mark_safe(html))  # noqa: S308 - rendered by the autoescaping template above
    return out
