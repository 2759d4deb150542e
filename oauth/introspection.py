"""``POST /introspect`` (RFC 7662) under Picard's rule: **a client may introspect only the
tokens issued to itself.**

- The caller authenticates as a confidential client (HTTP Basic, or ``client_id`` +
  ``client_secret`` in the form body). A public client's id alone, a wrong secret, a
  disabled client or an unknown one get ``401 invalid_client`` — one answer for all.
- A token issued to any other client, an expired or unknown token, a token of an inactive
  user or of a disabled client all answer ``{"active": false}`` — the same answer, so the
  endpoint tells a client nothing about other clients' tokens or their owners.
- Only POST (RFC 7662 §2.1): a token never travels in a URL. Rate-limited per IP
  (``introspect`` in ``settings.PICARD_RATE_LIMITS``).

DOT's own view answers any token to any caller that names a client id (public clients
need no secret there) — the reason this view replaces it. Picard's own resource servers
(``/api``, ``/mcp``) never call it; it exists for a client that wants to check its tokens.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import json
from urllib.parse import unquote_plus

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot_views
from oauth2_provider.compat import login_not_required
from oauth2_provider.models import get_access_token_model

from oauth.services import _authenticate_confidential_client  # one client-authentication rule for both JSON doors
from oauth.validators import application_disabled
from picard.exceptions import NotAuthenticated

INACTIVE = {"active": False}


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, sep, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else (None, None)


def introspection_client_authenticate(*, authorization: str, form) -> object:
    """The calling confidential client (Basic first, then the form body), or NotAuthenticated."""
    client_id, secret = _basic_credentials(authorization)
    if client_id is None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
    return _authenticate_confidential_client(client_id, secret)


def token_introspect(*, caller, token_value: str) -> dict:
    """RFC 7662's answer for ``token_value`` as seen by the client ``caller`` (a selector)."""
    if not isinstance(token_value, str) or not token_value or len(token_value) > 4096:
        return INACTIVE
    checksum = hashlib.sha256(token_value.encode("utf-8", "surrogatepass")).hexdigest()
    token = get_access_token_model().objects.select_related("user", "application").filter(token_checksum=checksum).first()
    if token is None or token.application_id != caller.pk or not token.is_valid():
        return INACTIVE
    if token.user is None or not token.user.is_active or application_disabled(token.application):
        return INACTIVE
    data = {
        "active": True,
        "scope": token.scope,
        "client_id": caller.client_id,
        "username": token.user.get_username(),
        "token_type": "Bearer",
        "exp": int(calendar.timegm(token.expires.timetuple())),
    }
    if token.resource:
        data["aud"] = token.resource
    return data


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class IntrospectTokenView(View):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        try:
            caller = introspection_client_authenticate(authorization=request.headers.get("Authorization", ""), form=request.POST)
        except NotAuthenticated as exc:
            response = JsonResponse({"error": "invalid_client", "error_description": exc.message}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="introspect"'
            return _no_store(response)
        token_value = request.POST.get("token")
        if not token_value:
            return _no_store(JsonResponse({"error": "invalid_request", "error_description": "The token parameter is missing."}, status=400))
        return _no_store(JsonResponse(token_introspect(caller=caller, token_value=token_value)))


class ServerMetadataView(dot_views.OAuthServerMetadataView):
    """RFC 8414 metadata, saying that introspection needs a client secret (no ``none``)."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        if "introspection_endpoint_auth_methods_supported" in data:
            data["introspection_endpoint_auth_methods_supported"] = [
                m for m in data["introspection_endpoint_auth_methods_supported"] if m != "none"
            ]
            response.content = json.dumps(data).encode()
            response["Content-Length"] = str(len(response.content))
        return response
