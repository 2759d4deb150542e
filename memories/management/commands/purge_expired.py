"""``manage.py purge_expired``: permanently delete expired memories."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from memories.maintenance import memory_purge_expired
from memories.services import memory_purge_trash
from picard.context import call_context
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Permanently delete memories whose expiry date has passed (until then owners still see them, "
        "filter expired, and can renew them), and memories that have been in the trash for PICARD_TRASH_DAYS "
        "days (see purge_trash). Run it daily from cron or a scheduler."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-days", type=int, default=0, metavar="N",
            help="Only memories that expired at least N days ago (default 0: every expired memory).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")

    def handle(self, *args, **options):
        try:
            with call_context(surface="command"):
                count = memory_purge_expired(older_than_days=options["older_than_days"], dry_run=options["dry_run"])
                trashed = 0 if options["dry_run"] else memory_purge_trash()
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        if options["dry_run"]:
            self.stdout.write(f"{count} expired memories would be deleted (dry run, nothing changed).")
        else:
            self.stdout.write(self.style.SUCCESS(f"Deleted {count} expired memories."))
            self.stdout.write(self.style.SUCCESS(f"Deleted {trashed} memories that were in the trash for {settings.PICARD_TRASH_DAYS} days."))
