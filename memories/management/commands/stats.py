"""``manage.py stats``: counts for operators (no memory text, no per-user detail)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from memories.maintenance import stats_collect


def _lines(data: dict, indent: int = 0) -> list[str]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(" " * indent + f"{key}:")
            out += _lines(value, indent + 2) if value else [" " * (indent + 2) + "(none)"]
        else:
            out.append(" " * indent + f"{key}: {value}")
    return out


class Command(BaseCommand):
    help = "Show users, memories (by permission, expired, pending embeddings, per model), activity, OAuth clients and database size."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object (for scripts and monitoring).")

    def handle(self, *args, **options):
        data = stats_collect()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))
        else:
            self.stdout.write("\n".join(_lines(data)))
