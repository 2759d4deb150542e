"""Accounts: Django's user model with a UUID v4 id (the id every API uses)."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True)
    display_name = models.CharField(max_length=150, blank=True)
    # Defaults for new memories, chosen by the user in their settings.
    default_permission = models.CharField(max_length=16, default="private")
    default_expiry_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        db_table = "picard_user"

    def __str__(self) -> str:
        return self.username

    @property
    def public_name(self) -> str:
        return self.display_name or self.username


class RateLimitCounter(models.Model):
    """One fixed-window counter of ``picard.ratelimit`` (the table is UNLOGGED: disposable).

    ``key`` names the rule and whom it counts (an IP, or a SHA-256 prefix of a token —
    never the token itself); ``window_start``/``expires_at`` are Unix seconds."""

    key = models.CharField(max_length=200, primary_key=True)
    window_start = models.BigIntegerField()
    expires_at = models.BigIntegerField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "rate-limit counter"
        verbose_name_plural = "rate-limit counters"
        db_table = "picard_ratelimitcounter"
