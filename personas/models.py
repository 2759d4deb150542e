"""Personas: a user's public face for questions, answered from that user's memories.

One persona per user for now (a unique constraint on ``owner``); the foreign key (not a
one-to-one) leaves room for several personas per user later without a data migration.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class AnswerLength(models.TextChoices):
    SHORT = "short", "Short (a few sentences)"
    MEDIUM = "medium", "Medium (a paragraph)"
    LONG = "long", "Long (several paragraphs)"


class Persona(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personas")
    display_name = models.CharField(max_length=100)
    bio = models.CharField(max_length=500, blank=True)
    # Tone, style, what to decline. Written by the owner; goes into the system prompt.
    instructions = models.TextField(max_length=4000, blank=True)
    # "" = the server's default chat model; otherwise one of PICARD_LLM["allowed_models"].
    chat_model = models.CharField(max_length=200, blank=True)
    temperature = models.FloatField(default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_memories = models.PositiveSmallIntegerField(default=8, validators=[MinValueValidator(1), MaxValueValidator(50)])
    answer_length = models.CharField(max_length=16, choices=AnswerLength.choices, default=AnswerLength.MEDIUM)
    enabled = models.BooleanField(default=True)
    # Shown in the persona directory (and suggested to others in the share picker): opt-in.
    listed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # Bumped on every change: part of the answer-cache key, so edited instructions never
    # serve an answer written under the old ones.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = "persona"
        verbose_name_plural = "personas"
        constraints = [models.UniqueConstraint(fields=["owner"], name="persona_one_per_owner")]
        indexes = [models.Index(fields=["enabled", "display_name"], name="persona_enabled_name")]

    def __str__(self) -> str:
        return f"Persona {self.display_name} ({self.owner_id})"
