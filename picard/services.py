"""Account services used by operators (management commands, the admin)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from memories.activity import activity_record
from oauth.revocation import user_grants_revoke
from picard.exceptions import ValidationError


def user_ensure_admin(*, username: str, email: str = "", password: str | None = None, reset_password: bool = False) -> tuple[object, bool, str | None]:
    """Make sure a superuser ``username`` exists. Idempotent: an existing account is
    (re)made an active superuser, its password left alone unless ``reset_password``.

    Returns ``(user, created, generated_password)``. When a new account gets no
    ``password``, a random one is generated and returned — the caller shows it once; it is
    stored only as a hash.
    """
    username = (username or "").strip()
    if not username or len(username) > 150 or any(c.isspace() for c in username):
        raise ValidationError.for_field("username", "is required: 1-150 characters, no spaces.")
    User = get_user_model()
    generated = None
    with transaction.atomic():
        user = User.objects.select_for_update().filter(username=username).first()
        created = user is None
        if created:
            user = User(username=username)
        if email:
            user.email = email
        user.is_staff = user.is_superuser = user.is_active = True
        if created or reset_password:
            if not password:
                password = generated = secrets.token_urlsafe(18)
            try:
                validate_password(password, user=user)
            except DjangoValidationError as exc:
                raise ValidationError("password: " + " ".join(exc.messages), details={"field": "password"}) from exc
            user.set_password(password)
        user.save()
    return user, created, generated


def user_deactivate(*, user, actor=None) -> int:
    """Deactivate an account: it can no longer sign in, and every grant it gave is revoked
    (access and refresh tokens, pending authorization codes, for every client). Returns how
    many tokens were revoked. ``actor`` is the administrator, for the activity log."""
    with transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        revoked = user_grants_revoke(user=user)
        activity_record(actor=actor, action="account.deactivate", details={"user_id": str(user.pk), "tokens_revoked": revoked})
    return revoked
