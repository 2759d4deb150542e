"""``manage.py export_memories``: a user's memories as JSON Lines or Markdown (the site's formats)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from memories.importexport import EXPORT_FORMATS, export_lines
from memories.selectors import MemoryFilters
from picard.context import call_context
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Export one user's own memories (decrypted) in the site's export format: JSON Lines (default; "
        "`import_memories` and the site's import read it back unchanged) or Markdown. The output holds "
        "memory text in clear: it is written with mode 0600."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="USERNAME", help="Whose memories (username or user id).")
        parser.add_argument("--format", choices=EXPORT_FORMATS, default="jsonl", help="jsonl (default) or markdown.")
        parser.add_argument("--output", "-o", metavar="PATH", help="File to write (default: standard output).")
        parser.add_argument("--tag", action="append", default=[], dest="tags", help="Only memories carrying this tag (repeat: all of them).")
        parser.add_argument("--include-expired", action="store_true", help="Also export expired memories.")
        parser.add_argument("--force", action="store_true", help="Overwrite --output if it exists.")

    def handle(self, *args, **options):
        user = _find_user(options["user"])
        output = Path(options["output"]).expanduser() if options["output"] else None
        if output and output.exists() and not options["force"]:
            raise CommandError(f"{output} exists: use --force to overwrite it.")
        if output and not output.parent.is_dir():
            raise CommandError(f"--output: folder {output.parent} does not exist.")
        try:
            filters = MemoryFilters.from_input({"tags": options["tags"], "expired": "all" if options["include_expired"] else "active"})
            with call_context(surface="command"):
                chunks = export_lines(actor=user, fmt=options["format"], filters=filters)
                count = 0
                if output:
                    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        for chunk in chunks:
                            fh.write(chunk)
                            count += 1
                else:
                    for chunk in chunks:
                        self.stdout.write(chunk, ending="")
                        count += 1
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        if output:
            self.stdout.write(self.style.SUCCESS(f"Exported {count} memories of {user.username} to {output}."))
        else:
            sys.stderr.write(f"Exported {count} memories of {user.username}.\n")


def _find_user(ref: str):
    User = get_user_model()
    user = User.objects.filter(username=ref).first()
    if user is None:
        try:
            user = User.objects.filter(id=ref).first()
        except Exception:  # noqa: BLE001 - not a UUID
            user = None
    if user is None:
        raise CommandError(f"No user {ref!r}.")
    return user
