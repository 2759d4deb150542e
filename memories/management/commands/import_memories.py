"""``manage.py import_memories``: import a file for a user, as the site's import page does."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from memories.importexport import FORMATS, MAX_UPLOAD_BYTES, import_job_cancel, import_job_create, import_job_run, import_job_start
from memories.management.commands.export_memories import _find_user
from picard.context import call_context
from picard.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Import memories for a user from JSON, JSON Lines, Markdown or CSV (the site's import formats; "
        "an export reads back unchanged). Each row is its own transaction: an interrupted import resumes "
        "where it stopped when run again with --resume JOB_ID; rows already present are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="The file to import.")
        parser.add_argument("--user", required=True, metavar="USERNAME", help="Whose memories they become (username or user id).")
        parser.add_argument("--format", choices=FORMATS, help="File format (default: from the file name).")
        parser.add_argument("--dry-run", action="store_true", help="Only check the rows and show the problems; import nothing.")
        parser.add_argument("--resume", metavar="JOB_ID", help="Resume an interrupted import job instead of reading a file.")

    def handle(self, *args, **options):
        user = _find_user(options["user"])
        try:
            with call_context(surface="command"):
                if options["resume"]:
                    job = import_job_start(actor=user, job_id=options["resume"])
                else:
                    job = self._create(user, options)
                    if job is None:
                        return
                    import_job_start(actor=user, job_id=job.id)
                    self.stdout.write(f"Import job {job.id}: {job.total} rows (resume with --resume {job.id} if interrupted).")
                job = import_job_run(job_id=job.id, throttle=0)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Imported {job.created_count}, skipped {job.skipped_count} already present, {job.failed_count} failed.")
        for error in job.errors[:20]:
            self.stdout.write(f"  row {error['row']}: {error['message']}")
        if job.status == "running":
            raise CommandError(
                f"Import job {job.id} is held by another worker (or was interrupted less than 30 s ago): "
                f"run again with --resume {job.id} shortly."
            )
        if job.status != "done":
            raise CommandError(f"The import job is {job.status}: {job.message or 'not finished'}.")

    def _create(self, user, options):
        if not options["file"]:
            raise CommandError("Give a file to import (or --resume JOB_ID).")
        path = Path(options["file"]).expanduser()
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise CommandError(f"{path} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: split it.")
        job, plans = import_job_create(actor=user, filename=path.name, raw=path.read_bytes(), fmt=options["format"])
        bad = [p for p in plans if p.fields is None]
        if options["dry_run"]:
            self.stdout.write(f"{len(plans)} rows: {len(plans) - len(bad)} importable, {len(bad)} with problems (dry run: nothing imported).")
            for plan in bad[:20]:
                self.stdout.write(f"  row {plan.number}: {plan.error}")

            import_job_cancel(actor=user, job_id=job.id)
            return None
        return job
