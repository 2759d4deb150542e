"""Django admin for accounts (the custom user model with a UUID id)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count

from picard.models import User
from picard.services import user_deactivate


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

    actions = ["deactivate_users"]

    def save_model(self, request, obj, form, change):
        """Unticking "active" is a deactivation: every grant of the account is revoked."""
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(user=obj, actor=request.user)

    @admin.action(description="Deactivate selected users (and revoke their apps' tokens)")
    def deactivate_users(self, request, queryset):
        revoked = sum(user_deactivate(user=user, actor=request.user) for user in queryset)
        self.message_user(request, f"Deactivated {queryset.count()} users; {revoked} tokens revoked.")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_memory_count=Count("memories", distinct=True))

    @admin.display(description="memories", ordering="_memory_count")
    def memory_count(self, obj) -> int:
        return obj._memory_count
