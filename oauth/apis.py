"""JSON endpoints around the OAuth server: admin client registration and disabling, the
user-context token flow, and a person's connected apps. Errors use Picard's envelope."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from oauth2_provider.settings import oauth2_settings
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth import services
from picard.context import call_context
from picard.exceptions import PermissionDenied, ValidationError
from picard.scopes import require_scope, token_client_id, token_scopes

ADMIN_SCOPE = "memories:admin"


def _body(request: Request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", details={"field": "body"})
    return data


def _unknown_fields(data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(f"{unknown[0]}: unknown field.", details={"field": unknown[0]})


def require_admin(request: Request) -> None:
    """Staff only: a session of a staff user, or a token with memories:admin granted by one."""
    require_scope(request, ADMIN_SCOPE)
    if not getattr(request.user, "is_staff", False):
        raise PermissionDenied("Only administrators may do this.")


def _success(data, status: int = 200) -> Response:
    return Response({"status": "success", "data": data}, status=status)


def _client_dict(application, policy=None) -> dict:
    return {
        "client_id": application.client_id,
        "client_name": application.name,
        "client_type": application.client_type,
        "redirect_uris": application.redirect_uris.split(),
        "grant_types": ["authorization_code", "refresh_token"],
        "allowed_scopes": (policy.allowed_scopes.split() if policy and policy.allowed_scopes else []),
        "allow_user_token_flow": bool(policy and policy.allow_user_token_flow),
        "disabled": bool(policy and policy.disabled),
    }


_CLIENT_REQUEST = inline_serializer("ClientRegister", fields={
    "client_name": serializers.CharField(),
    "redirect_uris": serializers.ListField(child=serializers.URLField(), required=False),
    "client_type": serializers.ChoiceField(choices=["confidential", "public"], required=False),
    "scopes": serializers.ListField(child=serializers.CharField(), required=False, help_text="Scopes this client may request (default: all)."),
    "allow_user_token_flow": serializers.BooleanField(required=False),
})


class AdminClientRegisterApi(APIView):
    """``POST /api/admin/clients/register``: an administrator registers an OAuth client.
    The client secret is in this answer only; it is stored hashed."""

    @extend_schema(
        operation_id="admin_clients_register", tags=["oauth"], request=_CLIENT_REQUEST,
        responses={201: OpenApiResponse(description="client_id (UUID) and client_secret (shown once)"),
                   403: OpenApiResponse(description="Not an administrator / token lacks memories:admin")},
        examples=[OpenApiExample("register", request_only=True, value={
            "client_name": "My Django client", "redirect_uris": ["https://client.example.com/oauth/callback"],
            "scopes": ["memories:read", "memories:write"], "allow_user_token_flow": True})],
    )
    def post(self, request: Request) -> Response:
        require_admin(request)
        data = _body(request)
        _unknown_fields(data, {"client_name", "name", "redirect_uris", "client_type", "scopes", "allow_user_token_flow", "skip_authorization"})
        scopes = data.get("scopes") or []
        if isinstance(scopes, str):
            scopes = scopes.split()
        if not isinstance(scopes, list) or any(s not in oauth2_settings.SCOPES for s in scopes):
            raise ValidationError.for_field("scopes", f"must be a list of {', '.join(oauth2_settings.SCOPES)}.")
        for flag in ("allow_user_token_flow", "skip_authorization"):
            if flag in data and not isinstance(data[flag], bool):
                raise ValidationError.for_field(flag, "must be true or false.")
        with call_context(surface="api", client_id=token_client_id(request), scopes=token_scopes(request)):
            registered = services.client_register(
                name=data.get("client_name", data.get("name", "")),
                redirect_uris=data.get("redirect_uris") or [],
                client_type=data.get("client_type", "confidential"),
                allow_user_token_flow=data.get("allow_user_token_flow", False),
                skip_authorization=data.get("skip_authorization", False),
                allowed_scopes=scopes,
                owner=request.user,
            )
        application = registered.application
        body = _client_dict(application, application.picard_policy)
        body["client_secret"] = registered.client_secret
        body["client_secret_note"] = "Store this secret now: it is stored hashed and will not be shown again."
        return _success(body, status=201)


class AdminClientStateApi(APIView):
    """``POST /api/admin/clients/<client_id>/disable`` and ``.../enable``."""

    action = "disable"

    @extend_schema(operation_id=None, tags=["oauth"], request=None,
                   responses={200: OpenApiResponse(description="The new state; disabling revokes every token of the client.")})
    def post(self, request: Request, client_id: str) -> Response:
        require_admin(request)
        if self.action == "disable":
            revoked = services.client_disable(client_id=client_id, actor=request.user)
            return _success({"client_id": client_id, "disabled": True, "tokens_revoked": revoked})
        services.client_enable(client_id=client_id, actor=request.user)
        return _success({"client_id": client_id, "disabled": False})


class UserTokenApi(APIView):
    """``POST /api/user-tokens/user-token``: the user-context token flow for confidential
    clients an administrator allowed for it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="user_token_issue", tags=["oauth"], auth=[],
        request=inline_serializer("UserToken", fields={
            "client_id": serializers.CharField(), "client_secret": serializers.CharField(),
            "username": serializers.CharField(), "email": serializers.EmailField(),
            "create_if_missing": serializers.BooleanField(required=False, default=False),
            "scope": serializers.CharField(required=False, help_text="Space-separated; default 'memories:read memories:write'."),
        }),
        responses={
            200: inline_serializer("UserTokens", fields={
                "access_token": serializers.CharField(), "token_type": serializers.CharField(),
                "expires_in": serializers.IntegerField(), "refresh_token": serializers.CharField(),
                "scope": serializers.CharField(), "user": serializers.DictField(),
            }),
            401: OpenApiResponse(description="invalid_client: unknown, public or disabled client, or wrong secret"),
            403: OpenApiResponse(description="unauthorized_client: the client is not allowed this flow; or a staff account"),
            404: OpenApiResponse(description="No such user and create_if_missing is false"),
            409: OpenApiResponse(description="user_mismatch: username and email belong to different users"),
        },
        examples=[OpenApiExample("user-token", request_only=True, value={
            "client_id": "2f1c…", "client_secret": "…", "username": "ada", "email": "ada@example.com", "create_if_missing": True})],
    )
    def post(self, request: Request) -> Response:
        data = _body(request)
        _unknown_fields(data, {"client_id", "client_secret", "username", "email", "create_if_missing", "scope"})
        with call_context(surface="api", client_id=data.get("client_id") if isinstance(data.get("client_id"), str) else None):
            tokens = services.user_token_issue(
                client_id=data.get("client_id"), client_secret=data.get("client_secret"),
                username=data.get("username"), email=data.get("email"),
                create_if_missing=data.get("create_if_missing", False), scope=data.get("scope"),
            )
        response = _success(tokens)
        response["Cache-Control"] = "no-store"
        return response


def _connected_dict(entry: dict) -> dict:
    return {**entry, "connected_at": entry["connected_at"].isoformat().replace("+00:00", "Z"),
            "last_used_at": entry["last_used_at"].isoformat().replace("+00:00", "Z")}


class ConnectedAppsApi(APIView):
    """``GET /api/connected-apps``: the apps holding live tokens for me."""

    @extend_schema(operation_id="connected_apps_list", tags=["oauth"], responses={200: OpenApiResponse(description="data.apps[]")})
    def get(self, request: Request) -> Response:
        require_scope(request, "memories:read")
        return _success({"apps": [_connected_dict(e) for e in services.connected_app_list(user=request.user)]})


class ConnectedAppRevokeApi(APIView):
    """``DELETE /api/connected-apps/<client_id>``: revoke every token I gave that app."""

    @extend_schema(operation_id="connected_apps_revoke", tags=["oauth"], responses={200: OpenApiResponse(description="revoked")})
    def delete(self, request: Request, client_id: str) -> Response:
        require_scope(request, "memories:write")
        revoked = services.connected_app_revoke(user=request.user, client_id=client_id)
        return _success({"client_id": client_id, "revoked": True, "tokens_revoked": revoked})
