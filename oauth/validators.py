"""DOT's OAuth2Validator with Picard's client policy: a disabled client cannot authenticate,
obtain tokens, or use the tokens it had; an inactive user's tokens are refused."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from django.db.models import Exists, OuterRef
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from oauth.models import ClientPolicy


def application_disabled(application) -> bool:
    if application is None or application.pk is None:
        return False
    return ClientPolicy.objects.filter(application_id=application.pk, disabled=True).exists()


class PicardOAuth2Validator(OAuth2Validator):
    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        if application is not None and application_disabled(application):
            request.client = None
            return None
        return application

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        allowed = (
            ClientPolicy.objects.filter(application_id=getattr(client, "pk", None)).values_list("allowed_scopes", flat=True).first()
        )
        if allowed:
            return set(scopes).issubset(set(allowed.split()))
        return True

    def _load_access_token(self, token):
        """DOT's lookup (by the token's SHA-256, with its application and user), which also
        reads whether the client is disabled: one query per request instead of two."""
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        disabled = ClientPolicy.objects.filter(application_id=OuterRef("application_id"), disabled=True)
        rows = list(
            get_access_token_model().objects.select_related("application", "user")
            .annotate(picard_client_disabled=Exists(disabled)).filter(token_checksum=checksum)[:1]
        )
        return rows[0] if rows else None

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        access_token = request.access_token
        user = access_token.user
        disabled = getattr(access_token, "picard_client_disabled", None)
        if disabled is None:  # a token that did not come from _load_access_token
            disabled = application_disabled(access_token.application)
        if disabled or (user is not None and not user.is_active):
            request.oauth2_error = OrderedDict(
                [("error", "invalid_token"), ("error_description", "The access token is invalid.")]
            )
            return False
        return True
