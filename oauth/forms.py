"""The personal access token form (``/settings/tokens/``)."""

from __future__ import annotations

from django import forms
from oauth2_provider.settings import oauth2_settings

EXPIRY_CHOICES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


class PersonalTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “backup script” — shown in your activity.")
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, initial=["memories:read"],
                                       help_text="What the token may do. Pick only what the script needs.")
    expires_days = forms.TypedChoiceField(choices=EXPIRY_CHOICES, coerce=int, initial="30", label="Expires after")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        scopes = oauth2_settings.SCOPES
        self.fields["scopes"].choices = [
            (name, f"{name} — {description}") for name, description in scopes.items()
            if name != "memories:admin" or getattr(user, "is_staff", False)
        ]
