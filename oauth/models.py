"""Picard's policy on top of django-oauth-toolkit's Application: whether an admin disabled a
client and whether it may use the user-context token flow. DOT's own models are unchanged."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
        db_table = "oauth_client_policy"

    def __str__(self) -> str:
        state = "disabled" if self.disabled else "enabled"
        return f"{self.application_id} ({state})"
