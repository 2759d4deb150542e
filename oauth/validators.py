"""DOT's OAuth2Validator with Picard's client policy: a disabled client cannot authenticate,
obtain tokens, or use the tokens it had; an inactive user's tokens, refresh tokens and codes
are refused; a replayed authorization code revokes what its first use issued
(``oauth.revocation``)."""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings

from oauth.cimd import raise_cimd_failure
from oauth.models import ClientPolicy, PersonalAccessToken
from oauth.revocation import authorization_code_remember_use, authorization_code_replay_revoke
from oauth.services import personal_token_note_use
from picard import rowload


def application_disabled(application) -> bool:
    if application is None or application.pk is None:
        return False
    return ClientPolicy.objects.filter(application_id=application.pk, disabled=True).exists()


@functools.cache
def _token_query() -> tuple[str, list]:
    """The access-token lookup's SQL (token, application, user, client disabled?) and, per
    model, the fields its columns hold."""
    token_model, application_model, user_model = get_access_token_model(), get_application_model(), get_user_model()
    parts = [(model, rowload.fields_of(model)) for model in (token_model, application_model, user_model)]
    selected = ", ".join(rowload.columns(alias, fields) for alias, (_, fields) in zip(("t", "a", "u"), parts, strict=False))
    sql = (
        f'SELECT {selected}, EXISTS(SELECT 1 FROM "{ClientPolicy._meta.db_table}" p '
        f'WHERE p."application_id" = t."application_id" AND p."disabled"), pt."id", pt."name", pt."last_used_at" '
        f'FROM "{token_model._meta.db_table}" t '
        f'LEFT JOIN "{application_model._meta.db_table}" a ON a."{application_model._meta.pk.column}" = t."application_id" '
        f'LEFT JOIN "{user_model._meta.db_table}" u ON u."{user_model._meta.pk.column}" = t."user_id" '
        f'LEFT JOIN "{PersonalAccessToken._meta.db_table}" pt ON pt."access_token_id" = t."{token_model._meta.pk.column}" '
        'WHERE t."token_checksum" = %s LIMIT 1'
    )
    return sql, parts


def access_token_load(token: str):
    """DOT's lookup (the token by its SHA-256, with its application and user) plus whether
    the client is disabled (``picard_client_disabled``) and, for a personal access token, its
    id and name (``picard_pat_id``, ``picard_pat_name``; None otherwise), in one statement written out once:
    compiling the ORM query (three models, a subquery) was a quarter of a request's Python
    time. Used by both doors (``/api/tools`` through DOT, ``/mcp`` by mcp_bridge.auth)."""
    sql, parts = _token_query()
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(sql, [checksum])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for model, fields in parts:
        instances.append(rowload.instance(model, fields, row[start:start + len(fields)]))
        start += len(fields)
    access_token, application, user = instances
    rowload.attach(access_token, "application", application)
    rowload.attach(access_token, "user", user)
    access_token.picard_client_disabled = bool(row[start])
    # A personal access token (oauth.models.PersonalAccessToken): its id, name and last use.
    access_token.picard_pat_id, access_token.picard_pat_name, access_token.picard_pat_last_used_at = row[start + 1:start + 4]
    return access_token


class PicardOAuth2Validator(OAuth2Validator):
    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        if application is not None and application_disabled(application):
            request.client = None
            return None
        return application

    def validate_client_id(self, client_id, request, *args, **kwargs):
        if super().validate_client_id(client_id, request, *args, **kwargs):
            return True
        raise_cimd_failure(client_id, request)  # a metadata-document URL says why it failed
        return False

    def authenticate_client(self, request, *args, **kwargs):
        if super().authenticate_client(request, *args, **kwargs):
            return True
        if request.client is None:
            raise_cimd_failure(getattr(request, "client_id", None), request, status_code=401)
        return False

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        if super().authenticate_client_id(client_id, request, *args, **kwargs):
            return True
        if request.client is None:
            raise_cimd_failure(client_id, request, status_code=401)
        return False

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        allowed = (
            ClientPolicy.objects.filter(application_id=getattr(client, "pk", None)).values_list("allowed_scopes", flat=True).first()
        )
        if allowed:
            return set(scopes).issubset(set(allowed.split()))
        return True

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            authorization_code_replay_revoke(code=code, application=client)
            return False
        return request.user is not None and request.user.is_active

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        return request.user is not None and request.user.is_active

    def save_bearer_token(self, token, request, *args, **kwargs):
        result = super().save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "authorization_code" and getattr(request, "code", None):
            authorization_code_remember_use(code=request.code, application=request.client, refresh_token=token.get("refresh_token"))
        return result

    def _load_access_token(self, token):
        return access_token_load(token)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        previous = getattr(request, "refresh_token_instance", None)
        if token.get("refresh_token") and previous is not None and previous.revoked is not None:
            return self._save_grace_pair(token, request, previous)
        return super()._save_bearer_token(token, request, *args, **kwargs)

    def _save_grace_pair(self, token, request, previous) -> None:
        """A refresh token reused inside REFRESH_TOKEN_GRACE_PERIOD_SECONDS by its own client
        (DOT's validate_refresh_token let it through because a rotation superseded it moments
        ago). DOT would answer with the pair that rotation issued, but tokens are stored only
        as checksums (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE), so there is no pair to repeat:
        this issues a fresh pair on the same grant — same scopes, resource and token family,
        so a reuse after the window still revokes all of it."""
        self._check_and_set_request_resource(request)
        expires = timezone.now() + timedelta(seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS))
        access_token = self._create_access_token(expires, request, token)
        self._create_refresh_token(request, token["refresh_token"], access_token, previous)

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
        personal_token_note_use(access_token=access_token)
        return True
