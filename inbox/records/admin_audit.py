"""Changes made in Django's admin site (users, groups, permissions, accounts...) go to the
audit trail too. The admin writes a ``LogEntry`` for each; that table can be edited and
deleted, the trail cannot, so each entry is copied into it as ``admin.add`` /
``admin.change`` / ``admin.delete``. A signal because the admin is Django's code, not ours:
the one place we can hear it (connected in ``inbox.apps``)."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from inbox.audit import audit_record

_VERBS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


@receiver(post_save, sender=LogEntry, dispatch_uid="records-admin-audit")
def admin_change_audit(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    model = instance.content_type.model_class() if instance.content_type_id else None
    target = model(pk=instance.object_id) if model is not None and instance.object_id else instance
    audit_record(instance.user, _VERBS.get(instance.action_flag, "admin.change"), target,
                 object=instance.object_repr[:200], change=instance.get_change_message()[:2000])
