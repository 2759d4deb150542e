"""Top-level URLs. Each app owns its own urls module; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from oauth.urls import protocol_urlpatterns
from picard import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("picard.account_urls")),
    path("", include("memories.urls")),
    path("personas/", include("personas.urls")),
    path("api/personas/", include("personas.api_urls")),
    # OAuth 2.x authorization server (django-oauth-toolkit) at the site root.
    path("", include((protocol_urlpatterns, "oauth2_provider"), namespace="oauth2_provider")),
    path("", include("oauth.urls")),
    path("", include("mcp_bridge.urls")),
    # OpenAPI document and Swagger UI (assets served locally by drf-spectacular-sidecar).
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="swagger-ui"),
]
