"""Revoking what a person or a stolen code should no longer have (services).

- ``authorization_code_remember_use`` / ``authorization_code_replay_revoke``: a code is
  single use; when it comes back a second time, the tokens issued from its first use are
  revoked too (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3) — the replay means the code leaked, and
  whoever redeemed it first may be the attacker. Codes are remembered by SHA-256 only.
- ``user_grants_revoke``: every access token, refresh token and pending code of a user
  (used when an account is deactivated, ``picard.services.user_deactivate``).

The validator (``oauth.validators.PicardOAuth2Validator``) calls these from inside DOT's
token endpoint; an inactive user's refresh tokens and codes are refused there as well.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model

from memories.activity import activity_record
from oauth.models import PersonalAccessToken, UsedAuthorizationCode
from oauth.services import _revoke_tokens  # the one "revoke everything matching" helper, shared with client_disable

# How long a used code is remembered. Codes live AUTHORIZATION_CODE_EXPIRE_SECONDS (300 s);
# a replay later than this is refused as an unknown code, without revoking.
USED_CODE_MEMORY = timedelta(days=1)


def _checksum(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def authorization_code_remember_use(*, code: str, application, refresh_token: str | None) -> None:
    """Record that ``code`` was exchanged and which refresh-token family it started."""
    family = None
    if refresh_token:
        family = (
            get_refresh_token_model().objects.filter(token_checksum=_checksum(refresh_token))
            .values_list("token_family", flat=True).first()
        )
    UsedAuthorizationCode.objects.update_or_create(
        code_checksum=_checksum(code), defaults={"application": application, "token_family": family},
    )
    UsedAuthorizationCode.objects.filter(used_at__lt=timezone.now() - USED_CODE_MEMORY).delete()


def authorization_code_replay_revoke(*, code: str, application) -> bool:
    """If ``code`` was already exchanged by ``application``, revoke every token issued from
    that exchange (the whole refresh-token family, and so every access token refreshed from
    it). Returns whether it was a replay."""
    if not isinstance(code, str) or not code or application is None:
        return False
    used = UsedAuthorizationCode.objects.filter(code_checksum=_checksum(code), application=application).first()
    if used is None:
        return False
    owner = (
        get_refresh_token_model().objects.filter(token_family=used.token_family).select_related("user").first()
        if used.token_family else None
    )
    with transaction.atomic():
        get_refresh_token_model().revoke_family(used.token_family)
        activity_record(actor=owner.user if owner else None, action="oauth.code.replay", details={
            "client_id": application.client_id, "tokens_revoked": used.token_family is not None,
        })
    return True


def user_grants_revoke(*, user) -> int:
    """Revoke every live access and refresh token (personal access tokens too) and delete
    every pending authorization code of ``user``, across all clients. Returns how many
    tokens were live."""
    with transaction.atomic():
        PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        return _revoke_tokens(user=user)
