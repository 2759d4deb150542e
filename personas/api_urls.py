from django.urls import path

from personas import apis

urlpatterns = [
    path("", apis.persona_list, name="api-personas"),
    path("me", apis.persona_me, name="api-persona-me"),
    path("<uuid:user_id>", apis.persona_detail, name="api-persona-detail"),
    path("<uuid:user_id>/ask", apis.persona_ask, name="api-persona-ask"),
]
