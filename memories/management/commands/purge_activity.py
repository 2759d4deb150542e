"""``manage.py purge_activity``: apply the activity-log retention period."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from memories.activity import activity_purge
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = "Delete activity-log entries older than the retention period (PICARD_ACTIVITY_RETENTION_DAYS, default 90)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-days", type=int, default=None, metavar="N",
            help="Override the retention period for this run (0 deletes nothing).",
        )

    def handle(self, *args, **options):
        days = options["older_than_days"]
        try:
            count = activity_purge(older_than_days=days)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        days = settings.PICARD_ACTIVITY_RETENTION_DAYS if days is None else days
        if days == 0:
            self.stdout.write("Retention is 0 (keep everything): nothing deleted.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Deleted {count} activity entries older than {days} days."))
