"""Picard's additions to django-oauth-toolkit's models: the policy on an Application (whether
an admin disabled a client, whether it may use the user-context token flow) and personal
access tokens. DOT's own models are unchanged."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from oauth2_provider.settings import oauth2_settings


class ClientPolicy(models.Model):
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="picard_policy"
    )
    # An admin allowed this confidential client to call POST /api/user-tokens/user-token.
    allow_user_token_flow = models.BooleanField(default=False)
    # A disabled client gets no new tokens and its existing tokens are refused (and revoked).
    disabled = models.BooleanField(default=False)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Space-separated scopes this client may request; empty means every scope.
    allowed_scopes = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "client policy"
        verbose_name_plural = "client policies"
        db_table = "oauth_client_policy"

    def __str__(self) -> str:
        state = "disabled" if self.disabled else "enabled"
        return f"{self.application_id} ({state})"


class PersonalAccessToken(models.Model):
    """A person's named token for scripts and REST callers (``/settings/tokens/``,
    ``manage.py create_access_token``).

    The bearer token itself is a django-oauth-toolkit ``AccessToken`` — stored only as its
    SHA-256 checksum (``COMPLIANT_BCP_RFC9700_TOKEN_STORAGE``), with no application, bound to
    this server's ``/mcp`` and ``/api`` (RFC 8707 ``resource``) — so both doors check it
    exactly like an OAuth token: expiry, scopes, active user. This row adds what DOT's has
    not: a name, the last use and the revocation. It outlives its access token (revoking
    deletes that, as DOT revokes), so the activity log can still name the token that acted.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_access_tokens")
    name = models.CharField(max_length=100)
    access_token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="personal_access_token"
    )
    scope = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "personal access token"
        verbose_name_plural = "personal access tokens"
        db_table = "oauth_personal_access_token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"

    @property
    def activity_client_id(self) -> str:
        """What the activity log records as the acting client (``Activity.client_id``)."""
        return f"{PERSONAL_TOKEN_CLIENT_PREFIX}{self.id}"


# Activity.client_id of a call made with a personal access token: "pat:<token id>".
PERSONAL_TOKEN_CLIENT_PREFIX = "pat:"


class UsedAuthorizationCode(models.Model):
    """An authorization code that was exchanged, remembered by its SHA-256 (never the code)
    with the refresh-token family it started, so that a replay of the code revokes every
    token issued from its first use (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3). DOT deletes the
    grant on use; this row outlives it for ``USED_CODE_MEMORY`` (oauth.validators)."""

    code_checksum = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    token_family = models.UUIDField(null=True, blank=True)
    used_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "oauth_used_authorization_code"
        verbose_name = "used authorization code"
        verbose_name_plural = "used authorization codes"
