"""The one error translator (``picard.errors``): every door renders the same status, code,
message and headers for an exception; ``Retry-After`` only on 429 and 503."""

from __future__ import annotations

import pytest
from django.db import DataError, OperationalError
from rest_framework import exceptions as drf_exceptions

from personas.llm import LLMUnavailable
from picard.errors import form_message, translate
from picard.exceptions import NotFound, RateLimited, ValidationError


@pytest.mark.parametrize(("exc", "status", "code", "retry"), [
    (OperationalError("server closed the connection"), 503, "database_unavailable", "5"),
    (RateLimited(retry_after=42), 429, "rate_limited", "42"),
    (LLMUnavailable("the chat model is down"), 503, LLMUnavailable.code, "5"),
    (DataError("integer out of range"), 400, "invalid", None),
    (ValidationError.for_field("text", "is required."), 400, "invalid", None),
    (NotFound(), 404, "not_found", None),
    (drf_exceptions.ParseError("bad"), 400, "malformed_json", None),
])
def test_every_exception_has_one_translation_and_retry_after_only_on_429_and_503(exc, status, code, retry):
    translation = translate(exc)
    assert (translation.status, translation.code) == (status, code)
    assert translation.headers.get("Retry-After") == retry


def test_a_bug_becomes_a_generic_500_naming_a_reference(caplog):
    translation = translate(RuntimeError("secret internals"), where="GET /x")
    assert translation.status == 500 and translation.code == "server_error"
    assert "secret internals" not in translation.message
    assert translation.details["reference"] in translation.message
    assert translation.details["reference"] in caplog.text


def test_forms_show_the_message_without_the_field_prefix():
    assert form_message(ValidationError.for_field("tags", "at most 20 tags.")) == "At most 20 tags."
