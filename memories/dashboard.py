"""Read-only queries behind the activity pages: a user's own timeline and the admin overview.

Activity rows never hold memory text; these selectors only count and group them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from memories.models import Activity, Memory


def client_names(client_ids) -> dict[str, str]:
    """OAuth client id → application name (ids of deleted clients are left out)."""
    ids = [c for c in set(client_ids) if c]
    if not ids:
        return {}
    try:
        from oauth2_provider.models import get_application_model

        return dict(get_application_model().objects.filter(client_id__in=ids).values_list("client_id", "name"))
    except Exception:  # noqa: BLE001 - the OAuth tables are optional for this page
        return {}


def activity_timeline(*, actor, before: datetime | None = None, limit: int = 50) -> tuple[list[Activity], datetime | None]:
    """The actor's own activity, newest first; returns (rows, cursor for the next page)."""
    qs = Activity.objects.filter(actor=actor)
    if before:
        qs = qs.filter(created_at__lt=before)
    rows = list(qs.order_by("-created_at")[: limit + 1])
    next_before = rows[limit - 1].created_at if len(rows) > limit else None
    return rows[:limit], next_before


def activity_on_my_memories(*, actor, days: int = 30, limit: int = 20) -> list[dict]:
    """Who else read or found the actor's memories recently (others' searches that returned them)."""
    since = timezone.now() - timedelta(days=days)
    mine = set(Memory.objects.filter(owner=actor).values_list("id", flat=True))
    if not mine:
        return []
    rows = (
        Activity.objects.filter(created_at__gte=since, memory_ids__overlap=list(mine)[:5000])
        .exclude(actor=actor).select_related("actor").order_by("-created_at")[:limit]
    )
    return [{"activity": a, "count": len(set(a.memory_ids) & mine)} for a in rows]


@dataclass
class DayCount:
    day: date
    count: int


@dataclass
class Overview:
    users: int
    active_users_30d: int
    memories: int
    memories_by_permission: dict[str, int]
    queries_per_day: list[DayCount]
    top_clients: list[dict]
    surfaces: list[dict]


def admin_overview(*, days: int = 14) -> Overview:
    now = timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    User = get_user_model()
    by_permission = dict(Memory.objects.values_list("permission").annotate(n=Count("id")).values_list("permission", "n"))
    per_day = dict(
        Activity.objects.filter(created_at__gte=since, action__in=["memory.search", "persona.query"])
        .annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id")).values_list("day", "n")
    )
    series = [DayCount(day=(since + timedelta(days=i)).date(), count=per_day.get((since + timedelta(days=i)).date(), 0)) for i in range(days)]
    month = now - timedelta(days=30)
    clients = list(
        Activity.objects.filter(created_at__gte=month).exclude(client_id__isnull=True).exclude(client_id="")
        .values("client_id").annotate(n=Count("id"), last=Max("created_at"), users=Count("actor", distinct=True)).order_by("-n")[:10]
    )
    names = client_names(c["client_id"] for c in clients)
    for c in clients:
        c["name"] = names.get(c["client_id"], "(deleted or unknown client)")
    surfaces = list(Activity.objects.filter(created_at__gte=month).values("surface").annotate(n=Count("id")).order_by("-n"))
    return Overview(
        users=User.objects.filter(is_active=True).count(),
        active_users_30d=Activity.objects.filter(created_at__gte=month).exclude(actor__isnull=True).values("actor").distinct().count(),
        memories=sum(by_permission.values()),
        memories_by_permission=by_permission,
        queries_per_day=series,
        top_clients=clients,
        surfaces=surfaces,
    )


def bar_chart(series: list[DayCount], *, width: int = 560, height: int = 180) -> dict:
    """Geometry of a small inline-SVG bar chart (the template draws it)."""
    pad_left, pad_bottom, pad_top = 28, 22, 10
    inner_w, inner_h = width - pad_left - 6, height - pad_bottom - pad_top
    peak = max([d.count for d in series] + [1])
    slot = inner_w / max(len(series), 1)
    bars = []
    for i, d in enumerate(series):
        h = round(inner_h * d.count / peak, 1)
        bars.append({
            "x": round(pad_left + i * slot + slot * 0.15, 1), "y": round(pad_top + inner_h - h, 1), "w": round(slot * 0.7, 1), "h": h,
            "label": d.day.strftime("%d"), "label_x": round(pad_left + i * slot + slot / 2, 1), "title": f"{d.day.isoformat()}: {d.count}",
        })
    return {"width": width, "height": height, "bars": bars, "peak": peak, "base_y": pad_top + inner_h, "top_y": pad_top, "left": pad_left, "label_y": height - 6}
