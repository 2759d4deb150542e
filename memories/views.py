"""The memory pages of the site. Thin: forms validate input, services write, selectors read.

Every view runs inside ``call_context(surface="web")`` so the activity log knows the door,
and turns a ``DomainError`` into a friendly page or an inline form error — never a 500.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpResponseRedirect, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from memories import dashboard, importexport, selectors, services
from memories.activity import activity_timeline
from memories.forms import WHOSE_HEADINGS, BulkForm, ExportForm, ImportUploadForm, MemoryFilterForm, MemoryForm
from memories.models import ImportJob, Memory, Permission
from memories.selectors import SORTS, MemoryFilters
from picard.context import call_context
from picard.errors import form_message
from picard.exceptions import DomainError, NotFound, PermissionDenied, ValidationError

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
SEARCH_LIMIT = 50


def web_view(view):
    """Run ``view`` as the web door: sets the call context; DomainErrors become error pages."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        with call_context(surface="web"):
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                return render(request, "error.html", {"title": "Not found", "message": exc.message}, status=404)
            except DomainError as exc:
                status = exc.http_status if 400 <= exc.http_status < 500 else 503
                logger.warning("web request failed: %s %s", exc.code, exc.message) if status == 503 else None
                title = "That did not work" if status < 500 else "Something is not working right now"
                return render(request, "error.html", {"title": title, "message": exc.message}, status=status)

    return wrapper


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _field_for(exc: DomainError, form) -> str | None:
    field = exc.details.get("field")
    mapping = {"expiration_date": "expires_at", "shared_with": "share_users", "memory_id": None}
    field = mapping.get(field, field)
    if field == "share_users" and "share_users" not in form.fields:
        return None
    return field if field in form.fields else None


# --- list, search, filters -------------------------------------------------------------------


@dataclass
class Row:
    memory: Memory
    score: float | None = None


def _top_tags(actor, limit: int = 16) -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tag, count(*) FROM memories_memory, unnest(tags) AS tag WHERE owner_id = %s AND trashed_at IS NULL "
            "GROUP BY tag ORDER BY count(*) DESC, tag LIMIT %s",
            [actor.pk, limit],
        )
        return list(cursor.fetchall())


@login_required
@require_GET
@web_view
def memory_list_view(request):
    actor = request.user
    form = MemoryFilterForm(request.GET or {"whose": "mine"})
    context = {"form": form, "rows": [], "top_tags": _top_tags(actor), "bulk_actions": BulkForm.base_fields["action"].choices,
               "heading": WHOSE_HEADINGS["mine"]}
    if not form.is_valid():
        return render(request, "memories/list.html", context, status=400)
    data = form.cleaned_data
    filters = form.filters(actor=actor)
    whose = data.get("whose") or "mine"
    query = (data.get("q") or "").strip()
    sort = data.get("sort") or ("relevance" if query else "newest")
    if sort == "relevance" and not query:
        sort = "newest"
        messages.info(request, "Sorting by relevance needs a search; showing the newest first.")
    context.update(query=query, sort=sort, keyword=" ".join(filters.words), whose=whose, heading=WHOSE_HEADINGS[whose])
    if query:
        hits = services.memory_query(actor=actor, query=query, limit=SEARCH_LIMIT, filters=filters, mode=data.get("mode") or None)
        rows = [Row(h.memory, h.score) for h in hits]
        if sort != "relevance":
            column, descending = SORTS[sort]
            rows.sort(key=lambda r: getattr(r.memory, column), reverse=descending)
        try:
            page = max(1, int(request.GET.get("page") or 1))
        except ValueError:
            page = 1
        start = (page - 1) * PAGE_SIZE
        context.update(
            rows=rows[start : start + PAGE_SIZE], total=len(rows), search_page=page,
            has_next=start + PAGE_SIZE < len(rows), next_page=page + 1, has_prev=page > 1, prev_page=page - 1,
            search_capped=len(hits) >= SEARCH_LIMIT,
        )
    else:
        cursor = request.GET.get("cursor") or None
        try:
            page = selectors.memory_list(actor=actor, filters=filters, sort=sort, limit=PAGE_SIZE, cursor=cursor)
        except DomainError as exc:
            if exc.details.get("field") != "cursor":
                raise
            messages.warning(request, "That page link is out of date; here is the first page.")
            return redirect(reverse("memories:list") + _query_without(request, "cursor"))
        rows, next_cursor = [Row(m) for m in page.items], page.next_cursor
        context.update(rows=rows, next_cursor=next_cursor, is_first_page=not cursor)
        if rows and (next_cursor or cursor):  # more than one page: offer "select all N matching" (own ones)
            context["matching_own"] = selectors.memory_own_matching_count(actor=actor, filters=filters)
            context["filter_query"] = _query_without(request, "cursor").lstrip("?")
    # The bulk bar acts on the actor's own memories only: shown when the page has some.
    context["selectable"] = any(r.memory.owner_id == actor.pk for r in context["rows"])
    context["trash_count"] = selectors.memory_trash_count(actor=actor)
    return render(request, "memories/list.html", context)


def _query_without(request, *keys: str) -> str:
    params = request.GET.copy()
    for key in keys:
        params.pop(key, None)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else ""


# --- create / edit / delete --------------------------------------------------------------------


def _apply_errors(form, exc: DomainError) -> None:
    form.add_error(_field_for(exc, form), form_message(exc))


def _initial_from_user(user) -> dict:
    initial = {"permission": user.default_permission or Permission.PRIVATE}
    if user.default_expiry_days:
        initial["expires_at"] = (timezone.now() + timedelta(days=user.default_expiry_days)).replace(second=0, microsecond=0)
    return initial


@login_required
@require_http_methods(["GET", "POST"])
@web_view
def memory_create_view(request):
    form = MemoryForm(request.POST if request.method == "POST" else None, initial=_initial_from_user(request.user))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            memory = services.memory_create(
                actor=request.user, text=data["text"], permission=data["permission"], expires_at=data["expires_at"],
                tags=data["tags"], metadata=data["metadata"], shared_with=form.shared_with(),
            )
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Memory saved.")
            if request.POST.get("another"):
                return redirect("memories:create")
            return redirect("memories:detail", memory_id=memory.id)
    status = 400 if form.errors else 200
    return render(request, "memories/form.html", {"form": form, "creating": True}, status=status)


def _own_memory(request, memory_id) -> Memory:
    memory = selectors.memory_get_for_actor(actor=request.user, memory_id=memory_id, include_expired=True)
    if memory.owner_id != request.user.pk:
        raise PermissionDenied("Only the owner can change this memory.")
    return memory


def _share_initial(memory: Memory) -> dict:
    shares = memory.shares.select_related("user", "group")
    return {
        "share_users": ", ".join(s.user.username for s in shares if s.user_id),
        "share_groups": [s.group.name for s in shares if s.group_id],
    }


def _form_version(request, memory: Memory) -> int:
    """The version the edit form was opened at (its hidden field); a form without one is
    treated as opened at the current version."""
    raw = request.POST.get("version")
    if raw is None or raw == "":
        return memory.version
    return int(raw)  # ValueError: a tampered form, answered as "out of date"


@login_required
@require_http_methods(["GET", "POST"])
@web_view
def memory_edit_view(request, memory_id):
    """Edit a memory. The form carries the version it was opened at; saving it after someone
    else saved a newer version never overwrites that change: the conflict page shows both
    side by side and asks for a choice (keep mine / keep theirs / merge by hand)."""
    memory = _own_memory(request, memory_id)
    initial = {
        "text": memory.text, "tags": ", ".join(memory.tags), "permission": memory.permission,
        "expires_at": memory.expires_at, "metadata": _json_or_empty(memory.metadata), **_share_initial(memory),
    }
    form = MemoryForm(request.POST if request.method == "POST" else None, initial=initial)
    opened_at = memory.version
    if request.method == "POST":
        try:
            opened_at = _form_version(request, memory)
        except ValueError:
            form.add_error(None, "The form was out of date; reload the page and try again.")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                version = opened_at
                changes = {}
                if data["text"] != memory.text:
                    changes["text"] = data["text"]
                if data["tags"] != list(memory.tags):
                    changes["tags"] = data["tags"]
                if data["expires_at"] != memory.expires_at:
                    changes["expires_at"] = data["expires_at"]
                if data["metadata"] != memory.metadata:
                    changes["metadata"] = data["metadata"]
                shares_changed = "share_users" in form.changed_data or "share_groups" in form.changed_data
                permission_changed = data["permission"] != memory.permission or (data["permission"] == Permission.SHARED and shares_changed)
                if changes:
                    updated = services.memory_update(actor=request.user, memory_id=memory.id, expected_version=version, **changes)
                    version = updated.version
                if permission_changed:
                    services.memory_set_permission(
                        actor=request.user, memory_id=memory.id, permission=data["permission"],
                        shared_with=form.shared_with(), expected_version=version,
                    )
        except DomainError as exc:
            if exc.code != "conflict":
                _apply_errors(form, exc)
            else:
                return _conflict_page(request, memory=memory, form=form, opened_at=opened_at)
        except ValueError:
            form.add_error(None, "The form was out of date; reload the page and try again.")
        else:
            messages.success(request, "Memory updated.")
            return redirect("memories:detail", memory_id=memory.id)
    status = 400 if form.errors else 200
    return render(request, "memories/form.html", {"form": form, "memory": memory, "creating": False, "opened_at": opened_at}, status=status)


def _conflict_page(request, *, memory: Memory, form, opened_at: int):
    """Your change and the newer saved version, side by side. Every way out is explicit:
    "keep mine" and "merge by hand" post again *at the current version* (so they save),
    "keep theirs" leaves without saving; a plain re-submit of the old form stays a conflict."""
    memory.refresh_from_db()
    memory._plaintext = None
    mine = form.cleaned_data
    theirs_version = selectors.memory_version_get(actor=request.user, memory_id=memory.id, version=memory.version)
    opened = None
    try:
        opened = selectors.memory_version_get(actor=request.user, memory_id=memory.id, version=opened_at)
    except NotFound:
        pass
    context = {
        "memory": memory, "mine": mine, "opened": opened, "theirs": theirs_version, "opened_at": opened_at,
        "mine_tags": ", ".join(mine["tags"]), "mine_metadata": _json_or_empty(mine["metadata"]),
        "diff_theirs": text_diff(opened.text if opened else memory.text, memory.text),
        "diff_mine": text_diff(opened.text if opened else memory.text, mine["text"]),
        "form": form,
    }
    return render(request, "memories/conflict.html", context, status=409)


def _json_or_empty(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) if value else ""


@login_required
@require_GET
@web_view
def memory_detail_view(request, memory_id):
    memory, versions = selectors.memory_history(actor=request.user, memory_id=memory_id)
    is_owner = memory.owner_id == request.user.pk
    shares = _share_initial(memory) if is_owner and memory.permission == Permission.SHARED else None
    history = []
    for row, previous in zip(versions, [*versions[1:], None], strict=False):
        history.append({"row": row, "diff": text_diff(previous.text if previous else "", row.text), "first": previous is None,
                        "same_text": previous is not None and previous.text == row.text})
    similar = []
    if is_owner:
        near = selectors.memory_near_duplicates(memory=memory)
        loaded = Memory.objects.not_trashed().filter(owner=request.user).in_bulk([n["id"] for n in near])
        similar = [{"memory": loaded[m], "score": n["score"]} for n in near if (m := uuid.UUID(n["id"])) in loaded]
    return render(request, "memories/detail.html", {
        "memory": memory, "is_owner": is_owner, "shares": shares, "metadata_json": _json_or_empty(memory.metadata),
        "history": history, "similar": similar,
    })


def text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level difference of two texts as ``[(kind, words)]``, kind = same | added | removed
    (templates mark added words <ins> and removed ones <del>)."""
    a, b = re.split(r"(\s+)", before), re.split(r"(\s+)", after)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("removed", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("added", "".join(b[j1:j2])))
    return out


@login_required
@require_POST
@web_view
def memory_restore_view(request, memory_id):
    """Bring a memory back from the trash, or (with ``version``) make an old version current."""
    raw = request.POST.get("version") or None
    try:
        version = int(raw) if raw is not None else None
    except ValueError:
        version = -1  # refused by the service with a clear message
    memory = services.memory_restore(actor=request.user, memory_id=memory_id, version=version)
    messages.success(request, f"Version {version} is current again (saved as version {memory.version})." if version else "Memory restored from the trash.")
    if memory.restore_note:
        messages.warning(request, memory.restore_note)
    return redirect(_safe_next(request, reverse("memories:detail", kwargs={"memory_id": memory.id})))


@login_required
@require_POST
@web_view
def memory_merge_view(request, memory_id):
    """Merge a similar memory (``duplicate_id``) into this one; the other goes to the trash."""
    kept = services.memory_merge(actor=request.user, memory_id=memory_id, duplicate_id=request.POST.get("duplicate_id") or "")
    messages.success(request, "Merged: the other memory's text was added to this one, and the other moved to the trash.")
    return redirect("memories:detail", memory_id=kept.id)


@login_required
@require_GET
@web_view
def trash_view(request):
    rows = selectors.memory_trash_list(actor=request.user)
    for memory in rows:
        memory.purge_at = services.trash_purge_at(memory.trashed_at)
    return render(request, "memories/trash.html", {"rows": rows, "trash_days": settings.PICARD_TRASH_DAYS})


@login_required
@require_POST
@web_view
def trash_empty_view(request):
    count = services.memory_purge_trash(owner=request.user, older_than_days=0)
    messages.success(request, f"Deleted {count} memor{'y' if count == 1 else 'ies'} for good.")
    return redirect("memories:trash")


@login_required
@require_http_methods(["GET", "POST"])
@web_view
def memory_delete_view(request, memory_id):
    permanent = (request.POST.get("permanent") or request.GET.get("permanent")) == "1"
    if permanent:  # "delete forever", from the trash page (the memory may be in the trash)
        memory = selectors.memory_trashed_get(actor=request.user, memory_id=memory_id)
    else:
        memory = _own_memory(request, memory_id)
    if request.method == "POST":
        services.memory_delete(actor=request.user, memory_id=memory.id, permanent=permanent)
        if permanent:
            messages.success(request, "Memory deleted for good.")
            return redirect(_safe_next(request, reverse("memories:trash")))
        messages.success(request, f"Memory moved to the trash. You can restore it there for {settings.PICARD_TRASH_DAYS} days.")
        return redirect(_safe_next(request, reverse("memories:list")))
    return render(request, "memories/confirm_delete.html", {"memories": [memory], "count": 1, "single": True, "permanent": permanent})


# --- bulk actions ------------------------------------------------------------------------------


def _all_matching_ids(actor, filter_query: str) -> list:
    """The ids of every one of the actor's memories the list page's filters match (the
    query string of that page), for "select all N matching"."""
    form = MemoryFilterForm(QueryDict(filter_query or ""))
    if not form.is_valid():
        raise ValidationError("The filters of that list are not valid any more; apply them again.")
    filters = form.filters(actor=actor)
    return selectors.memory_own_matching_ids(actor=actor, filters=filters)


@login_required
@require_POST
@web_view
def memory_bulk_view(request):
    back = _safe_next(request, reverse("memories:list"))
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
            break
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    actor = request.user
    ids = _all_matching_ids(actor, data.get("filter_query") or "") if data.get("all_matching") else data["ids"]
    if data["action"] == "delete" and not data.get("confirm"):
        own = list(Memory.objects.not_trashed().filter(owner=actor, id__in=ids)[:10])
        count = Memory.objects.not_trashed().filter(owner=actor, id__in=ids).count()
        return render(request, "memories/confirm_delete.html", {
            "memories": own, "count": count, "single": False, "next": back, "ids": [] if data.get("all_matching") else ids,
            "all_matching": data.get("all_matching"), "filter_query": data.get("filter_query") or "",
        })
    outcome = services.memory_bulk_apply(actor=actor, memory_ids=ids, action=data["action"], tag=data.get("tag"))
    done = outcome.done
    verb = {
        "delete": "Moved to the trash:", "make_private": "Made private", "make_public": "Made public",
        "add_tag": f"Tagged “{data.get('tag')}”:", "remove_tag": f"Removed tag “{data.get('tag')}” from",
    }[data["action"]]
    messages.success(request, f"{verb} {done} memor{'y' if done == 1 else 'ies'}.")
    if outcome.failed:
        messages.warning(request, f"{outcome.failed} could not be changed (not yours, missing, or changed meanwhile).")
    return HttpResponseRedirect(back)


# --- share picker ------------------------------------------------------------------------------


@login_required
@require_GET
def user_lookup_view(request):
    """Usernames for the share picker: at least 2 characters, at most 8 users the actor is
    related to (``selectors.user_share_suggestions``)."""
    q = (request.GET.get("q") or "").strip()
    if len(q) < 2 or len(q) > 150 or "\x00" in q:
        return JsonResponse({"users": []})
    users = selectors.user_share_suggestions(actor=request.user, query=q)
    return JsonResponse({"users": [{"username": u.username, "display_name": u.display_name} for u in users]})


# --- activity ----------------------------------------------------------------------------------


@login_required
@require_GET
@web_view
def activity_view(request):
    cursor = request.GET.get("cursor") or None
    page = activity_timeline(user=request.user, cursor=cursor, limit=50)
    rows = page.items
    names = dashboard.client_names(r.client_id for r in rows)
    days: list[tuple] = []
    for row in rows:
        row.client_name = names.get(row.client_id) if row.client_id else None
        day = timezone.localtime(row.created_at).date()  # the browser's day (picard.timezones)
        if not days or days[-1][0] != day:
            days.append((day, []))
        days[-1][1].append(row)
    others = dashboard.activity_on_my_memories(actor=request.user)
    others_names = dashboard.client_names(o["activity"].client_id for o in others)
    for o in others:
        o["client_name"] = others_names.get(o["activity"].client_id)
    return render(request, "memories/activity.html", {
        "days": days, "next_cursor": page.next_cursor, "others": others, "is_first_page": cursor is None,
    })


@login_required
@require_GET
@web_view
def admin_overview_view(request):
    if not request.user.is_staff:
        return render(request, "error.html", {"title": "Administrators only", "message": "This page is for Picard's administrators."}, status=403)
    overview = dashboard.admin_overview()
    return render(request, "memories/admin_overview.html", {"overview": overview, "chart": dashboard.bar_chart(overview.queries_per_day)})


# --- import / export ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@web_view
def import_view(request):
    form = ImportUploadForm(request.POST, request.FILES) if request.method == "POST" else ImportUploadForm()
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > importexport.MAX_UPLOAD_BYTES:
                raise importexport.ImportFormatError(
                    f"The file is larger than {importexport.MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it into smaller files.",
                    details={"field": "file"},
                )
            job, _ = importexport.import_job_create(actor=request.user, filename=upload.name, raw=upload.read(), fmt=form.cleaned_data.get("format") or None)
        except DomainError as exc:
            form.add_error("format" if exc.details.get("field") == "format" else "file", exc.message)
        else:
            return redirect("memories:import_job", job_id=job.id)
    jobs = ImportJob.objects.filter(owner=request.user).order_by("-created_at")[:10]
    export_form = ExportForm(initial={"format": "jsonl"})
    own_count = Memory.objects.not_trashed().filter(owner=request.user).count()
    return render(request, "memories/import.html", {"form": form, "jobs": jobs, "export_form": export_form, "own_count": own_count},
                  status=400 if form.errors else 200)


def _import_job_running(request, job_id):
    """The actor's import job, with a worker (re)started if it has none (e.g. after a restart)."""

    job = importexport.import_job_get(actor=request.user, job_id=job_id)
    if importexport.import_job_needs_worker(job):
        importexport.import_job_start_background(job.id)
        job.refresh_from_db()
    return job


@login_required
@require_GET
@web_view
def import_job_view(request, job_id):
    job = _import_job_running(request, job_id)
    preview = importexport.import_job_preview(job=job) if job.status == job.Status.PREVIEW else None
    return render(request, "memories/import_job.html", {
        "job": job, "preview": preview, "errors_hidden": max(0, job.failed_count - len(job.errors)),
    })


@login_required
@require_GET
@web_view
def import_job_status_view(request, job_id):
    job = _import_job_running(request, job_id)
    return JsonResponse({
        "id": str(job.id), "status": job.status, "position": job.position, "total": job.total,
        "created": job.created_count, "skipped": job.skipped_count, "failed": job.failed_count, "errors": job.errors[:50],
    })


@login_required
@require_POST
@web_view
def import_job_action_view(request, job_id, action):
    if action == "start":
        job = importexport.import_job_start(actor=request.user, job_id=job_id)
        importexport.import_job_start_background(job.id)
        messages.info(request, "Import started. You can leave this page; it continues in the background.")
    elif action == "undo":
        count = importexport.import_job_undo(actor=request.user, job_id=job_id)
        messages.success(request, f"Import undone: {count} memor{'y' if count == 1 else 'ies'} moved to the trash.")
    elif action == "redo":
        count = importexport.import_job_redo(actor=request.user, job_id=job_id)
        messages.success(request, f"{count} memor{'y' if count == 1 else 'ies'} of this import restored from the trash.")
    else:
        importexport.import_job_cancel(actor=request.user, job_id=job_id)
        messages.info(request, "Import cancelled. Rows already imported stay.")
    return redirect("memories:import_job", job_id=job_id)


@login_required
@require_GET
@web_view
def export_view(request):
    form = ExportForm(request.GET)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, f"Export: {errors[0]}")
            break
        return redirect("memories:import")
    data = form.cleaned_data
    filters = MemoryFilters(
        owner_id=request.user.pk, tags=data["tags"], permission=data.get("permission") or None,
        expired="all" if data.get("include_expired") else "active",
    )
    fmt = data["format"]
    stream = importexport.export_lines(actor=request.user, fmt=fmt, filters=filters)
    extension, content_type = ("jsonl", "application/x-ndjson") if fmt == "jsonl" else ("md", "text/markdown")
    response = StreamingHttpResponse(stream, content_type=f"{content_type}; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="picard-memories-{stamp}.{extension}"'
    return response
