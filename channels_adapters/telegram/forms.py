from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import Team


class ConnectBotForm(forms.Form):
    bot_token = forms.CharField(
        label=_("Bot token"), widget=forms.PasswordInput(render_value=False), max_length=200, strip=True,
        help_text=_("The token BotFather gave when the bot was created (123456789:AA…)."),
    )
    mode = forms.ChoiceField(
        label=_("Receive messages by"),
        choices=[("webhook", _("Webhook: Telegram posts each message here (needs a public https:// address)")),
                 ("polling", _("Polling: this inbox asks Telegram for new messages (no public address needed)"))],
        widget=forms.RadioSelect,
    )
    default_team = forms.ModelChoiceField(
        label=_("Default team"), queryset=Team.objects.all(), required=False,
        help_text=_("Conversations that no routing rule places go to this team."),
    )


class ModeForm(forms.Form):
    mode = forms.ChoiceField(choices=[("webhook", "webhook"), ("polling", "polling")])
