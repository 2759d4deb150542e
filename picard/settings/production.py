"""Production overrides. Every secret comes from the environment; nothing is generated here.

Required: SECRET_KEY, PICARD_ENCRYPTION_KEYS, PICARD_TERM_HASH_KEY, DATABASE_URL,
PICARD_PUBLIC_URL, ALLOWED_HOSTS, and EMAIL_URL (or PICARD_ALLOW_CONSOLE_EMAIL=true) (see
.env.example and docs/deployment.md).
"""

import os

os.environ.setdefault("PICARD_PRODUCTION", "true")

from csp.constants import NONE, SELF  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from .base import *  # noqa: E402,F403
from .base import EMAIL_BACKEND, MIDDLEWARE, PICARD_PUBLIC_URL, env  # noqa: E402

DEBUG = False

# Hosts: from the environment, never a wildcard by default. PICARD_PUBLIC_URL's host is
# always allowed (the OAuth issuer and MCP resource live there).
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
_public_host = PICARD_PUBLIC_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
for _host in (_public_host, env.str("RENDER_EXTERNAL_HOSTNAME", default="")):  # Render sets the latter
    if _host and _host not in ALLOWED_HOSTS:
        ALLOWED_HOSTS.append(_host)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty: set it (comma-separated host names) or PICARD_PUBLIC_URL.")
# The container health check calls http://127.0.0.1:$PORT/healthz from inside.
ALLOWED_HOSTS += [h for h in env.list("PICARD_INTERNAL_HOSTS", default=["127.0.0.1", "localhost"]) if h not in ALLOWED_HOSTS]
# PICARD_PUBLIC_URL should be https:// (OAuth and MCP clients require it); see docs/deployment.md.

# E-mail: the console backend prints every password-reset link — an account-takeover
# token — into the server log, so production refuses it unless the operator opts in.
if EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend" and not env.bool("PICARD_ALLOW_CONSOLE_EMAIL", default=False):
    raise ImproperlyConfigured(
        "EMAIL_BACKEND is the console backend, which writes password-reset links (account-takeover tokens) "
        "into the server log: set EMAIL_URL (e.g. smtp+tls://user:password@host:587), or set "
        "PICARD_ALLOW_CONSOLE_EMAIL=true to accept that risk (e.g. a single-user server without mail)."
    )

# HTTPS behind a TLS-terminating proxy (nginx, Render, a load balancer) that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # container health checks speak plain HTTP
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the site's forms read it via the template tag, not JS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading is a commitment for the whole domain: the operator opts in (SECURE_HSTS_PRELOAD).
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, *([] if SECURE_HSTS_PRELOAD else ["security.W021"])]  # noqa: F405
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CORS_ALLOW_ALL_ORIGINS = env.bool("CORS_ALLOW_ALL_ORIGINS", default=False)

# Content-Security-Policy (django-csp). Scripts and styles come from our own origin only;
# inline style attributes are allowed (the templates use a few), inline scripts are not.
MIDDLEWARE = [*MIDDLEWARE]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    # The API explorer (/docs) loads Swagger UI's own assets; it is excluded from the policy.
    "EXCLUDE_URL_PREFIXES": tuple(env.list("CSP_EXCLUDE_URL_PREFIXES", default=["/docs", "/api/docs"])),
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        # No form-action: browsers apply it to the redirect after the OAuth consent form,
        # which goes to each client's own redirect URI (any origin).
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}

# Static files are served by the app itself (whitenoise, compressed; base settings), from
# STATIC_ROOT filled by `collectstatic` (the Dockerfile runs it at build time).
