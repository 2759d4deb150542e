"""``manage.py rotate_encryption_key``: re-encrypt every memory under the newest key."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from memories.crypto import EncryptionKeyError
from memories.maintenance import encryption_key_check, memory_rotate_encryption_key
from memories.management.progress import progress_bar
from memories.models import Memory
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Re-encrypt every memory under the first (newest) key of PICARD_ENCRYPTION_KEYS. "
        "Steps: generate a key (--generate-key), put it FIRST in PICARD_ENCRYPTION_KEYS keeping the old ones, "
        "restart the site, run this command, and only then remove the old keys. Verifies every row before and "
        "after; resumable; an interruption loses nothing (unfinished rows stay readable under their old key)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--generate-key", action="store_true", help="Print a new Fernet key and exit (changes nothing).")
        parser.add_argument("--check", action="store_true", help="Only verify: count rows per state, change nothing.")
        parser.add_argument("--batch-size", type=int, default=500, metavar="N", help="Rows per transaction (default 500).")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, **options):
        if options["generate_key"]:
            self.stdout.write(Fernet.generate_key().decode())
            self.stdout.write(
                "Prepend it to PICARD_ENCRYPTION_KEYS (comma-separated, newest first), restart, then run "
                "`manage.py rotate_encryption_key`.", self.style.NOTICE,
            )
            return
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        keys = len(settings.PICARD_ENCRYPTION_KEYS)
        total = Memory.objects.count()
        try:
            if options["check"]:
                with progress_bar(total=total, desc="checking", enabled=not options["no_progress"]) as advance:
                    report = encryption_key_check(progress=advance)
                self._check_summary(report, keys)
                if report.unreadable:
                    raise CommandError(f"{len(report.unreadable)} memories cannot be decrypted with the configured keys.")
                return
            with progress_bar(total=total, desc="re-encrypting", enabled=not options["no_progress"]) as advance:
                report = memory_rotate_encryption_key(batch_size=options["batch_size"], progress=advance)
        except EncryptionKeyError as exc:
            raise CommandError(str(exc)) from exc
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Re-encrypted {report.rotated} memories; {report.already_current} were already under the newest key "
            f"({report.total} in all)."
        )
        if not report.ok:
            raise CommandError(
                f"After rotation {report.not_current_after} memories are not under the newest key and "
                f"{len(report.unreadable)} cannot be read (new writes may have raced; run the command again)."
            )
        self.stdout.write(self.style.SUCCESS("Every memory decrypts with the newest key alone."))
        if keys > 1:
            self.stdout.write(
                f"You may now remove the {keys - 1} older key(s) from PICARD_ENCRYPTION_KEYS "
                "(keep a backup of them until you have a backup of the database taken after this run)."
            )

    def _check_summary(self, report, keys: int) -> None:
        self.stdout.write(
            f"{report.total} memories: {report.already_current} under the newest key, "
            f"{report.total - report.already_current - len(report.unreadable)} under an older key, "
            f"{len(report.unreadable)} unreadable ({keys} key(s) configured)."
        )
        for memory_id in report.unreadable[:20]:
            self.stdout.write(f"  unreadable: {memory_id}")
