from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import Team

SECURITY_CHOICES = [("ssl", _("TLS from the start (implicit, ports 993 / 465)")),
                    ("starttls", _("STARTTLS (ports 143 / 587)"))]


class ConnectMailboxForm(forms.Form):
    name = forms.CharField(label=_("Name officers see"), max_length=200)
    from_address = forms.EmailField(label=_("Address (From of the answers)"), max_length=100)
    from_name = forms.CharField(label=_("Sender name on the answers"), max_length=200, required=False)
    imap_host = forms.CharField(label=_("IMAP server"), max_length=200)
    imap_port = forms.IntegerField(label=_("IMAP port"), min_value=1, max_value=65535, initial=993)
    imap_security = forms.ChoiceField(label=_("IMAP security"), choices=SECURITY_CHOICES, initial="ssl")
    folder = forms.CharField(label=_("Folder to read"), max_length=200, initial="INBOX")
    smtp_host = forms.CharField(label=_("SMTP server"), max_length=200)
    smtp_port = forms.IntegerField(label=_("SMTP port"), min_value=1, max_value=65535, initial=587)
    smtp_security = forms.ChoiceField(label=_("SMTP security"), choices=SECURITY_CHOICES, initial="starttls")
    username = forms.CharField(label=_("User name"), max_length=200)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(render_value=False), max_length=500,
                               strip=False)
    smtp_username = forms.CharField(label=_("SMTP user name (if different)"), max_length=200, required=False)
    smtp_password = forms.CharField(label=_("SMTP password (if different)"), max_length=500, required=False,
                                    widget=forms.PasswordInput(render_value=False), strip=False)
    default_team = forms.ModelChoiceField(
        label=_("Default team"), queryset=Team.objects.all(), required=False,
        help_text=_("Conversations that no routing rule places go to this team."),
    )
