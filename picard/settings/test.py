"""Test settings: the same embedded PostgreSQL (pytest-django makes a throwaway database)."""

from .base import *  # noqa: F403
from .base import PICARD_EMBEDDINGS

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Fast, deterministic embedder for most tests; suites marked `real_embedder` switch to the
# real local model with the `real_embedder` fixture.
PICARD_EMBEDDINGS = {**PICARD_EMBEDDINGS, "provider": "hash", "dimensions": 256}
DEBUG = False
# Personas never call a real chat model in tests unless a test points them at its local fake.
PICARD_LLM = {**PICARD_LLM, "provider": "extractive", "base_url": "", "api_key": ""}  # noqa: F405
# Test servers start with a lifespan; only the tests about it resume imports at start-up.
PICARD_IMPORT_RESUME_ON_START = False
