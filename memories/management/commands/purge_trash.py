"""``manage.py purge_trash``: delete for good the memories that have waited out their time in the trash."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from memories.services import memory_purge_trash
from picard.context import call_context
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Delete for good (with their keyword index entries, vectors and history) the memories that have "
        "been in the trash for PICARD_TRASH_DAYS days. Each batch is one transaction: an interrupted run "
        "leaves whole batches done and the rest untouched; run it again to finish. purge_expired runs it too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, default=None, metavar="N",
                            help=f"Only memories trashed at least N days ago (default PICARD_TRASH_DAYS, now {settings.PICARD_TRASH_DAYS}; 0: all).")
        parser.add_argument("--batch-size", type=int, default=200, metavar="N", help="Memories deleted per transaction (default 200).")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more.")
        try:
            with call_context(surface="command"):
                count = memory_purge_trash(older_than_days=options["older_than_days"], batch_size=options["batch_size"],
                                           progress=lambda n: self.stdout.write(f"deleted {n}"))
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Deleted {count} memories from the trash."))
