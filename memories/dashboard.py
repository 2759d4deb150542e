"""Read-only queries behind the activity pages (on top of ``memories.activity``'s selectors):
who used my memories, and the admin overview with its chart.

Activity rows never hold memory text; these selectors only count and group them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Max
from django.utils import timezone

from memories.activity import activity_client_names, activity_daily_counts, activity_top_clients, activity_totals
from memories.models import Activity, Memory


def client_names(client_ids) -> dict[str, str]:
    """OAuth client id → application name (ids of deleted clients are left out)."""

    return activity_client_names(client_ids=list(client_ids))


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


QUERY_ACTIONS = ("memory.search", "persona.query")


def admin_overview(*, days: int = 14) -> Overview:
    """Totals and per-day query counts for the admin page (counts come from
    ``memories.activity``'s aggregates)."""

    User = get_user_model()
    by_permission = dict(Memory.objects.values_list("permission").annotate(n=Count("id")).values_list("permission", "n"))
    series = [
        DayCount(day=row["day"], count=sum(n for action, n in row["by"].items() if action in QUERY_ACTIONS))
        for row in activity_daily_counts(days=days, by="action")
    ]
    clients = [c for c in activity_top_clients(days=30, limit=20) if c["client_id"]][:10]
    if clients:
        last_used = dict(
            Activity.objects.filter(client_id__in=[c["client_id"] for c in clients])
            .values("client_id").annotate(last=Max("created_at")).values_list("client_id", "last")
        )
        for c in clients:
            c["last"] = last_used.get(c["client_id"])
    totals = activity_totals(days=30)
    surfaces = sorted(({"surface": k, "n": v} for k, v in totals["by_surface"].items()), key=lambda r: -r["n"])
    return Overview(
        users=User.objects.filter(is_active=True).count(),
        active_users_30d=totals["active_users"],
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
