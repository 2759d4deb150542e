"""Django admin for accounts (the custom user model with a UUID id)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count

from picard.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "display_name", "is_active", "is_staff", "is_superuser", "memory_count", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "default_permission", "groups")
    search_fields = ("username", "email", "display_name", "id")
    readonly_fields = ("id", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "username", "password")}),
        ("Profile", {"fields": ("display_name", "email", "first_name", "last_name")}),
        ("Memory defaults", {"fields": ("default_permission", "default_expiry_days")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_memory_count=Count("memories", distinct=True))

    @admin.display(description="memories", ordering="_memory_count")
    def memory_count(self, obj) -> int:
        return obj._memory_count
