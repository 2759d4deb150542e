"""OAuth URLs.

``protocol_urlpatterns`` are mounted at the site root under the ``oauth2_provider``
namespace, because django-oauth-toolkit's metadata view reverses its endpoints by those
names: ``/authorize``, ``/token``, ``/revoke`` (RFC 7009), ``/introspect`` (RFC 7662, Picard's own rule: ``oauth.introspection``),
``/oauth/register`` (RFC 7591/7592) and ``/.well-known/oauth-authorization-server``
(RFC 8414). ``urlpatterns`` (namespace ``oauth``) are Picard's own pages and JSON APIs.
"""

from django.urls import path
from oauth2_provider import views as dot_views

from oauth import apis, introspection, views

protocol_urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("settings/tokens/", views.personal_tokens, name="personal_tokens"),
    path("settings/tokens/<str:token_id>/revoke", views.personal_token_revoke, name="personal_token_revoke"),
    path(".well-known/oauth-authorization-server", introspection.ServerMetadataView.as_view(), name="oauth-server-metadata"),
    path("authorize", views.AuthorizationView.as_view(), name="authorize"),
    path("token", views.TokenView.as_view(), name="token"),
    path("revoke", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect", introspection.IntrospectTokenView.as_view(), name="introspect"),
    path("oauth/register", views.DynamicClientRegistrationView.as_view(), name="dcr-register"),
    path(
        "oauth/register/<str:client_id>",
        views.DynamicClientRegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
]

app_name = "oauth"
urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("settings/tokens/", views.personal_tokens, name="personal_tokens"),
    path("settings/tokens/<str:token_id>/revoke", views.personal_token_revoke, name="personal_token_revoke"),
    path("connected-apps", views.connected_apps, name="connected_apps"),
    path("connected-apps/<str:client_id>/revoke", views.connected_app_revoke, name="connected_app_revoke"),
    path("api/connected-apps", apis.ConnectedAppsApi.as_view(), name="api-connected-apps"),
    path("api/connected-apps/<str:client_id>", apis.ConnectedAppRevokeApi.as_view(), name="api-connected-app-revoke"),
    path("api/admin/clients/register", apis.AdminClientRegisterApi.as_view(), name="api-admin-client-register"),
    path("api/admin/clients/<str:client_id>/disable", apis.AdminClientStateApi.as_view(action="disable"), name="api-admin-client-disable"),
    path("api/admin/clients/<str:client_id>/enable", apis.AdminClientStateApi.as_view(action="enable"), name="api-admin-client-enable"),
    path("api/user-tokens/user-token", apis.UserTokenApi.as_view(), name="api-user-token"),
]
