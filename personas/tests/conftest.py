from __future__ import annotations

import pytest
from django.core.cache import caches

from picard.testing.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True)
def _clear_answer_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture(autouse=True)
def every_candidate_counts(request, settings):
    """Most persona tests check the answer plumbing (prompts, the model's protocol, errors,
    citations, the cache) with the lexical test embedder, whose cosines the search
    calibration (fitted for the real local model) does not describe: for them every search
    candidate counts. Tests marked ``search_threshold`` keep the default threshold (they
    check that a persona uses only memories above it)."""
    if "search_threshold" not in request.keywords:
        settings.PICARD_SEARCH_MIN_SCORE = 0.0


@pytest.fixture
def extractive(settings):
    """No chat model configured: the offline default."""
    settings.PICARD_LLM = {**settings.PICARD_LLM, "provider": "", "base_url": "", "api_key": ""}
    return settings.PICARD_LLM


@pytest.fixture
def fake_openai():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def llm(settings, fake_openai):
    """The persona chat model pointed at the local fake OpenAI server (real openai client)."""
    settings.PICARD_LLM = {
        **settings.PICARD_LLM,
        "provider": "openai", "base_url": fake_openai.base_url, "api_key": "sk-test", "model": "test-model",
        "allowed_models": ["other-model"], "timeout": 1.0, "connect_timeout": 1.0, "max_retries": 0, "stream": True,
    }
    return fake_openai
