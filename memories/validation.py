"""Domain validation shared by every service: limits and shapes of memory fields.

Each ``clean_*`` returns the cleaned value or raises ``ValidationError`` naming the field.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from memories.models import Permission
from picard.exceptions import PayloadTooLarge, ValidationError

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TAG = re.compile(r"^[\w][\w .:/+#&@-]*$", re.UNICODE)
MAX_METADATA_DEPTH = 8


def _has_bad_chars(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return True
    return False


def normalize_newlines(value: str) -> str:
    """``\r\n`` (what browsers send from a textarea) and lone ``\r`` become ``\n``, so the same
    text is stored the same way whichever door it came through."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def clean_text(value, *, field: str = "text") -> str:
    """A memory's text (or a question): a non-blank string, newlines normalised to ``\n``."""
    if not isinstance(value, str):
        raise ValidationError.for_field(field, "must be a string.")
    value = normalize_newlines(value)
    if _has_bad_chars(value):
        raise ValidationError.for_field(field, "contains characters that cannot be stored (NUL or invalid Unicode).")
    if not value.strip():
        raise ValidationError.for_field(field, "must not be empty.")
    limit = settings.PICARD_MEMORY_MAX_TEXT
    if len(value) > limit:
        raise PayloadTooLarge(f"{field}: at most {limit} characters (got {len(value)}).", details={"field": field, "limit": limit})
    return value


def clean_permission(value, *, field: str = "permission") -> str:
    if value not in Permission.values:
        raise ValidationError.for_field(field, f"must be one of {', '.join(Permission.values)}.")
    return value


def clean_tags(value, *, field: str = "tags") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValidationError.for_field(field, "must be a list of strings.")
    max_tags, max_len = settings.PICARD_MEMORY_MAX_TAGS, settings.PICARD_MEMORY_MAX_TAG_LENGTH
    if len(value) > max_tags:
        raise ValidationError(f"{field}: at most {max_tags} tags (got {len(value)}).", details={"field": field, "limit": max_tags})
    cleaned: list[str] = []
    for tag in value:
        if not isinstance(tag, str):
            raise ValidationError.for_field(field, "every tag must be a string.")
        tag = tag.strip().lower()
        if not tag or len(tag) > max_len or _has_bad_chars(tag) or not _TAG.match(tag):
            raise ValidationError.for_field(
                field, f"tag {tag[:40]!r} is invalid: 1–{max_len} characters, letters, digits, spaces and . : / + # & @ - _."
            )
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def _check_json(value, depth: int, field: str) -> None:
    """``depth`` counts containers: ``{"a": 1}`` is 1 level, ``{"a": [1]}`` is 2."""
    if isinstance(value, (dict, list)) and depth > MAX_METADATA_DEPTH:
        raise ValidationError.for_field(field, f"is nested deeper than {MAX_METADATA_DEPTH} levels.")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or _has_bad_chars(key):
                raise ValidationError.for_field(field, "keys must be valid strings without NUL characters.")
            _check_json(item, depth + 1, field)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1, field)
    elif isinstance(value, str):
        if _has_bad_chars(value):
            raise ValidationError.for_field(field, "strings must not contain NUL characters or invalid Unicode.")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError.for_field(field, "numbers must be finite.")
    elif value is not None and not isinstance(value, (bool, int)):
        raise ValidationError.for_field(field, "must be JSON.")


def clean_metadata(value, *, field: str = "metadata") -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError.for_field(field, "must be a JSON object.")
    _check_json(value, 1, field)
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    limit = settings.PICARD_MEMORY_MAX_METADATA_BYTES
    if size > limit:
        raise PayloadTooLarge(f"{field}: at most {limit} bytes of JSON (got {size}).", details={"field": field, "limit": limit})
    return value


def parse_iso_datetime(value, *, field: str) -> datetime | None:
    """ISO 8601 → aware UTC datetime. ``None``/"" → None. Naive times are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip().replace("z", "Z"))
        except (ValueError, OverflowError):
            parsed = None
        if parsed is None:
            raise ValidationError.for_field(field, "must be an ISO 8601 date-time such as 2025-12-31T23:59:59Z.")
    else:
        raise ValidationError.for_field(field, "must be an ISO 8601 date-time string.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError.for_field(field, "is out of range.") from None


def clean_expires_at(value, *, field: str = "expiration_date") -> datetime | None:
    parsed = parse_iso_datetime(value, field=field)
    if parsed is None:
        return None
    if parsed <= timezone.now():
        raise ValidationError.for_field(field, "must be in the future.")
    if parsed.year > 9000:
        raise ValidationError.for_field(field, "is too far in the future.")
    return parsed


def clean_uuid(value, *, field: str) -> uuid.UUID:
    """Accepts the canonical form (any case); refuses braces, URNs and other spellings."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        # Strict on purpose: uuid.UUID() would also take braces, URNs, missing hyphens and
        # even surrounding whitespace, and map some of those onto *another* id.
        raise ValidationError.for_field(field, "must be a UUID such as 550e8400-e29b-41d4-a716-446655440000.")
    return uuid.UUID(value)
