"""Account forms: sign-up and profile/settings."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from memories.models import Permission

User = get_user_model()


class RegisterForm(UserCreationForm):
    email = forms.EmailField(label="E-mail", required=True, help_text="Used only to reset your password.")
    display_name = forms.CharField(label="Display name", required=False, max_length=150, help_text="How others see you (optional).")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "display_name")

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail already exists. Sign in, or reset your password.")
        return email

    def clean_username(self):
        username = super().clean_username()
        if username and User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This username is taken; pick another one.")
        return username


class ProfileForm(forms.ModelForm):
    default_permission = forms.ChoiceField(  # not "shared": a default cannot say with whom
        label="Default visibility of new memories", widget=forms.RadioSelect,
        choices=[(value, label) for value, label in Permission.choices if value != Permission.SHARED],
    )
    default_expiry_days = forms.IntegerField(
        label="Default expiry (days)", required=False, min_value=1, max_value=36500,
        help_text="New memories expire after this many days unless you change it. Leave empty for no expiry.",
    )

    class Meta:
        model = User
        fields = ("display_name", "email", "default_permission", "default_expiry_days")
        labels = {"display_name": "Display name", "email": "E-mail"}
        help_texts = {"display_name": "Shown to others instead of your username."}

    def clean_email(self):
        email = (self.cleaned_data.get("email") or "").strip()
        if email and User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another account already uses this e-mail.")
        return email
