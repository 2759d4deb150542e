"""The Django admin's OAuth application page with Picard's redirect-URI policy
(``OAUTH2_PROVIDER["APPLICATION_ADMIN_CLASS"]``): the textarea holds one URI per line or
space, and each must pass ``oauth.redirect_uris.redirect_uri_problem``."""

from __future__ import annotations

from django import forms
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.forms import ApplicationForm

from oauth.redirect_uris import redirect_uri_problem


class PicardApplicationForm(ApplicationForm):
    def clean_redirect_uris(self) -> str:
        value = self.cleaned_data.get("redirect_uris") or ""
        # Lines and spaces separate URIs here; any other control character is refused.
        uris = value.split()
        problems = [p for p in (redirect_uri_problem(u, dynamic=False) for u in uris) if p]
        if problems:
            raise forms.ValidationError(problems)
        return " ".join(uris)


class PicardApplicationAdmin(ApplicationAdmin):
    form = PicardApplicationForm
