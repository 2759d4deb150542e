"""Input checks the edge applies to a request before any app code runs. Each raises a
``DomainError`` (rendered by the door through ``picard.errors``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings

from picard.errors import short, too_large_message
from picard.exceptions import DomainError, PayloadTooLarge, ValidationError

JSON_MAX_DEPTH = 64


class UnsupportedMediaType(DomainError):
    code, http_status = "unsupported_media_type", 415


class MalformedJson(ValidationError):
    """The body is not JSON at all (the MCP door answers JSON-RPC ``-32700``)."""

    code = "malformed_json"


def refuse(code: str, message: str) -> ValidationError:
    return ValidationError(message, code=code)


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def body_limit(media: str) -> int:
    return settings.PICARD_MAX_UPLOAD_BYTES if media == "multipart/form-data" else settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(too_large_message(limit), details={"limit": limit})


def check_url(*, path: str, raw_path: bytes, query: bytes) -> None:
    if "\x00" in path or b"%00" in raw_path.lower() or b"%00" in query or b"\x00" in query:
        raise refuse("invalid_characters", "The URL contains NUL characters.")


def check_declared_length(length_header: str, limit: int) -> int | None:
    """The declared Content-Length (``None`` when absent); refuses one over ``limit``."""
    if not length_header:
        return None
    try:
        declared = int(length_header)
    except ValueError:
        raise refuse("bad_request", "Content-Length is not a number.") from None
    if declared > limit:
        raise too_large(limit)
    return declared


def check_api_media_type(*, method: str, path: str, media: str, has_body: bool) -> None:
    if method in ("POST", "PUT", "PATCH") and has_body and path.startswith("/api/") and media and not (
        is_json(media) or media in ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        raise UnsupportedMediaType(f"Content type {media!r} is not supported here; send application/json.")


def check_json_value(value: Any, *, max_depth: int = JSON_MAX_DEPTH) -> None:
    """Refuse NUL characters and lone surrogates anywhere (keys too) and nesting deeper than
    ``max_depth``. Iterative, so hostile input cannot exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise refuse("too_deeply_nested", f"The JSON body is nested deeper than {max_depth} levels.")
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict):
            for key, sub in item.items():
                _check_string(key)
                stack.append((sub, depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, depth + 1) for sub in item)


def _check_string(value: str) -> None:
    if "\x00" in value:
        raise refuse("invalid_characters", "The request contains NUL characters (\\u0000), which cannot be stored.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("invalid_characters", "The request contains lone UTF-16 surrogates, which are not valid Unicode.") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_body(body: bytes) -> Any:
    """The body's JSON value, checked (strict UTF-8, no BOM, no NaN/Infinity, see above)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJson("The request body is not valid UTF-8.", code="invalid_encoding") from None
    if text.startswith("\ufeff"):
        raise MalformedJson("The request body starts with a byte-order mark; send plain UTF-8 JSON.", code="invalid_encoding")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise refuse("too_deeply_nested", f"The JSON body is nested deeper than {JSON_MAX_DEPTH} levels.") from None
    except ValueError as exc:
        raise MalformedJson(f"The request body is not valid JSON ({short(exc)}).") from None
    check_json_value(value)
    return value


def check_form_body(body: bytes) -> None:
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return  # Django reports malformed forms itself
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise refuse("invalid_characters", "The form contains NUL characters, which cannot be stored.")
