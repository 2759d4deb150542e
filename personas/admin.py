from django.contrib import admin

from personas.models import Persona


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    list_display = ("display_name", "owner", "enabled", "chat_model", "answer_length", "updated_at")
    list_filter = ("enabled", "answer_length")
    search_fields = ("display_name", "owner__username", "owner__email")
    raw_id_fields = ("owner",)
    readonly_fields = ("id", "created_at", "updated_at", "version")
