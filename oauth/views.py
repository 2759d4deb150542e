"""HTML and protocol views of the OAuth server: DOT's views with Picard's templates and
registration policy, plus the "connected apps" page."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.models import get_application_model
from oauth2_provider.oauth2_backends import _add_iss_to_redirect as add_iss_to_redirect  # DOT's own, for success redirects
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views.dynamic_client_registration import _check_permissions
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from oauth import services
from oauth.connect import connect_instructions, connect_urls
from oauth.dcr import registration_metadata_supported, registration_policy_error
from oauth.forms import PersonalTokenForm
from picard.exceptions import DomainError, NotFound


class AuthorizationView(dot_views.AuthorizationView):
    """``/authorize``: signs the user in (LOGIN_URL) and shows the consent page naming the
    client, its redirect host and each scope; the user may allow or deny."""

    template_name = "oauth/authorize.html"

    def get(self, request, *args, **kwargs):
        # Some clients send an empty `scope=`, which oauthlib rejects; treat it as absent
        # so the default scopes apply (and are shown on the consent page).
        if "scope" in request.GET and not request.GET["scope"].strip():
            query = request.GET.copy()
            del query["scope"]
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        refusal = self._refuse_plain_pkce(request)
        if refusal is not None:
            return refusal
        ignore_client_approval_prompt(request)
        return super().get(request, *args, **kwargs)

    def _refuse_plain_pkce(self, request):
        """DOT refuses a "plain" challenge only when the code is created (after consent);
        refuse it before the person is asked. oauthlib treats a challenge without a method
        as plain, so that is refused too. Only a validated client/redirect gets a redirect."""
        if "code_challenge" not in request.GET or request.GET.get("code_challenge_method") == "S256":
            return None
        try:
            _, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError:
            return None  # DOT renders its own error for an invalid client/redirect
        application = get_application_model().objects.get(client_id=credentials["client_id"])
        error = OAuthToolkitError(
            error=CustomOAuth2Error(
                error="invalid_request",
                description='Unsupported code_challenge_method; use "S256".',
                state=credentials.get("state"),
            ),
            redirect_uri=credentials["redirect_uri"],
        )
        return self.error_response(error, application)

    def error_response(self, error, application, **kwargs):
        """DOT adds RFC 9207 ``iss`` only to successful authorization responses; every error
        redirect (access_denied, invalid_scope, missing PKCE…) carries it too, so a client
        that checks the issuer (the TypeScript SDK 2.x does) reports the real error."""
        oauthlib_error = getattr(error, "oauthlib_error", None)
        if application is None and oauthlib_error is not None and not isinstance(error, FatalClientError):
            # DOT passes no application for errors found while validating the request, and
            # then allows only http(s) redirects: a native client (cursor://…) needs its own.
            client_id = oauthlib_error.client_id
            application = get_application_model().objects.filter(client_id=client_id).first() if isinstance(client_id, str) else None
        response = super().error_response(error, application, **kwargs)
        location = response.get("Location") if response.status_code in (301, 302, 303, 307, 308) else None
        if location and oauth2_settings.COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS:
            response["Location"] = add_iss_to_redirect(location, oauth2_settings.oauth2_authorization_server_issuer(self.request))
        return response

    def form_invalid(self, form):
        error = {"error": "invalid_request", "description": "The authorization form was incomplete; start again from the app."}
        return self.render_to_response(self.get_context_data(form=form, error=error), status=400)

    def form_valid(self, form):
        # DOT looks the client up with .get() and would answer a tampered form with a 500.
        if not get_application_model().objects.filter(client_id=form.cleaned_data.get("client_id")).exists():
            error = {"error": "invalid_client", "description": "Unknown client."}
            return self.render_to_response(self.get_context_data(form=form, error=error), status=400)
        return super().form_valid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        redirect_uri = kwargs.get("redirect_uri") or context.get("redirect_uri") or ""
        try:
            parts = urlsplit(redirect_uri)
            context["redirect_host"] = parts.netloc or parts.scheme
        except ValueError:
            context["redirect_host"] = ""
        scopes = kwargs.get("scopes") or []
        descriptions = kwargs.get("scopes_descriptions") or []
        context["scope_items"] = list(zip(scopes, descriptions, strict=False))
        return context


def ignore_client_approval_prompt(request) -> None:
    """The server decides whether the consent page is shown (``REQUEST_APPROVAL_PROMPT``,
    "force": always), never the client: DOT reads ``?approval_prompt=auto`` from the query
    and would then skip consent for a client the person approved before, so the parameter
    is dropped before DOT sees it."""
    if "approval_prompt" in request.GET:
        query = request.GET.copy()
        del query["approval_prompt"]
        request.GET = query


def _json_error(error: str, description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _metadata(request) -> dict | None:
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class TokenView(dot_views.TokenView):
    """DOT's token endpoint, with refresh requests for one refresh token serialized.

    Two requests racing with the same refresh token both passed DOT's validation and one
    of them then failed with a 500. A transaction-scoped advisory lock on the token's hash
    makes the second wait for the first to commit; it then sees a token rotated moments ago:
    inside REFRESH_TOKEN_GRACE_PERIOD_SECONDS the same client gets a fresh pair on the same
    grant (``oauth.validators``), after it reuse protection revokes the family — across workers.
    """

    def post(self, request, *args, **kwargs):
        refresh_token = request.POST.get("refresh_token") if request.POST.get("grant_type") == "refresh_token" else None
        if not refresh_token:
            return super().post(request, *args, **kwargs)
        lock_key = int.from_bytes(hashlib.sha256(refresh_token.encode("utf-8", "surrogatepass")).digest()[:8], "big", signed=True)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key])
            return super().post(request, *args, **kwargs)


def _apply_registration_policy(request) -> JsonResponse | None:
    """The policy error for a registration body, or None after replacing the body with the
    metadata Picard registers (``oauth.dcr.registration_metadata_supported``) for DOT's view."""
    data = _metadata(request)
    if data is None:
        return None  # DOT answers malformed JSON itself
    problem = registration_policy_error(data)
    if problem:
        return _json_error(*problem)
    supported = registration_metadata_supported(data)
    if supported is not data:
        request._body = json.dumps(supported).encode()  # what DOT's view reads next
    return None


class DynamicClientRegistrationView(dot_views.DynamicClientRegistrationView):
    """``/oauth/register`` (RFC 7591): DOT's view behind Picard's registration policy."""

    def post(self, request, *args, **kwargs):
        if not _check_permissions(request):
            return _json_error("access_denied", "Client registration needs an initial access token here.", status=401)
        return _apply_registration_policy(request) or super().post(request, *args, **kwargs)


class DynamicClientRegistrationManagementView(dot_views.DynamicClientRegistrationManagementView):
    """RFC 7592 read/update/delete with the registration access token; updates obey the
    same policy as registration."""

    def put(self, request, *args, **kwargs):
        return _apply_registration_policy(request) or super().put(request, *args, **kwargs)


@login_required
@require_http_methods(["GET"])
def connected_apps(request):
    """The apps this person has authorized, each with a Revoke button."""
    return render(request, "oauth/connected_apps.html", {"apps": services.connected_app_list(user=request.user)})


@login_required
@require_POST
def connected_app_revoke(request, client_id: str):
    try:
        services.connected_app_revoke(user=request.user, client_id=client_id)
    except NotFound:
        messages.error(request, "That app is not connected to your account.")
    else:
        messages.success(request, "Access revoked. The app must ask you again to connect.")
    return redirect("oauth:connected_apps")



@login_required
@require_http_methods(["GET"])
def connect(request):
    """How to connect each common AI client to this server (``oauth.connect``)."""
    return render(request, "oauth/connect.html", {"urls": connect_urls(), "clients": connect_instructions()})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def personal_tokens(request):
    """The person's access tokens: create one (shown once, on this response only), list, revoke."""
    form = PersonalTokenForm(request.POST if request.method == "POST" else None, user=request.user)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = services.personal_token_create(user=request.user, name=form.cleaned_data["name"],
                                                         scopes=form.cleaned_data["scopes"], expires_days=form.cleaned_data["expires_days"])
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                form = PersonalTokenForm(user=request.user)
        else:
            status = 400
    context = {"form": form, "created": created, "tokens": services.personal_token_list(user=request.user),
               "now": timezone.now(), "urls": connect_urls()}
    return render(request, "oauth/tokens.html", context, status=status)


@login_required
@require_POST
def personal_token_revoke(request, token_id: str):
    try:
        token = services.personal_token_revoke(user=request.user, token_id=token_id)
    except NotFound:
        messages.error(request, "That token does not exist or was already revoked.")
    else:
        messages.success(request, f"Token “{token.name}” revoked: it stopped working at once.")
    return redirect("oauth:personal_tokens")
