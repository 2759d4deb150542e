"""Rate limits and the login back-off, counted in PostgreSQL.

Why PostgreSQL and not DRF throttles or django-axes: production runs several uvicorn
workers (``docs/security.md``); DRF throttles count in the Django cache, which is
per-process unless a shared cache (Redis/Memcached) is deployed — Picard deliberately
needs nothing but PostgreSQL. django-axes covers only the login form, not ``/token``,
``/api/tools`` or ``/mcp``. So every limit here is one fixed-window counter row in an
UNLOGGED table (no WAL; counters are disposable), bumped with a single
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` — atomic across workers, one round trip.

Rules live in ``settings.PICARD_RATE_LIMITS``: ``{name: {"path": regex, "methods": [...],
"rate": "N/SECONDS", "key": "ip" | "token"}}``. ``key="token"`` counts per bearer token
(stored only as a SHA-256 prefix, never the token), falling back to the client IP.
The login back-off (``settings.PICARD_LOGIN_BACKOFF``) counts *failed* logins per
(username, IP) and per IP, and refuses further attempts with 429 until the window ends.
Password-reset requests are also counted per e-mail address (a SHA-256 prefix), from any IP.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import connection
from django.dispatch import receiver

from picard.exceptions import RateLimited

TABLE = "picard_ratelimitcounter"


@dataclass(frozen=True)
class Rule:
    name: str
    path: re.Pattern
    methods: frozenset[str]
    limit: int
    window: int
    key: str  # "ip" | "token"


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, seconds = rate.partition("/")
    return int(count), int(seconds or 60)


_parsed: tuple[object, tuple[Rule, ...]] | None = None


def _parse_rules(config: dict) -> tuple[Rule, ...]:
    rules = []
    for name, spec in config.items():
        limit, window = parse_rate(spec["rate"])
        rules.append(Rule(
            name=name, path=re.compile(spec["path"]), methods=frozenset(m.upper() for m in spec.get("methods", ["POST"])),
            limit=limit, window=window, key=spec.get("key", "ip"),
        ))
    return tuple(rules)


def rules() -> tuple[Rule, ...]:
    """The parsed rules, re-parsed whenever the settings object is replaced (tests)."""
    global _parsed
    config = settings.PICARD_RATE_LIMITS
    if _parsed is None or _parsed[0] is not config:
        _parsed = (config, _parse_rules(config))
    return _parsed[1]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def hit(key: str, *, limit: int, window: int, now: float | None = None) -> int:
    """Count one event for ``key`` in the current window; raise RateLimited past ``limit``."""
    now = time.time() if now is None else now
    start = int(now // window) * window
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TABLE} (key, window_start, expires_at, count) VALUES (%s, %s, %s, 1)
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN {TABLE}.window_start = EXCLUDED.window_start THEN {TABLE}.count + 1 ELSE 1 END,
                window_start = EXCLUDED.window_start,
                expires_at = EXCLUDED.expires_at
            RETURNING count
            """,
            [key, start, start + window],
        )
        count = cursor.fetchone()[0]
        if random.random() < 0.002:  # keep the table small: drop long-finished windows
            cursor.execute(f"DELETE FROM {TABLE} WHERE expires_at < %s", [int(now) - 3600])
    if count > limit:
        raise RateLimited(
            f"Too many requests; at most {limit} per {window} seconds. Retry after the time in Retry-After.",
            retry_after=max(1, start + window - int(now)),
            details={"limit": limit, "window_seconds": window},
        )
    return count


def peek(key: str, *, window: int, now: float | None = None) -> tuple[int, int]:
    """(count in the current window, seconds until it ends) without counting."""
    now = time.time() if now is None else now
    start = int(now // window) * window
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count, window_start FROM {TABLE} WHERE key = %s", [key])
        row = cursor.fetchone()
    if row is None or row[1] != start:
        return 0, 0
    return row[0], max(1, start + window - int(now))


def reset(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE key = %s", [key])


# --- keys -----------------------------------------------------------------------------------


def bearer_token(authorization: str) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def request_key(rule: Rule, *, ip: str, authorization: str) -> str:
    if rule.key == "token":
        token = bearer_token(authorization)
        if token:
            return f"{rule.name}:t:{_digest(token)}"
    return f"{rule.name}:ip:{ip}"


def check(*, method: str, path: str, ip: str, authorization: str = "") -> None:
    """Count this request against every matching rule (raises RateLimited)."""
    for rule in rules():
        if method in rule.methods and rule.path.match(path):
            hit(request_key(rule, ip=ip, authorization=authorization), limit=rule.limit, window=rule.window)


def client_ip(request) -> str:
    # Behind a proxy, run uvicorn with --proxy-headers --forwarded-allow-ips=<proxy> so that
    # REMOTE_ADDR is the real client (see docs/security.md); X-Forwarded-For is never trusted here.
    return request.META.get("REMOTE_ADDR") or "unknown"


# --- login back-off --------------------------------------------------------------------------


def _login_keys(username: str, ip: str) -> tuple[str, str]:
    return f"loginfail:u:{_digest(username.strip().lower() + '|' + ip)}", f"loginfail:ip:{ip}"


def login_allowed(*, username: str, ip: str) -> None:
    """Raise RateLimited while (username, IP) or the IP is in back-off after failed logins."""
    cfg = settings.PICARD_LOGIN_BACKOFF
    pair_key, ip_key = _login_keys(username, ip)
    for key, limit in ((pair_key, cfg["failures_per_user"]), (ip_key, cfg["failures_per_ip"])):
        count, retry = peek(key, window=cfg["window"])
        if count >= limit:
            raise RateLimited(
                f"Too many failed sign-in attempts. Wait {retry} seconds before trying again.",
                retry_after=retry, details={"reason": "login_backoff"},
            )


@receiver(user_login_failed, dispatch_uid="picard.ratelimit.login_failed")
def _count_login_failure(sender, credentials=None, request=None, **kwargs):
    cfg = settings.PICARD_LOGIN_BACKOFF
    username = str((credentials or {}).get("username") or "")
    ip = client_ip(request) if request is not None else "unknown"
    for key in _login_keys(username, ip):
        try:
            hit(key, limit=10**9, window=cfg["window"])
        except Exception:  # noqa: BLE001 - never turn a wrong password into a 500
            pass


@receiver(user_logged_in, dispatch_uid="picard.ratelimit.logged_in")
def _clear_login_failures(sender, request=None, user=None, **kwargs):
    if request is None or user is None:
        return
    reset(_login_keys(user.get_username(), client_ip(request))[0])


# --- password-reset e-mails per address -----------------------------------------------------------


def password_reset_address_hit(*, email: str) -> None:
    """Count one reset request for ``email`` (any IP); RateLimited past
    ``settings.PICARD_RATE_PASSWORD_RESET_ADDRESS``. Counted whether or not an account has
    that address, so the answer says nothing about which addresses exist."""
    limit, window = parse_rate(settings.PICARD_RATE_PASSWORD_RESET_ADDRESS)
    hit(f"pwreset:addr:{_digest(email.strip().lower())}", limit=limit, window=window)


def check_request(request) -> None:
    """The Django middleware's entry point: rules for this path, then the login back-off
    and the per-address password-reset limit."""
    ip = client_ip(request)
    check(method=request.method, path=request.path, ip=ip, authorization=request.headers.get("Authorization", ""))
    if request.method == "POST" and re.match(settings.PICARD_LOGIN_PATHS, request.path):
        login_allowed(username=str(request.POST.get("username", "")), ip=ip)
    if request.method == "POST" and re.match(settings.PICARD_PASSWORD_RESET_PATHS, request.path):
        password_reset_address_hit(email=str(request.POST.get("email", "")))
