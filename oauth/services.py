"""OAuth client and token services (HackSoft style): client registration by an admin,
disabling a client, the user-context token flow, and revoking a user's connected apps.

The OAuth protocol endpoints themselves (authorize, token, revoke, introspect, DCR,
metadata) are django-oauth-toolkit's views, configured in settings and ``oauth.urls``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
    set_token_value,
)
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token

from memories.activity import activity_record
from memories.models import Activity
from oauth.models import ClientPolicy, PersonalAccessToken
from oauth.redirect_uris import redirect_uri_problem
from picard.exceptions import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationError

Application = get_application_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()

CLIENT_TYPES = ("confidential", "public")
USER_TOKEN_SCOPES = ("memories:read", "memories:write")


@dataclass(frozen=True)
class RegisteredClient:
    application: object
    client_secret: str | None  # the only time the raw secret exists; stored hashed

    @property
    def client_id(self) -> str:
        return self.application.client_id


def _clean_redirect_uris(redirect_uris: Sequence[str]) -> list[str]:
    """Each item is ONE URI, checked by Picard's redirect-URI policy (a space inside an item
    is refused, never split: DOT stores the list space-separated)."""
    if isinstance(redirect_uris, str) or not isinstance(redirect_uris, (list, tuple)):
        raise ValidationError.for_field("redirect_uris", "must be a list of URLs.")
    if not all(isinstance(u, str) for u in redirect_uris):
        raise ValidationError.for_field("redirect_uris", "must be a list of URLs.")
    cleaned = [u for u in redirect_uris if u]
    if len(cleaned) > 20:
        raise ValidationError.for_field("redirect_uris", "at most 20 redirect URIs.")
    for uri in cleaned:
        problem = redirect_uri_problem(uri, dynamic=False)
        if problem:
            raise ValidationError.for_field("redirect_uris", problem)
    return list(dict.fromkeys(cleaned))


def client_register(
    *,
    name: str,
    redirect_uris: Sequence[str] = (),
    client_type: str = "confidential",
    allow_user_token_flow: bool = False,
    skip_authorization: bool = False,
    allowed_scopes: Sequence[str] = (),
    owner=None,
) -> RegisteredClient:
    """Register an OAuth client (authorization-code grant, PKCE required) with a UUID
    client id. For a confidential client the secret is returned here ONCE and stored
    hashed; it cannot be shown again (register a new client or rotate instead)."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.for_field("name", "must not be empty.")
    if len(name) > 255:
        raise ValidationError.for_field("name", "at most 255 characters.")
    if client_type not in CLIENT_TYPES:
        raise ValidationError.for_field("client_type", "must be 'confidential' or 'public'.")
    uris = _clean_redirect_uris(redirect_uris)
    unknown = [s for s in allowed_scopes if s not in oauth2_settings.SCOPES]
    if unknown:
        raise ValidationError.for_field("scopes", f"unknown scope {unknown[0]!r}.")
    if not uris and not allow_user_token_flow:
        raise ValidationError.for_field("redirect_uris", "at least one redirect URI is needed for the authorization-code flow.")
    if allow_user_token_flow and client_type != "confidential":
        raise ValidationError.for_field("allow_user_token_flow", "only confidential clients may use the user-token flow.")
    raw_secret = oauth2_settings.CLIENT_SECRET_GENERATOR_CLASS().hash() if client_type == "confidential" else ""
    application = Application(
        name=name.strip(),
        user=owner,
        client_type=client_type,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(uris),
        client_secret=raw_secret,
        skip_authorization=skip_authorization,
        algorithm="",
    )
    try:
        application.full_clean(exclude=["client_secret"] if not raw_secret else None)
    except DjangoValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        field = "redirect_uris" if field in ("redirect_uris", "__all__") else field
        raise ValidationError.for_field(field, " ".join(messages)) from None
    with transaction.atomic():
        application.save()
        ClientPolicy.objects.create(
            application=application, allow_user_token_flow=allow_user_token_flow,
            allowed_scopes=" ".join(dict.fromkeys(allowed_scopes)),
        )
        activity_record(actor=owner, action="oauth.client.register", details={
            "client_id": application.client_id, "client_type": client_type, "user_token_flow": allow_user_token_flow,
        })
    return RegisteredClient(application=application, client_secret=raw_secret or None)


def _application_by_client_id(client_id) -> object:
    if not isinstance(client_id, str) or not client_id or len(client_id) > 255:
        raise NotFound("Client not found.")
    application = Application.objects.filter(client_id=client_id).first()
    if application is None:
        raise NotFound("Client not found.")
    return application


def _revoke_tokens(**filters) -> int:
    """Revoke every live access/refresh token and pending code matching ``filters``
    (e.g. ``application=app`` or ``application=app, user=user``). Returns how many
    access and refresh tokens were live."""
    now = timezone.now()
    refreshed = RefreshToken.objects.filter(revoked__isnull=True, **filters).update(revoked=now, access_token=None)
    _, per_model = AccessToken.objects.filter(**filters).delete()
    Grant.objects.filter(**filters).delete()
    return refreshed + per_model.get(AccessToken._meta.label, 0)


def client_disable(*, client_id: str, actor=None) -> int:
    """Disable a client: it can no longer obtain tokens, and every token it holds is
    revoked. Returns the number of tokens revoked. ``actor`` is the administrator, for
    the activity log (None from a management command)."""
    with transaction.atomic():
        application = _application_by_client_id(client_id)
        policy, _ = ClientPolicy.objects.select_for_update().get_or_create(application=application)
        policy.disabled = True
        policy.disabled_at = timezone.now()
        policy.save(update_fields=["disabled", "disabled_at", "updated_at"])
        revoked = _revoke_tokens(application=application)
        activity_record(actor=actor, action="oauth.client.disable", details={"client_id": application.client_id, "tokens_revoked": revoked})
        return revoked


def client_enable(*, client_id: str, actor=None) -> None:
    with transaction.atomic():
        application = _application_by_client_id(client_id)
        policy, _ = ClientPolicy.objects.select_for_update().get_or_create(application=application)
        policy.disabled = False
        policy.disabled_at = None
        policy.save(update_fields=["disabled", "disabled_at", "updated_at"])
        activity_record(actor=actor, action="oauth.client.enable", details={"client_id": application.client_id})


def client_set_user_token_flow(*, client_id: str, allowed: bool, actor=None) -> None:
    with transaction.atomic():
        application = _application_by_client_id(client_id)
        if allowed and application.client_type != "confidential":
            raise ValidationError.for_field("allow_user_token_flow", "only confidential clients may use the user-token flow.")
        policy, _ = ClientPolicy.objects.select_for_update().get_or_create(application=application)
        policy.allow_user_token_flow = allowed
        policy.save(update_fields=["allow_user_token_flow", "updated_at"])
        activity_record(actor=actor, action="oauth.client.user_token_flow", details={"client_id": application.client_id, "allowed": allowed})


# --- user-context token flow ------------------------------------------------------------

_DUMMY_HASH = make_password("picard-dummy-secret")
_INVALID_CLIENT = "Client authentication failed."


def _authenticate_confidential_client(client_id, client_secret) -> object:
    """The application, or NotAuthenticated with one message for every reason (unknown,
    public, disabled, wrong secret), so the answer reveals nothing about which it was."""
    application = None
    if isinstance(client_id, str) and 0 < len(client_id) <= 255:
        application = Application.objects.filter(client_id=client_id).select_related("picard_policy").first()
    secret_ok = False
    if isinstance(client_secret, str) and client_secret and len(client_secret) <= 1024:
        stored = application.client_secret if application is not None and application.client_type == "confidential" else _DUMMY_HASH
        secret_ok = check_password(client_secret, stored)
    if application is None or application.client_type != "confidential" or not secret_ok:
        raise NotAuthenticated(_INVALID_CLIENT, code="invalid_client")
    policy = getattr(application, "picard_policy", None)
    if policy is not None and policy.disabled:
        raise NotAuthenticated(_INVALID_CLIENT, code="invalid_client")
    return application


def _clean_scope(scope) -> list[str]:
    if scope is None or scope == "":
        return list(USER_TOKEN_SCOPES)
    if not isinstance(scope, str):
        raise ValidationError.for_field("scope", "must be a space-separated string.")
    scopes = scope.split()
    bad = [s for s in scopes if s not in USER_TOKEN_SCOPES]
    if bad:
        raise ValidationError.for_field("scope", f"{bad[0]!r} is not available in this flow (use {' '.join(USER_TOKEN_SCOPES)}).")
    return list(dict.fromkeys(scopes))


def _find_or_create_user(*, username, email, create_if_missing: bool):
    User = get_user_model()
    if not isinstance(username, str) or not username.strip():
        raise ValidationError.for_field("username", "must not be empty.")
    if not isinstance(email, str) or not email.strip():
        raise ValidationError.for_field("email", "must not be empty.")
    username, email = username.strip(), email.strip()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError.for_field("email", "is not a valid email address.") from None
    user = User.objects.filter(username=username).first()
    if user is not None:
        if (user.email or "").lower() != email.lower():
            raise Conflict("The username and email do not belong to the same user.", code="user_mismatch")
        if not user.is_active:
            raise PermissionDenied("This user account is disabled.")
        if user.is_staff or user.is_superuser:
            raise PermissionDenied("The user-token flow cannot act for staff accounts.")
        return user, False
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("The username and email do not belong to the same user.", code="user_mismatch")
    if not create_if_missing:
        raise NotFound("User not found (send create_if_missing: true to create them).")
    field = User._meta.get_field("username")
    try:
        field.run_validators(username)
        for validator in field.validators:
            validator(username)
    except DjangoValidationError as exc:
        raise ValidationError.for_field("username", " ".join(exc.messages)) from None
    if len(username) > field.max_length:
        raise ValidationError.for_field("username", f"at most {field.max_length} characters.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=None)
    except IntegrityError:
        raise Conflict("A user with this username was created at the same time; retry.") from None
    return user, True


def _issue_tokens(*, application, user, scopes: list[str]) -> dict:
    expires_in = oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    raw_access, raw_refresh = generate_token(), generate_token()
    access = AccessToken(user=user, application=application, expires=timezone.now() + timedelta(seconds=expires_in), scope=" ".join(scopes))
    set_token_value(access, raw_access)
    access.save()
    refresh = RefreshToken(user=user, application=application, access_token=access, token_family=uuid.uuid4())
    set_token_value(refresh, raw_refresh)
    refresh.save()
    return {
        "access_token": raw_access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": raw_refresh,
        "scope": " ".join(scopes),
    }


def user_token_issue(
    *,
    client_id: str,
    client_secret: str,
    username: str,
    email: str,
    create_if_missing: bool = False,
    scope: str | None = None,
) -> dict:
    """User-context token flow: a confidential client an admin allowed for it obtains an
    access + refresh token for a (found or created) non-staff user. The client's
    credentials are checked on every call. The refresh token works at ``/token`` like any
    other (rotation and reuse protection included)."""
    application = _authenticate_confidential_client(client_id, client_secret)
    policy = getattr(application, "picard_policy", None)
    if policy is None or not policy.allow_user_token_flow:
        raise PermissionDenied("This client is not allowed to use the user-token flow.", code="unauthorized_client")
    if not isinstance(create_if_missing, bool):
        raise ValidationError.for_field("create_if_missing", "must be true or false.")
    scopes = _clean_scope(scope)
    allowed = set(policy.allowed_scopes.split()) if policy.allowed_scopes else None
    if allowed is not None:
        if scope:
            refused = [s for s in scopes if s not in allowed]
            if refused:
                raise PermissionDenied(f"This client may not request the scope {refused[0]}.", code="invalid_scope")
        else:
            scopes = [s for s in scopes if s in allowed]
    with transaction.atomic():
        user, created = _find_or_create_user(username=username, email=email, create_if_missing=create_if_missing)
        tokens = _issue_tokens(application=application, user=user, scopes=scopes)
        activity_record(actor=user, action="oauth.user_token.issue", details={
            "client_id": application.client_id, "scope": tokens["scope"], "user_created": created,
        })
    return {**tokens, "user": {"id": str(user.id), "username": user.username, "email": user.email, "created": created}}


# --- connected apps ---------------------------------------------------------------------


def connected_app_list(*, user) -> list[dict]:
    """The apps holding live tokens for ``user`` (a selector; lives here beside its
    revoke service because both read DOT's token tables)."""
    now = timezone.now()
    apps: dict[int, dict] = {}
    access = AccessToken.objects.filter(user=user, expires__gt=now).select_related("application")
    refresh = RefreshToken.objects.filter(user=user, revoked__isnull=True).select_related("application")
    for token in list(access) + list(refresh):
        application = token.application
        if application is None:
            continue
        entry = apps.setdefault(application.pk, {
            "client_id": application.client_id,
            "name": application.name or application.client_id,
            "redirect_hosts": sorted({_host(u) for u in application.redirect_uris.split() if _host(u)}),
            "scopes": set(),
            "connected_at": token.created,
            "last_used_at": token.updated,
        })
        entry["scopes"].update(getattr(token, "scope", "").split())
        if token.created < entry["connected_at"]:
            entry["connected_at"] = token.created
        if token.updated > entry["last_used_at"]:
            entry["last_used_at"] = token.updated
    # "Last used" = the newest activity the app recorded for this user (every tool call
    # through /api/tools or /mcp writes one), else the newest token it was issued.
    used = dict(
        Activity.objects.filter(actor=user, client_id__in=[e["client_id"] for e in apps.values()])
        .values_list("client_id").annotate(last=Max("created_at"))
    )
    for entry in apps.values():
        entry["scopes"] = sorted(entry["scopes"])
        if used.get(entry["client_id"]) and used[entry["client_id"]] > entry["last_used_at"]:
            entry["last_used_at"] = used[entry["client_id"]]
    return sorted(apps.values(), key=lambda e: e["connected_at"], reverse=True)


def _host(uri: str) -> str:
    try:
        return urlsplit(uri).hostname or ""
    except ValueError:
        return ""


def connected_app_revoke(*, user, client_id: str) -> int:
    """Revoke every token ``user`` gave the app. NotFound if the app holds none."""
    with transaction.atomic():
        application = Application.objects.filter(client_id=client_id).first() if isinstance(client_id, str) else None
        if application is None:
            raise NotFound("No connected app with this client id.")
        revoked = _revoke_tokens(application=application, user=user)
        if revoked:
            activity_record(actor=user, action="oauth.app.revoke", details={"client_id": application.client_id, "tokens_revoked": revoked})
    if not revoked:
        raise NotFound("No connected app with this client id.")
    return revoked


# --- personal access tokens ------------------------------------------------------------

PERSONAL_TOKEN_PREFIX = "picard_pat_"  # recognisable in a leaked file or a secret scanner
PERSONAL_TOKEN_MAX_DAYS = 3650
PERSONAL_TOKEN_USE_RESOLUTION = timedelta(seconds=60)  # "last used" is written at most once a minute


@dataclass(frozen=True)
class CreatedPersonalToken:
    token: PersonalAccessToken
    raw: str  # the only time the token exists in clear; stored as its SHA-256 checksum


def personal_token_resources() -> list[str]:
    """The RFC 8707 resources a personal access token is bound to: this server's MCP endpoint
    (``/mcp`` accepts only tokens bound to it) and its REST API (DOT checks the request URL
    against the token's resources by prefix)."""
    return [settings.PICARD_MCP_RESOURCE, f"{settings.PICARD_PUBLIC_URL}/api"]


def personal_token_create(*, user, name: str, scopes: Sequence[str], expires_days: int) -> CreatedPersonalToken:
    """A named bearer token for ``user`` with ``scopes`` (``memories:admin`` only for staff),
    valid ``expires_days`` days. The raw token is returned here ONCE."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.for_field("name", "must not be empty.")
    name = name.strip()
    if len(name) > 100:
        raise ValidationError.for_field("name", "at most 100 characters.")
    if isinstance(scopes, str):
        scopes = scopes.split()
    scopes = list(dict.fromkeys(scopes or []))
    if not scopes:
        raise ValidationError.for_field("scopes", "choose at least one scope.")
    unknown = [s for s in scopes if s not in oauth2_settings.SCOPES]
    if unknown:
        raise ValidationError.for_field("scopes", f"unknown scope {unknown[0]!r} (use {', '.join(oauth2_settings.SCOPES)}).")
    if "memories:admin" in scopes and not user.is_staff:
        raise ValidationError.for_field("scopes", "memories:admin is only for administrators.")
    if isinstance(expires_days, bool) or not isinstance(expires_days, int) or not 1 <= expires_days <= PERSONAL_TOKEN_MAX_DAYS:
        raise ValidationError.for_field("expires_days", f"must be a whole number of days between 1 and {PERSONAL_TOKEN_MAX_DAYS}.")
    if not user.is_active:
        raise PermissionDenied("This user account is disabled.")
    raw = PERSONAL_TOKEN_PREFIX + generate_token()
    expires = timezone.now() + timedelta(days=expires_days)
    with transaction.atomic():
        access = AccessToken(user=user, application=None, expires=expires, scope=" ".join(scopes), resource=personal_token_resources())
        set_token_value(access, raw)
        access.save()
        token = PersonalAccessToken.objects.create(user=user, name=name, access_token=access, scope=access.scope, expires_at=expires)
        activity_record(actor=user, action="oauth.personal_token.create", details={"token_id": str(token.id), "name": name, "scope": access.scope})
    return CreatedPersonalToken(token=token, raw=raw)


def personal_token_list(*, user) -> list[PersonalAccessToken]:
    """``user``'s tokens that are not revoked (expired ones too, marked by ``expires_at``)."""
    return list(PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at"))


def personal_token_revoke(*, user, token_id) -> PersonalAccessToken:
    """Revoke one of ``user``'s tokens at once (its access token is deleted, as DOT revokes).
    Another person's token and a missing one give the same NotFound."""
    try:
        token_uuid = uuid.UUID(str(token_id))
    except ValueError:
        raise NotFound("No such token.") from None
    with transaction.atomic():
        token = PersonalAccessToken.objects.select_for_update().filter(id=token_uuid, user=user, revoked_at__isnull=True).first()
        if token is None:
            raise NotFound("No such token.")
        if token.access_token_id:
            AccessToken.objects.filter(pk=token.access_token_id).delete()
        token.revoked_at = timezone.now()
        token.access_token = None
        token.save(update_fields=["revoked_at", "access_token"])
        activity_record(actor=user, action="oauth.personal_token.revoke", details={"token_id": str(token.id), "name": token.name})
    return token


def personal_token_note_use(*, access_token) -> None:
    """Record that a personal access token was just used (at most once a minute per token).
    A no-op for OAuth tokens; called by both doors once the token verified."""
    token_id = getattr(access_token, "picard_pat_id", None)
    if token_id is None:
        return
    last = getattr(access_token, "picard_pat_last_used_at", None)
    now = timezone.now()
    if last is not None and now - last < PERSONAL_TOKEN_USE_RESOLUTION:
        return
    PersonalAccessToken.objects.filter(id=token_id).update(last_used_at=now)


def generate_initial_access_token() -> str:
    """A random value suitable for PICARD_DCR_INITIAL_ACCESS_TOKEN."""
    return secrets.token_urlsafe(32)


__all__ = [
    "RegisteredClient",
    "client_register",
    "client_disable",
    "client_enable",
    "client_set_user_token_flow",
    "user_token_issue",
    "connected_app_list",
    "connected_app_revoke",
    "generate_initial_access_token",
    "CreatedPersonalToken",
    "personal_token_create",
    "personal_token_list",
    "personal_token_revoke",
    "personal_token_note_use",
]
