"""Django admin for memories and the activity log.

Memory text is encrypted at rest and stays out of the admin, with one exception: a
*superuser* opening one memory's change page sees its decrypted text, and that view is
itself written to the activity log (``admin.memory.view``). Lists, search and filters never
show or search text. Memories are read-only here (changes go through the site/APIs, which
validate, re-embed and log); deleting one (e.g. abuse) is allowed and logged.
"""

from __future__ import annotations

from django.contrib import admin

from memories.activity import activity_record
from memories.models import Activity, EmbeddingState, Memory, MemoryShare
from picard.context import call_context


class MemoryShareInline(admin.TabularInline):
    model = MemoryShare
    extra = 0
    fields = ("user", "group")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "permission", "tag_list", "created_at", "updated_at", "expires_at", "embedding_model")
    list_filter = ("permission", "embedding_model", "created_at")
    search_fields = ("=id", "owner__username", "owner__email", "=owner__id")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    inlines = [MemoryShareInline]
    ordering = ("-created_at",)
    base_fields = ("id", "owner", "permission", "tags", "metadata", "expires_at", "created_at", "updated_at", "version", "embedding_model", "embedding_next_model")

    @admin.display(description="tags")
    def tag_list(self, obj) -> str:
        return ", ".join(obj.tags)

    @admin.display(description="text (decrypted)")
    def decrypted_text(self, obj) -> str:
        return obj.text

    def _shows_text(self, request, obj) -> bool:
        return obj is not None and request.user.is_superuser

    def get_fields(self, request, obj=None):
        return (("decrypted_text",) if self._shows_text(request, obj) else ()) + self.base_fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # view and delete only

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.user.is_superuser and request.method == "GET":
            memory = self.get_object(request, object_id)
            if memory is not None:
                with call_context(surface="web"):
                    activity_record(actor=request.user, action="admin.memory.view", memory_ids=[memory.id], details={"owner": str(memory.owner_id)})
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_model(self, request, obj) -> None:
        memory_id = obj.id
        super().delete_model(request, obj)
        with call_context(surface="web"):
            activity_record(actor=request.user, action="admin.memory.delete", memory_ids=[memory_id])

    def delete_queryset(self, request, queryset) -> None:
        ids = list(queryset.values_list("id", flat=True))
        super().delete_queryset(request, queryset)
        with call_context(surface="web"):
            activity_record(actor=request.user, action="admin.memory.delete", memory_ids=ids)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "surface", "client_id", "memory_count", "request_id")
    list_filter = ("action", "surface", "created_at")
    search_fields = ("=actor__username", "=client_id", "=request_id")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    readonly_fields = ("id", "created_at", "actor", "action", "surface", "client_id", "memory_ids", "details", "request_id")
    ordering = ("-created_at",)

    @admin.display(description="memories")
    def memory_count(self, obj) -> int:
        return len(obj.memory_ids)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EmbeddingState)
class EmbeddingStateAdmin(admin.ModelAdmin):
    list_display = ("active_model", "target_model", "started_at", "switched_at")
    readonly_fields = ("active_model", "active_config", "target_model", "target_config", "started_at", "switched_at", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
