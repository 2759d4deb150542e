"""Administrators' pages beyond Django admin: register OAuth clients (the secret is shown
once), disable/enable them. Uses ``oauth.services``; staff only."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from oauth import services
from picard.errors import form_message
from picard.exceptions import DomainError


class ClientRegisterForm(forms.Form):
    name = forms.CharField(label="App name", max_length=255, help_text="Shown to people on the consent page.")
    client_type = forms.ChoiceField(
        label="Kind of app", widget=forms.RadioSelect, initial="confidential",
        choices=[("confidential", "Confidential (a server that can keep a secret)"), ("public", "Public (desktop, mobile or browser app; PKCE only)")],
    )
    redirect_uris = forms.CharField(
        label="Redirect URIs", required=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://app.example.com/oauth/callback"}),
        help_text="One per line. Where people return after they allow or deny access.",
    )
    scopes = forms.MultipleChoiceField(label="Scopes it may ask for", required=False, widget=forms.CheckboxSelectMultiple,
                                       help_text="None ticked: any scope.")
    allow_user_token_flow = forms.BooleanField(label="May use the user-token flow (POST /api/user-tokens/user-token)", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(k, f"{k} — {v}") for k, v in oauth2_settings.SCOPES.items()]


def _staff_only(request):
    if not request.user.is_staff:
        return render(request, "error.html", {"title": "Administrators only", "message": "This page is for Picard's administrators."}, status=403)
    return None


def _clients():
    apps = list(get_application_model().objects.order_by("-created").select_related("picard_policy")[:200])
    for app in apps:
        policy = getattr(app, "picard_policy", None)
        app.disabled = bool(policy and policy.disabled)
        app.user_token_flow = bool(policy and policy.allow_user_token_flow)
    return apps


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def clients_view(request):
    if (denied := _staff_only(request)) is not None:
        return denied
    form = ClientRegisterForm(request.POST if request.method == "POST" else None)
    registered = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            registered = services.client_register(
                name=data["name"], client_type=data["client_type"],
                redirect_uris=[u.strip() for u in data["redirect_uris"].splitlines() if u.strip()],
                allowed_scopes=data["scopes"], allow_user_token_flow=data["allow_user_token_flow"], owner=request.user,
            )
        except DomainError as exc:
            field = exc.details.get("field")
            field = {"allow_user_token_flow": "allow_user_token_flow", "scopes": "scopes"}.get(field, field)
            form.add_error(field if field in form.fields else None, form_message(exc))
        else:
            form = ClientRegisterForm()
    response = render(request, "manage/clients.html", {"form": form, "registered": registered, "clients": _clients()},
                      status=400 if form.errors else 200)
    return response


@login_required
@require_POST
def client_state_view(request, client_id: str, action: str):
    if (denied := _staff_only(request)) is not None:
        return denied
    try:
        if action == "disable":
            revoked = services.client_disable(client_id=client_id, actor=request.user)
            messages.success(request, f"Client disabled; {revoked} token{'s' if revoked != 1 else ''} revoked.")
        else:
            services.client_enable(client_id=client_id, actor=request.user)
            messages.success(request, "Client enabled.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("manage_clients")
