"""Re-index memories for keyword search (after changing PICARD_TERM_HASH_KEY or the stemmer)."""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from memories.services import keyword_index_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the keyword index (keyed hashes of stemmed terms). By default only memories whose entry is "
        "missing or was made with another PICARD_TERM_HASH_KEY; --all re-indexes every memory (needed after "
        "changing PICARD_KEYWORD_STEMMER)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Re-index every memory, not only stale ones.")
        parser.add_argument("--user", help="Only this user's memories (username or user id).")
        parser.add_argument("--batch-size", type=int, default=200, help="Memories per transaction (default 200).")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        owner = None
        if options["user"]:
            User = get_user_model()
            ref = options["user"]
            owner = User.objects.filter(username=ref).first()
            if owner is None:
                try:
                    owner = User.objects.filter(pk=uuid.UUID(ref)).first()
                except ValueError:
                    owner = None
            if owner is None:
                raise CommandError(f"No user {ref!r}.")
        done = keyword_index_rebuild(full=options["all"], owner=owner, batch_size=options["batch_size"])
        self.stdout.write(f"Re-indexed {done} memories for keyword search.")
