from django.urls import path

from personas import views

app_name = "personas"

urlpatterns = [
    path("", views.persona_directory, name="directory"),
    path("me/", views.persona_edit, name="edit"),
    path("<uuid:user_id>/", views.persona_ask, name="ask"),
    path("<uuid:user_id>/ask/stream", views.persona_ask_stream, name="ask-stream"),
]
