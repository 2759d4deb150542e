"""DOT's OAuth2Validator with Picard's client policy: a disabled client cannot authenticate,
obtain tokens, or use the tokens it had; an inactive user's tokens are refused."""

from __future__ import annotations

from collections import OrderedDict

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

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        access_token = request.access_token
        user = access_token.user
        if application_disabled(access_token.application) or (user is not None and not user.is_active):
            request.oauth2_error = OrderedDict(
                [("error", "invalid_token"), ("error_description", "The access token is invalid.")]
            )
            return False
        return True
