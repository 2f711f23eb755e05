"""Creating a contact form (an account whose external id is its public slug) and changing its
settings, through the core's one service for accounts; every change audited."""

from __future__ import annotations

import secrets

from django.db import transaction

from channels_adapters.webform import payloads
from inbox.audit import audit_record
from inbox.models import ChannelAccount, Team
from inbox.services import account_credentials_set, channel_account_connect


def webform_connect(*, user, slug: str, name: str, default_team: Team | None = None,
                    method: str = "form_page") -> ChannelAccount:
    """Create (or re-create) the form ``/contact/<slug>/``. Its settings start empty, with a fresh
    secret for submissions posted by the administration's server."""
    account, _created = channel_account_connect(
        platform=payloads.PLATFORM, external_id=slug, name=name, handle=slug,
        credentials={"webhook_secret": secrets.token_urlsafe(32)}, default_team=default_team, actor=user,
        method=method,
    )
    return account


def webform_settings_set(*, user, account: ChannelAccount, consent_text: str, allowed_origins: list[str],
                         answer_account: str) -> None:
    """Save a form's consent text, the origins that may frame it and the e-mail account answers
    leave from; audited with what changed (never the secret)."""
    with transaction.atomic():
        locked = ChannelAccount.objects.select_for_update().get(pk=account.pk)
        before = dict(locked.credentials or {})
        after = {**before, "consent_text": consent_text, "allowed_origins": allowed_origins,
                 "answer_account": answer_account}
        if not after.get("webhook_secret") and not locked.simulated:
            after["webhook_secret"] = secrets.token_urlsafe(32)
        account_credentials_set(locked, after)
        changed = sorted(k for k in ("consent_text", "allowed_origins", "answer_account") if before.get(k) != after[k])
        audit_record(user, "channel_account.settings", locked, platform=payloads.PLATFORM, changed=changed,
                     allowed_origins=allowed_origins, answer_account=answer_account)
    account.credentials = after
