"""Top-level URLs. Each app owns its own urls module; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path

from picard import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("picard.account_urls")),
    path("", include("memories.urls")),
    path("personas/", include("personas.urls")),
    path("api/personas/", include("personas.api_urls")),
]
