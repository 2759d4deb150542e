"""Import and export of memories: the service behind the site's import/export pages (and the
operators' commands).

Export writes the actor's own memories as JSON Lines or Markdown. Import reads JSON, JSON
Lines, Markdown or CSV into an ``ImportJob``:

1. ``import_job_create`` parses the upload, stores it *encrypted* (``memories.crypto``) and
   returns a job in ``preview`` state with per-row validation (nothing is written yet);
2. ``import_job_start`` queues it; ``import_job_run`` imports row after row. Each row runs in
   its own transaction together with the job's progress pointer, so a crash (even
   ``kill -9``) never half-writes a row and the next run resumes at the next row. A lease
   (``worker`` + ``heartbeat_at``) lets a new worker take over a job whose worker died;
   ``import_jobs_resume`` does that for every stale job.

What goes out comes back in unchanged: id, text, permission, tags, metadata, expiry,
created/updated times and (for shared memories) the usernames/groups it is shared with. A
row whose id is already one of the actor's memories is skipped, so re-running an import is
harmless. A row keeps its id only if the actor created that memory once (a restore of their
own export); every other id is replaced by a fresh one, so an import never tells whether an
id exists (``import_id_was_actors``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from memories import crypto, keywords, services
from memories.activity import activity_collected, activity_record
from memories.models import Activity, ImportJob, Memory, Permission
from memories.reembed import embed_for_write
from memories.selectors import MemoryFilters, memory_visible_qs
from memories.serializers import iso
from memories.validation import (
    clean_expires_at,
    clean_metadata,
    clean_permission,
    clean_tags,
    clean_text,
    clean_uuid,
    parse_iso_datetime,
)
from picard.context import call_context
from picard.exceptions import DomainError, NotFound, PayloadTooLarge, ValidationError

logger = logging.getLogger(__name__)

FORMATS = ("json", "jsonl", "markdown", "csv")
EXPORT_FORMATS = ("jsonl", "markdown")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_STORED_ERRORS = 500
LEASE = timedelta(seconds=30)
EMBED_CHUNK = 16
MARKER = re.compile(r"^<!-- picard:memory (\{.*\}) -->$")


class ImportFormatError(ValidationError):
    """The file as a whole cannot be read (not the format it claims, not UTF-8, too big)."""


@dataclass
class ParsedRow:
    number: int  # 1-based, as a person counts rows/records
    data: dict | None
    error: str | None = None


@dataclass
class RowPlan:
    """A row checked against the memory rules (no writes)."""

    number: int
    fields: dict | None
    error: str | None = None


# --- parsing -----------------------------------------------------------------------------------


def detect_format(filename: str, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise ValidationError.for_field("format", f"must be one of {', '.join(FORMATS)}.")
        return explicit
    name = (filename or "").lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".md", "markdown"),
                        (".markdown", "markdown"), (".txt", "markdown"), (".csv", "csv")):
        if name.endswith(suffix):
            return fmt
    raise ImportFormatError("Cannot tell the format from the file name: choose JSON, JSON Lines, Markdown or CSV.", details={"field": "format"})


def decode_upload(raw: bytes) -> str:
    if len(raw) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it into smaller files.", details={"field": "file"})
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFormatError("The file is not UTF-8 text. Save it as UTF-8 and try again.", details={"field": "file"}) from None
    if "\x00" in text:
        raise ImportFormatError("The file contains NUL characters; it does not look like a text file.", details={"field": "file"})
    return text


def _parse_json(text: str) -> list[ParsedRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"This is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).", details={"field": "file"}) from exc
    if isinstance(data, dict) and isinstance(data.get("memories"), list):
        data = data["memories"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ImportFormatError("The JSON must be a list of memories, or an object with a \"memories\" list.", details={"field": "file"})
    return [
        ParsedRow(i + 1, item) if isinstance(item, dict) else ParsedRow(i + 1, None, "Each memory must be a JSON object.")
        for i, item in enumerate(data)
    ]


def _parse_jsonl(text: str) -> list[ParsedRow]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(ParsedRow(number, None, f"Line {number} is not valid JSON ({exc.msg})."))
            continue
        rows.append(ParsedRow(number, item) if isinstance(item, dict) else ParsedRow(number, None, "Each line must be a JSON object."))
    return rows


def _parse_csv(text: str) -> list[ParsedRow]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "text" not in [f.strip().lower() for f in reader.fieldnames if f]:
        raise ImportFormatError("The CSV needs a header row with at least a \"text\" column.", details={"field": "file"})
    rows = []
    try:
        for record in reader:
            number = reader.line_num
            item = {(k or "").strip().lower(): (v if not isinstance(v, list) else ",".join(v)) for k, v in record.items() if k}
            data: dict = {}
            for key, value in item.items():
                if value is None or value == "":
                    continue
                if key == "metadata":
                    try:
                        data["metadata"] = json.loads(value)
                    except json.JSONDecodeError:
                        data["metadata"] = value  # reported by validation
                elif key in ("shared_with_users", "shared_with_groups"):
                    data.setdefault("shared_with", {"users": [], "groups": []})[key.rsplit("_", 1)[1]] = [
                        p.strip() for p in value.split(",") if p.strip()
                    ]
                else:
                    data[key] = value
            rows.append(ParsedRow(number, data))
    except csv.Error as exc:
        raise ImportFormatError(f"The CSV could not be read near line {reader.line_num}: {exc}.", details={"field": "file"}) from exc
    return rows


def _parse_markdown(text: str) -> list[ParsedRow]:
    """Picard's own export (a ``<!-- picard:memory {json} -->`` line before each memory, with
    the text's exact length), or any Markdown file: one memory per part between lines of
    ``---`` (the whole file if there are none)."""
    lines = text.split("\n")
    if any(MARKER.match(line) for line in lines):
        rows: list[ParsedRow] = []
        pos = 0
        number = 0
        while pos < len(text):
            end = text.find("\n", pos)
            line = text[pos:] if end == -1 else text[pos:end]
            match = MARKER.match(line)
            if not match:
                pos = len(text) if end == -1 else end + 1
                continue
            number += 1
            body_start = len(text) if end == -1 else end + 1
            try:
                meta = json.loads(match.group(1))
                if not isinstance(meta, dict):
                    raise ValueError
            except ValueError:
                rows.append(ParsedRow(number, None, "The line before this memory is not a valid picard:memory comment."))
                pos = body_start
                continue
            length = meta.pop("chars", None)
            end_of_body = body_start + length if isinstance(length, int) and length >= 0 else -1
            trusted = 0 <= end_of_body <= len(text) and (
                end_of_body == len(text)
                or (text.startswith("\n", end_of_body)
                    and (end_of_body + 1 == len(text) or text.startswith("\n<!-- picard:memory ", end_of_body + 1)))
            )
            if trusted:
                body = text[body_start:end_of_body]
                pos = end_of_body + 1
            else:  # edited by hand: the body runs to the next marker line
                following = text.find("\n<!-- picard:memory ", body_start)
                stop = len(text) if following == -1 else following
                body = text[body_start:stop].strip("\n")
                pos = stop + 1 if following != -1 else len(text)
            meta["text"] = body
            rows.append(ParsedRow(number, meta))
        return rows
    parts, current = [], []
    for line in lines:
        if line.strip() == "---":
            parts.append("\n".join(current))
            current = []
        else:
            current.append(line)
    parts.append("\n".join(current))
    return [ParsedRow(i + 1, {"text": part.strip("\n")}) for i, part in enumerate(p for p in parts if p.strip())]


def parse_payload(text: str, fmt: str) -> list[ParsedRow]:
    parser = {"json": _parse_json, "jsonl": _parse_jsonl, "csv": _parse_csv, "markdown": _parse_markdown}[fmt]
    rows = parser(text)
    if not rows:
        raise ImportFormatError("The file holds no memories.", details={"field": "file"})
    if len(rows) > MAX_ROWS:
        raise PayloadTooLarge(f"At most {MAX_ROWS} memories per import (this file has {len(rows)}).", details={"field": "file"})
    return rows


# --- validation of one row -----------------------------------------------------------------------


def _as_tags(value):
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return value


def _row_message(exc: DomainError) -> str:
    return exc.message[:1].upper() + exc.message[1:]


def plan_row(*, actor, row: ParsedRow) -> RowPlan:
    """Check a parsed row against the memory rules; returns the fields for ``memory_create``."""
    if row.error:
        return RowPlan(row.number, None, row.error)
    data = row.data or {}
    try:
        text = clean_text(data.get("text"))
        permission = clean_permission(data.get("permission") or services.memory_default_permission(actor=actor, shared_with=data.get("shared_with")))
        expires = data.get("expiration_date", data.get("expires_at"))
        fields = {
            "text": text,
            "permission": permission,
            "tags": clean_tags(_as_tags(data.get("tags"))),
            "metadata": clean_metadata(data.get("metadata")),
            "expires_at": clean_expires_at(expires or None),
            "created_at": parse_iso_datetime(data.get("created_at") or None, field="created_at"),
            "updated_at": parse_iso_datetime(data.get("updated_at") or None, field="updated_at"),
            "memory_id": clean_uuid(data["id"], field="id") if data.get("id") else None,
            "shared_with": None,
        }
        if permission == Permission.SHARED:  # the service's rules: with somebody, who exists
            shared = data.get("shared_with") or {}
            services.share_targets_clean(actor=actor, permission=permission, shared_with=shared)
            fields["shared_with"] = shared
    except DomainError as exc:
        return RowPlan(row.number, None, _row_message(exc))
    return RowPlan(row.number, fields)


# --- jobs ----------------------------------------------------------------------------------------


def import_job_create(*, actor, filename: str, raw: bytes, fmt: str | None = None) -> tuple[ImportJob, list[RowPlan]]:
    """Parse and check an upload; store it encrypted as a job waiting for confirmation.
    Returns the job and the checked rows (for a preview). Raises ValidationError for a file
    that cannot be read at all."""
    fmt = detect_format(filename, fmt)
    text = decode_upload(raw)
    rows = parse_payload(text, fmt)
    plans = [plan_row(actor=actor, row=r) for r in rows]
    job = ImportJob.objects.create(
        owner=actor, filename=(filename or "")[:255], format=fmt, payload_encrypted=crypto.encrypt(text),
        total=len(rows), status=ImportJob.Status.PREVIEW,
    )
    return job, plans


def import_job_get(*, actor, job_id) -> ImportJob:
    job = ImportJob.objects.filter(owner=actor, id=clean_uuid(job_id, field="job_id")).first()
    if job is None:
        raise NotFound("Import not found.")
    return job


@dataclass
class ImportPreview:
    """What confirming a job will do: the first rows checked, and counts over every row —
    ``to_import`` is what the confirm button promises, so it leaves out rows that will fail
    (``invalid``) and rows whose id or text is already one of the actor's memories, or an
    earlier row's (``already_present``, skipped by ``_import_one``); an id of the actor's
    that is in the trash counts as imported (it is brought back), and an id that gets a
    fresh one (someone else's, or never the actor's) does not make a row a repeat."""

    rows: list[RowPlan]
    total: int
    invalid: int
    already_present: int

    @property
    def to_import(self) -> int:
        return self.total - self.invalid - self.already_present


def import_job_preview(*, job: ImportJob, limit: int = 20) -> ImportPreview:
    if not job.payload_encrypted:
        return ImportPreview(rows=[], total=0, invalid=0, already_present=0)
    rows = parse_payload(crypto.decrypt(job.payload_encrypted), job.format)
    plans = [plan_row(actor=job.owner, row=r) for r in rows]
    ids = {p.fields["memory_id"] for p in plans if p.fields and p.fields.get("memory_id")}
    found = list(Memory.objects.filter(id__in=ids).values_list("id", "owner_id", "trashed_at")) if ids else []
    present = {memory_id for memory_id, owner_id, trashed_at in found if owner_id == job.owner_id and trashed_at is None}
    # An id of the owner's that is in the trash is imported (brought back), not skipped.
    trashed = {memory_id for memory_id, owner_id, trashed_at in found if owner_id == job.owner_id and trashed_at is not None}
    # A free id keeps itself only if the owner created it once (``import_id_was_actors``).
    kept_ids = import_ids_were_actors(actor=job.owner, memory_ids=ids - {memory_id for memory_id, _, _ in found})
    digests = {p.number: keywords.text_digest(p.fields["text"]) for p in plans if p.fields}
    texts_present = set(
        Memory.objects.active().not_trashed()
        .filter(owner_id=job.owner_id, keyword_document__key_id=keywords.key_id(), keyword_document__text_digest__in=set(digests.values()))
        .values_list("keyword_document__text_digest", flat=True)
    ) if digests else set()
    already_present = 0
    for plan in plans:  # what _import_one will do with each row, in order
        if plan.fields is None:
            continue
        memory_id, digest = plan.fields.get("memory_id"), digests[plan.number]
        if memory_id in present:  # also a second row with an id an earlier row used
            already_present += 1
            continue
        if memory_id in trashed:
            trashed.discard(memory_id)
            present.add(memory_id)
            texts_present.add(digest)
            continue
        if digest in texts_present:  # memory_create's duplicate check skips it
            already_present += 1
            continue
        texts_present.add(digest)
        if memory_id in kept_ids:
            present.add(memory_id)
    return ImportPreview(
        rows=plans[:limit], total=len(plans), invalid=sum(1 for p in plans if p.fields is None), already_present=already_present,
    )


def import_job_start(*, actor, job_id) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(owner=actor, id=clean_uuid(job_id, field="job_id")).first()
        if job is None:
            raise NotFound("Import not found.")
        if job.status == ImportJob.Status.PREVIEW:
            job.status = ImportJob.Status.QUEUED
            job.save(update_fields=["status"])
    return job


def _cancel_if_unfinished(job: ImportJob) -> bool:
    """Mark a job that has not finished as cancelled (the caller holds its row lock and saves)."""
    if job.status not in (ImportJob.Status.PREVIEW, ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        return False
    job.status = ImportJob.Status.CANCELLED
    job.payload_encrypted = ""
    job.finished_at = timezone.now()
    job.message = f"Cancelled after {job.position} of {job.total} rows."
    return True


def import_job_cancel(*, actor, job_id) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(owner=actor, id=clean_uuid(job_id, field="job_id")).first()
        if job is None:
            raise NotFound("Import not found.")
        if _cancel_if_unfinished(job):
            job.save()
    return job


def _claim(job_id, worker: str) -> bool:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(id=job_id).first()
        if job is None:
            return False
        now = timezone.now()
        stale = job.heartbeat_at is None or job.heartbeat_at < now - LEASE
        if job.status == ImportJob.Status.QUEUED or (job.status == ImportJob.Status.RUNNING and stale):
            job.status = ImportJob.Status.RUNNING
            job.worker = worker
            job.heartbeat_at = now
            job.started_at = job.started_at or now
            job.save(update_fields=["status", "worker", "heartbeat_at", "started_at"])
            return True
    return False


def _embed_chunk(plans: list[RowPlan]) -> dict[int, dict]:
    texts = [(i, p.fields["text"]) for i, p in enumerate(plans) if p.fields]
    if not texts:
        return {}
    vectors = embed_for_write([t for _, t in texts])  # a provider that is down leaves rows pending
    return {i: v for (i, _), v in zip(texts, vectors, strict=False)}


def import_id_was_actors(*, actor, memory_id) -> bool:
    """Whether ``memory_id`` names a memory ``actor`` created (their activity log says so:
    a ``memory.create`` entry, or the one ``memory.import`` entry of an import, which lists
    the first 1,000 memories it created).

    An imported row keeps its id only then (restoring your own export after deleting the
    memories); any other id — free, or someone else's — gets a fresh one. Keeping free ids
    and re-iding taken ones would tell the importer which ids exist (issue 18, finding 6)."""
    return Activity.objects.filter(
        actor=actor, action__in=("memory.create", "memory.import"), memory_ids__contains=[memory_id],
    ).exists()


def import_ids_were_actors(*, actor, memory_ids) -> set:
    """The ids among ``memory_ids`` that ``import_id_was_actors`` says yes to (one query)."""
    memory_ids = set(memory_ids)
    if not memory_ids:
        return set()
    rows = Activity.objects.filter(
        actor=actor, action__in=("memory.create", "memory.import"), memory_ids__overlap=list(memory_ids),
    ).values_list("memory_ids", flat=True)
    return {m for row in rows for m in row if m in memory_ids}


def _import_one(*, actor, plan: RowPlan, embedding, job: ImportJob | None = None) -> str:
    """Write one row (inside the caller's transaction). Returns created | skipped (its id is
    already one of the actor's memories, or its text is: ``memory_create``'s duplicate check).
    An id of the actor's memory in the trash brings that memory back (as it was)."""
    fields = dict(plan.fields)
    memory_id = fields.get("memory_id")
    if memory_id is not None:
        existing = Memory.objects.filter(id=memory_id).values_list("owner_id", "trashed_at").first()
        if existing is not None and existing[0] == actor.pk:
            if existing[1] is None:
                return "skipped"
            Memory.objects.filter(id=memory_id).update(trashed_at=None, import_job=job)
            return "created"
        if existing is not None or not import_id_was_actors(actor=actor, memory_id=memory_id):
            fields["memory_id"] = None
    memory = services.memory_create(actor=actor, embedding=embedding, import_job=job, report_near_duplicates=False, **fields)
    return "skipped" if memory.is_duplicate else "created"


def import_job_run(*, job_id, worker: str | None = None, throttle: float | None = None) -> ImportJob | None:
    """Import the job's remaining rows. Returns the job, or None if another worker holds it."""
    worker = worker or uuid.uuid4().hex
    if not _claim(job_id, worker):
        return ImportJob.objects.filter(id=job_id).first()
    job = ImportJob.objects.select_related("owner").get(id=job_id)
    actor = job.owner
    throttle = settings.PICARD_IMPORT_THROTTLE_SECONDS if throttle is None else throttle
    try:
        rows = parse_payload(crypto.decrypt(job.payload_encrypted), job.format)
    except DomainError as exc:
        ImportJob.objects.filter(id=job_id, worker=worker).update(
            status=ImportJob.Status.FAILED, message=exc.message[:500], payload_encrypted="", finished_at=timezone.now()
        )
        return ImportJob.objects.get(id=job_id)
    with call_context(surface="web"):
        with activity_collected():  # rows are not logged one by one: one entry for the import
            position = job.position
            while position < len(rows):
                chunk = [plan_row(actor=actor, row=r) for r in rows[position : position + EMBED_CHUNK]]
                embeddings = _embed_chunk(chunk)  # slow I/O: outside any transaction
                for offset, plan in enumerate(chunk):
                    index = position + offset
                    with transaction.atomic():
                        job = ImportJob.objects.select_for_update().get(id=job_id)
                        if job.status != ImportJob.Status.RUNNING or job.worker != worker or job.position != index:
                            return job  # cancelled, or taken over by another worker
                        outcome, message = "failed", plan.error
                        if plan.fields is not None:
                            try:
                                with transaction.atomic():
                                    outcome = _import_one(actor=actor, plan=plan, embedding=embeddings.get(offset), job=job)
                            except DomainError as exc:
                                message = _row_message(exc)
                            except Exception:  # noqa: BLE001 - one bad row must not stop the import
                                logger.exception("import row %s of job %s failed", plan.number, job_id)
                                message = "This row could not be imported."
                        if outcome == "created":
                            job.created_count += 1
                        elif outcome == "skipped":
                            job.skipped_count += 1
                        else:
                            job.failed_count += 1
                            if len(job.errors) < MAX_STORED_ERRORS:
                                job.errors = [*job.errors, {"row": plan.number, "message": message or "Invalid row."}]
                        job.position = index + 1
                        job.heartbeat_at = timezone.now()
                        job.save(update_fields=["created_count", "skipped_count", "failed_count", "errors", "position", "heartbeat_at"])
                    if throttle:
                        time.sleep(throttle)
                position += len(chunk)
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().get(id=job_id)
            if job.status == ImportJob.Status.RUNNING and job.worker == worker:
                job.status = ImportJob.Status.DONE
                job.payload_encrypted = ""
                job.finished_at = timezone.now()
                job.message = f"Imported {job.created_count}, skipped {job.skipped_count} already present, {job.failed_count} failed."
                job.save()
                activity_record(actor=actor, action="memory.import", memory_ids=job.memories.values_list("id", flat=True)[:1000], details={
                    "job": str(job.id), "created": job.created_count, "skipped": job.skipped_count, "failed": job.failed_count, "format": job.format,
                })
    return job


def import_job_undo(*, actor, job_id) -> int:
    """Undo an import: every memory it created that is still out of the trash goes to the
    trash, in ONE statement and transaction together with the job's ``undone_at`` (all or
    nothing, also under ``kill -9``). A running import is cancelled first. Each memory is
    restorable from the trash (``import_job_redo`` brings them all back). Returns how many
    were trashed; logs one activity entry."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(owner=actor, id=clean_uuid(job_id, field="job_id")).first()
        if job is None:
            raise NotFound("Import not found.")
        _cancel_if_unfinished(job)
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE memories_memory SET trashed_at = %s WHERE import_job_id = %s AND owner_id = %s AND trashed_at IS NULL RETURNING id",
                [now, job.id, actor.pk],
            )
            ids = [row[0] for row in cursor.fetchall()]
        job.undone_at = now
        job.undone_count = len(ids)
        job.save()
        activity_record(actor=actor, action="memory.import_undo", memory_ids=ids[:1000], details={"job": str(job.id), "count": len(ids)})
    return len(ids)


def import_job_redo(*, actor, job_id) -> int:
    """Take back an undo: the import's memories that are still in the trash come back (one
    statement). Returns how many."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(owner=actor, id=clean_uuid(job_id, field="job_id")).first()
        if job is None:
            raise NotFound("Import not found.")
        restored = Memory.objects.filter(import_job=job, owner=actor, trashed_at__isnull=False).update(trashed_at=None)
        job.undone_at = None
        job.undone_count = 0
        job.save(update_fields=["undone_at", "undone_count"])
        activity_record(actor=actor, action="memory.import_redo", details={"job": str(job.id), "count": restored})
    return restored


def _run_in_thread(job_id) -> None:
    try:
        import_job_run(job_id=job_id)
    except Exception:  # noqa: BLE001 - a background thread has nobody to raise to
        logger.exception("import job %s stopped with an error; it will resume when next polled", job_id)
    finally:
        connection.close()


def import_job_start_background(job_id) -> None:
    """Run the job in this process, in a background thread (or inline when
    ``PICARD_IMPORT_INLINE`` is set, e.g. in tests that run inside one transaction)."""
    if settings.PICARD_IMPORT_INLINE:
        import_job_run(job_id=job_id)
        return
    close_old_connections()
    threading.Thread(target=_run_in_thread, args=(job_id,), name=f"import-{job_id}", daemon=True).start()


def import_job_needs_worker(job: ImportJob) -> bool:
    if job.status == ImportJob.Status.QUEUED:
        return job.heartbeat_at is None or job.heartbeat_at < timezone.now() - timedelta(seconds=5)
    return job.status == ImportJob.Status.RUNNING and (job.heartbeat_at is None or job.heartbeat_at < timezone.now() - LEASE)


def import_jobs_resume() -> int:
    """Resume every queued job and every running job whose worker stopped (inline). Returns
    how many were run."""
    count = 0
    for job in ImportJob.objects.filter(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]).order_by("created_at"):
        if import_job_needs_worker(job) and import_job_run(job_id=job.id):
            count += 1
    return count


# --- export --------------------------------------------------------------------------------------


def export_queryset(*, actor, filters: MemoryFilters | None = None):
    """The actor's own memories to export (oldest first)."""
    filters = filters or MemoryFilters()
    filters = MemoryFilters(**{**filters.__dict__, "owner_id": actor.pk})
    return memory_visible_qs(actor=actor, filters=filters).order_by("created_at", "id").prefetch_related("shares__user", "shares__group")


def memory_export_record(memory: Memory) -> dict:
    record = {
        "id": str(memory.id),
        "text": memory.text,
        "permission": memory.permission,
        "tags": list(memory.tags),
        "metadata": memory.metadata,
        "created_at": iso(memory.created_at),
        "updated_at": iso(memory.updated_at),
        "expiration_date": iso(memory.expires_at),
    }
    if memory.permission == Permission.SHARED:
        shares = list(memory.shares.all())
        record["shared_with"] = {
            "users": sorted(s.user.username for s in shares if s.user_id),
            "groups": sorted(s.group.name for s in shares if s.group_id),
        }
    return record


def export_lines(*, actor, fmt: str, filters: MemoryFilters | None = None) -> Iterator[str]:
    """The export as chunks of text (stream them). Records one ``memory.export`` activity."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError.for_field("format", f"must be one of {', '.join(EXPORT_FORMATS)}.")
    qs = export_queryset(actor=actor, filters=filters)
    count = qs.count()
    activity_record(actor=actor, action="memory.export", details={"format": fmt, "count": count})

    def generate() -> Iterator[str]:
        first = True
        for memory in qs.iterator(chunk_size=500):
            record = memory_export_record(memory)
            if fmt == "jsonl":
                yield json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n"
            else:
                text = record.pop("text")
                record["chars"] = len(text)
                yield ("" if first else "\n") + f"<!-- picard:memory {json.dumps(record, ensure_ascii=False)} -->\n{text}\n"
            first = False

    return generate()


def export_text(*, actor, fmt: str, filters: MemoryFilters | None = None) -> str:
    return "".join(export_lines(actor=actor, fmt=fmt, filters=filters))
