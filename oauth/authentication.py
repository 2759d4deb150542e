"""DRF authentication for bearer tokens (the REST door: ``POST /api/tools``, ``/api/personas/…``).

django-oauth-toolkit's ``OAuth2Authentication`` answers "no credentials" (``None``) for a token
it does not accept, so DRF goes on to the next authenticator: the caller then hears
"Authentication credentials were not provided." — or, if the browser also sent a session
cookie, "CSRF Failed" — about a token that was sent but is revoked, expired or unknown. Here a
bearer token that was sent and refused ends authentication with that reason; a request
without one (the site's own session calls) is unchanged.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.exceptions import AuthenticationFailed

TOKEN_REFUSED_MESSAGE = "Token revoked or expired (or not known here): get a new access token, e.g. with your refresh token or by connecting again."
# django-oauth-toolkit's own words (same gettext call) for a live token bound to another resource
# (RFC 8707, e.g. a token issued for /mcp): neither revoked nor expired, so its own message stays.
_OTHER_RESOURCE = "The access token is not valid for this resource."


def bearer_token_sent(request) -> bool:
    """Whether the request carries a non-empty ``Authorization: Bearer …`` header."""
    scheme, _space, token = (request.META.get("HTTP_AUTHORIZATION") or "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


class BearerTokenAuthentication(OAuth2Authentication):
    """``OAuth2Authentication`` that refuses (401) a bearer token it does not accept, instead
    of passing the request on as if no credentials were sent."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None and bearer_token_sent(request):
            description = (getattr(request, "oauth2_error", None) or {}).get("error_description")
            other_resource = description is not None and str(description) == _(_OTHER_RESOURCE)
            raise AuthenticationFailed(str(description) if other_resource else TOKEN_REFUSED_MESSAGE, code="invalid_token")
        return result


class BearerTokenAuthenticationScheme(DjangoOAuthToolkitScheme):
    """OpenAPI: the same ``oauth2`` security scheme drf-spectacular describes for DOT's class."""

    target_class = BearerTokenAuthentication
