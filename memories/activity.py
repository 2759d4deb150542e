"""The activity log: the writer, the selectors that read it, and retention.

Every create/update/delete/permission change/search/persona query calls
``activity_record``. It reads the surface (web, api, mcp, command) and the OAuth client
from ``picard.context`` and never stores memory text: ``memory_ids`` are UUIDs and
``details`` holds counts, scores, timings and token usage only.

Writes are recorded in the caller's transaction (durable with the change they describe).
Reads (``READ_ACTIONS``: searches) do not pay for a durable write of their own: with
``PICARD_ACTIVITY_BUFFER`` on (the default), their rows go into ``read_buffer``, a bounded
queue that a background thread writes in batches — every second, or at once when
``ActivityBuffer.batch_size`` rows wait — and that is flushed at shutdown. A crash (kill -9,
power loss) may lose the last second of read activity; nothing else.

Readers:
- ``activity_timeline`` — one user's own actions, newest first, with a cursor (the
  user's activity page);
- ``activity_daily_counts`` / ``activity_top_clients`` / ``activity_totals`` — the
  admin aggregates (counts only, never who searched for what);
- ``activity_purge`` — deletes entries older than ``PICARD_ACTIVITY_RETENTION_DAYS``.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from oauth2_provider.models import get_application_model

from memories.models import Activity
from oauth.models import PERSONAL_TOKEN_CLIENT_PREFIX, PersonalAccessToken
from picard import context
from picard.exceptions import ValidationError

SURFACES = ("web", "api", "mcp", "command", "internal")
TIMELINE_DEFAULT_LIMIT = 50
TIMELINE_MAX_LIMIT = 200
AGGREGATE_MAX_DAYS = 366


logger = logging.getLogger(__name__)

# Actions that only read: buffered (see the module docstring).
READ_ACTIONS = frozenset({"memory.search"})


class ActivityBuffer:
    """Read-activity rows waiting to be written: at most ``max_rows`` (a caller that finds
    it full writes the batch itself — back-pressure, never loss), written by one daemon
    thread every ``interval`` seconds or as soon as ``batch_size`` rows wait."""

    def __init__(self, *, max_rows: int = 5000, batch_size: int = 200, interval: float = 1.0):
        self.max_rows, self.batch_size, self.interval = max_rows, batch_size, interval
        self._rows: list[Activity] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, row: Activity) -> None:
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= self.max_rows
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="picard-activity-writer", daemon=True)
                self._thread.start()
        if full:
            self.flush()
        elif len(self._rows) >= self.batch_size:
            self._wake.set()

    def flush(self) -> int:
        """Write every waiting row now (one INSERT per batch); returns how many."""
        with self._lock:
            rows, self._rows = self._rows, []
        for start in range(0, len(rows), self.batch_size):
            Activity.objects.bulk_create(rows[start : start + self.batch_size])
        return len(rows)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._rows:
                continue
            try:
                close_old_connections()
                self.flush()
            except Exception:  # noqa: BLE001 - the database being away must not kill the writer
                logger.warning("could not write %d buffered activity rows; dropped", len(self._rows), exc_info=True)
            finally:
                close_old_connections()


read_buffer = ActivityBuffer()


def activity_flush() -> int:
    """Write the buffered read activity now (at shutdown; tests)."""
    return read_buffer.flush()


@atexit.register
def _flush_at_exit() -> None:
    if len(read_buffer):
        try:
            read_buffer.flush()
        except Exception:  # noqa: BLE001 - at exit, a lost second of read activity is acceptable
            logger.warning("buffered activity rows lost at exit", exc_info=True)


# Inside ``activity_collected``: the per-row entries that would have been written, as
# memory ids, so that an import or a bulk action is logged as ONE entry by its caller.
_collecting: ContextVar[list | None] = ContextVar("picard_activity_collecting", default=None)


@contextlib.contextmanager
def activity_collected() -> Iterator[list]:
    """Within the block, ``activity_record`` writes nothing and appends the memory ids it
    was given to the yielded list; the caller records one summary entry (an import, a bulk
    action) instead of one entry per row."""
    collected: list = []
    token = _collecting.set(collected)
    try:
        yield collected
    finally:
        _collecting.reset(token)


def activity_record(*, actor, action: str, memory_ids: Iterable = (), details: dict | None = None) -> Activity | None:
    collecting = _collecting.get()
    if collecting is not None:
        collecting.extend(memory_ids)
        return None
    ctx = context.current()
    row = Activity(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        surface=ctx.surface,
        client_id=ctx.client_id,
        memory_ids=[m for m in memory_ids][:1000],
        details=details or {},
        request_id=ctx.request_id,
    )
    if action in READ_ACTIONS and settings.PICARD_ACTIVITY_BUFFER:
        read_buffer.add(row)
    else:
        row.save(force_insert=True)
    return row


# --- a user's timeline ----------------------------------------------------------------------


@dataclass
class TimelinePage:
    items: list[Activity]
    next_cursor: str | None
    limit: int


def _encode_cursor(entry: Activity) -> str:
    raw = json.dumps({"t": entry.created_at.isoformat(), "id": str(entry.id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        data = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        return datetime.fromisoformat(data["t"]), uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError.for_field("cursor", "is not a cursor returned by this timeline.") from None


def _clean_limit(value, *, default: int, maximum: int, field: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValidationError.for_field(field, f"must be an integer between 1 and {maximum}.")
    return value


def activity_timeline(
    *,
    user,
    limit: int | None = None,
    cursor: str | None = None,
    action: str | None = None,
    surface: str | None = None,
    client_id: str | None = None,
    since: datetime | None = None,
) -> TimelinePage:
    """The actions ``user`` took (through any surface/client), newest first, keyset-paginated.

    ``action`` filters by exact action (``memory.search``) or by prefix ending in a dot
    (``memory.``). Only the user's own entries are ever returned.
    """
    limit = _clean_limit(limit, default=TIMELINE_DEFAULT_LIMIT, maximum=TIMELINE_MAX_LIMIT, field="limit")
    if surface is not None and surface not in SURFACES:
        raise ValidationError.for_field("surface", f"must be one of {', '.join(SURFACES)}.")
    qs = Activity.objects.filter(actor=user)
    if action:
        qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
    if surface:
        qs = qs.filter(surface=surface)
    if client_id:
        qs = qs.filter(client_id=client_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    if cursor:
        at, last_id = _decode_cursor(cursor)
        qs = qs.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=last_id))
    rows = list(qs.order_by("-created_at", "-id")[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1])
    return TimelinePage(items=rows, next_cursor=next_cursor, limit=limit)


def activity_client_names(*, client_ids: Iterable[str]) -> dict[str, str]:
    """OAuth client id → application name, and ``pat:<id>`` → "personal access token “name”"
    (revoked tokens too), for display (unknown/deleted ids are left out)."""
    ids = {c for c in client_ids if c}
    if not ids:
        return {}
    names = dict(get_application_model().objects.filter(client_id__in=ids).values_list("client_id", "name"))
    token_ids = []
    for client_id in ids:
        if client_id.startswith(PERSONAL_TOKEN_CLIENT_PREFIX):
            try:
                token_ids.append(uuid.UUID(client_id[len(PERSONAL_TOKEN_CLIENT_PREFIX):]))
            except ValueError:
                continue
    for token_id, name in PersonalAccessToken.objects.filter(id__in=token_ids).values_list("id", "name"):
        names[f"{PERSONAL_TOKEN_CLIENT_PREFIX}{token_id}"] = f"personal access token “{name}”"
    return names


# --- admin aggregates -------------------------------------------------------------------------


def _window(days: int) -> datetime:
    days = _clean_limit(days, default=30, maximum=AGGREGATE_MAX_DAYS, field="days")
    today = timezone.now().astimezone(timezone.get_current_timezone()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def activity_daily_counts(*, days: int = 30, user=None, by: str | None = None) -> list[dict]:
    """Entries per day for the last ``days`` days (today included), oldest first; days with
    no activity are present with ``count`` 0. ``by="action"`` or ``by="surface"`` adds a
    per-day breakdown ``{"count": n, "by": {"memory.search": 3, ...}}``. ``user`` limits it
    to one actor (a user's own chart)."""
    if by not in (None, "action", "surface"):
        raise ValidationError.for_field("by", "must be 'action' or 'surface'.")
    start = _window(days)
    qs = Activity.objects.filter(created_at__gte=start)
    if user is not None:
        qs = qs.filter(actor=user)
    fields = ["day"] + ([by] if by else [])
    rows = qs.annotate(day=TruncDate("created_at")).values(*fields).annotate(n=Count("id")).order_by(*fields)
    result: dict[date, dict] = {}
    first = start.date()
    for offset in range(days):
        day = first + timedelta(days=offset)
        result[day] = {"day": day, "count": 0, **({"by": {}} if by else {})}
    for row in rows:
        bucket = result.get(row["day"])
        if bucket is None:
            continue
        bucket["count"] += row["n"]
        if by:
            bucket["by"][row[by]] = bucket["by"].get(row[by], 0) + row["n"]
    return list(result.values())


def activity_top_clients(*, days: int = 30, limit: int = 10) -> list[dict]:
    """The OAuth clients with the most entries in the window: ``{"client_id", "name",
    "count", "users"}`` (``users``: distinct actors). Entries without a client (web
    session, commands) are counted under ``client_id=None``, ``name="(no client)"``."""
    limit = _clean_limit(limit, default=10, maximum=100, field="limit")
    rows = list(
        Activity.objects.filter(created_at__gte=_window(days))
        .values("client_id")
        .annotate(count=Count("id"), users=Count("actor", distinct=True))
        .order_by("-count", "client_id")[:limit]
    )
    names = activity_client_names(client_ids=[r["client_id"] for r in rows])
    return [
        {
            "client_id": r["client_id"],
            "name": names.get(r["client_id"], "(deleted client)") if r["client_id"] else "(no client)",
            "count": r["count"],
            "users": r["users"],
        }
        for r in rows
    ]


def activity_totals(*, days: int = 30) -> dict:
    """Totals for the window: all entries, distinct active users, per action, per surface."""
    qs = Activity.objects.filter(created_at__gte=_window(days))
    return {
        "entries": qs.count(),
        "active_users": qs.exclude(actor=None).values("actor").distinct().count(),
        "by_action": dict(qs.values_list("action").annotate(n=Count("id")).order_by("action")),
        "by_surface": dict(qs.values_list("surface").annotate(n=Count("id")).order_by("surface")),
    }


# --- retention -------------------------------------------------------------------------------


def activity_purge(*, older_than_days: int | None = None, batch_size: int = 5000) -> int:
    """Delete entries older than ``older_than_days`` (default: the
    ``PICARD_ACTIVITY_RETENTION_DAYS`` setting; 0 keeps everything). Deletes in batches so
    a large backlog never holds a long lock. Returns how many entries were deleted."""
    days = settings.PICARD_ACTIVITY_RETENTION_DAYS if older_than_days is None else older_than_days
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValidationError.for_field("older_than_days", "must be a whole number of days (0 keeps everything).")
    if days == 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(Activity.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += Activity.objects.filter(id__in=ids).delete()[0]
