"""Saved replies that were "the same title in another language" become versions of one.

Before, a saved reply's versions were the other rows with its title (and team) and another
``language``; ``routing.autoreply`` looked them up by title. Now they are
``SavedReplyVersion`` rows of one ``SavedReply``. Per (title, team), the first row written
stays; each later row in a language the group does not have yet becomes a version of it,
everything that pointed at that row (sent messages, drafts, automatic-reply settings,
routing rules' "automatic reply" actions) points at the survivor, and the row goes. Rows
that cannot be versions (a second text in the same language, or no language) stay as they
are. Usage counts start from the replies already sent with each saved reply.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import migrations
from django.db.models import Count


def _code(value: str) -> str:
    return (value or "").split("-")[0].split("_")[0].lower()


def forwards(apps, schema_editor):
    SavedReply = apps.get_model("inbox", "SavedReply")
    SavedReplyVersion = apps.get_model("inbox", "SavedReplyVersion")
    Message = apps.get_model("inbox", "Message")
    ReplyDraft = apps.get_model("inbox", "ReplyDraft")
    AutoReplySetting = apps.get_model("inbox", "AutoReplySetting")
    RoutingRule = apps.get_model("routing", "RoutingRule")

    groups: dict[tuple, list] = defaultdict(list)
    for reply in SavedReply.objects.order_by("id"):
        groups[(reply.title.strip().casefold(), reply.team_id)].append(reply)
    moved: dict[int, int] = {}  # old id -> survivor id
    for rows in groups.values():
        if len(rows) < 2:
            continue
        survivor, languages = rows[0], {_code(rows[0].language)}
        for row in rows[1:]:
            language = _code(row.language)
            if not language or language in languages:
                continue
            languages.add(language)
            SavedReplyVersion.objects.create(saved_reply=survivor, language=language, body=row.body)
            moved[row.id] = survivor.id
    for old, new in moved.items():
        Message.objects.filter(saved_reply_id=old).update(saved_reply_id=new)
        ReplyDraft.objects.filter(saved_reply_id=old).update(saved_reply_id=new)
        AutoReplySetting.objects.filter(acknowledgement_id=old).update(acknowledgement_id=new)
        AutoReplySetting.objects.filter(out_of_hours_id=old).update(out_of_hours_id=new)
    if moved:
        for rule in RoutingRule.objects.all():
            changed = False
            for action in rule.actions or []:
                if isinstance(action, dict) and action.get("saved_reply") in moved:
                    action["saved_reply"] = moved[action["saved_reply"]]
                    changed = True
            if changed:
                rule.save(update_fields=["actions"])
        SavedReply.objects.filter(id__in=list(moved)).delete()
    sent = (
        Message.objects.filter(saved_reply__isnull=False, delivery_status="sent")
        .values("saved_reply_id").annotate(n=Count("id"))
    )
    for row in sent:
        SavedReply.objects.filter(id=row["saved_reply_id"]).update(usage_count=row["n"])


def backwards(apps, schema_editor):
    """Each version becomes a saved reply of its own with the same title, as before."""
    SavedReply = apps.get_model("inbox", "SavedReply")
    SavedReplyVersion = apps.get_model("inbox", "SavedReplyVersion")
    for version in SavedReplyVersion.objects.select_related("saved_reply").order_by("id"):
        parent = version.saved_reply
        SavedReply.objects.create(
            title=parent.title, body=version.body, kind=parent.kind, team_id=parent.team_id,
            language=version.language, created_at=parent.created_at,
        )
    SavedReplyVersion.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0017_saved_reply_versions_people_links"),
        ("routing", "0004_routing_rules"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
