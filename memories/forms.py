"""Forms of the memory pages. They turn text inputs into the shapes the services take and
reuse ``memories.validation`` so the site reports exactly what the API would, next to the
field it concerns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

from django import forms
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from memories import validation
from memories.models import Permission
from memories.selectors import EXPIRED_CHOICES, MemoryFilters
from picard.errors import form_message
from picard.exceptions import DomainError
from picard.timezones import browser_zone

SORT_CHOICES = [
    ("", "Best first"),
    ("newest", "Newest"),
    ("oldest", "Oldest"),
    ("updated", "Recently updated"),
    ("relevance", "Relevance (with a search)"),
]
WHOSE_CHOICES = [("mine", "Mine"), ("shared", "Shared with me"), ("all", "Everything I can see")]
# The list page's heading for each view, and the scope of the memories it shows.
WHOSE_HEADINGS = {"mine": "Your memories", "shared": "Shared with me", "all": "Everything you can see"}
WHOSE_SCOPES = {"mine": "mine", "shared": "shared_with_me", "all": "all"}


def validated(callable_, *args, **kwargs):
    """``callable_(...)`` (a ``memories.validation`` check); its DomainError becomes the
    form error the page shows next to the field (``picard.errors.form_message``)."""
    try:
        return callable_(*args, **kwargs)
    except DomainError as exc:
        raise forms.ValidationError(form_message(exc)) from exc


def split_list(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class MemoryForm(forms.Form):
    text = forms.CharField(
        label="Memory", widget=forms.Textarea(attrs={"rows": 7, "placeholder": "Something worth remembering… Markdown works: **bold**, lists, [links](https://example.com)."}),
        strip=False, help_text="Markdown is supported. At most 10,000 characters.",
    )
    tags = forms.CharField(
        label="Tags", required=False, help_text="Comma-separated, e.g. work, travel, health.",
        widget=forms.TextInput(attrs={"placeholder": "work, ideas", "autocomplete": "off"}),
    )
    permission = forms.ChoiceField(label="Who can see it", choices=Permission.choices, widget=forms.RadioSelect, initial=Permission.PRIVATE)
    share_users = forms.CharField(
        label="Share with people", required=False, help_text="Usernames, comma-separated.",
        widget=forms.TextInput(attrs={"placeholder": "bob, carol", "autocomplete": "off", "list": "user-suggestions"}),
    )
    share_groups = forms.MultipleChoiceField(label="Share with groups", required=False, widget=forms.CheckboxSelectMultiple, choices=())
    expires_at = forms.DateTimeField(
        label="Expires", required=False, help_text="Optional. After this moment only you can still see it (under “expired”).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    metadata = forms.CharField(
        label="Metadata (JSON)", required=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"source": "notebook"}', "class": "mono"}),
        help_text="Optional JSON object, stored in clear (not encrypted): no secrets here.",
    )
    # The zone the form's date-times were shown in (picard.timezones): the expiry is read in
    # it even if the browser's zone cookie changed since the page was rendered.
    time_zone = forms.CharField(required=False, widget=forms.HiddenInput)  # checked by browser_zone

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

        zone = timezone.get_current_timezone_name()
        self.fields["time_zone"].initial = zone
        self.fields["expires_at"].label = f"Expires ({zone} time)"

        self.fields["share_users"].widget.attrs["data-user-lookup"] = reverse("memories:user_lookup")
        self.fields["share_groups"].choices = [(g.name, g.name) for g in Group.objects.order_by("name")]
        if not self.fields["share_groups"].choices:
            del self.fields["share_groups"]

    def clean_text(self):
        return validated(validation.clean_text, self.cleaned_data["text"])

    def clean_tags(self):
        return validated(validation.clean_tags, split_list(self.cleaned_data.get("tags", "")))

    def clean_share_users(self):
        return split_list(self.cleaned_data.get("share_users", ""))

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")  # aware: read in the request's zone by Django
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        shown_in = browser_zone(self.data.get("time_zone"))
        if shown_in is not None:  # the wall time the person typed, in the zone the form showed
            value = timezone.make_naive(value).replace(tzinfo=shown_in)
        return validated(validation.clean_expires_at, value)

    def clean_metadata(self):
        raw = (self.cleaned_data.get("metadata") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"This is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from exc
        return validated(validation.clean_metadata, value)

    def clean(self):
        data = super().clean()
        if data.get("permission") != Permission.SHARED and (data.get("share_users") or data.get("share_groups")):
            self.add_error("permission", "Choose “Shared” to share with people or groups (or clear the share fields).")
        return data

    def shared_with(self) -> dict | None:
        if self.cleaned_data.get("permission") != Permission.SHARED:
            return None
        return {"users": self.cleaned_data.get("share_users") or [], "groups": list(self.cleaned_data.get("share_groups") or [])}


class MemoryFilterForm(forms.Form):
    q = forms.CharField(label="Search by meaning", required=False, max_length=500,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search your memories by meaning…"}))
    kw = forms.CharField(label="Contains the words", required=False, max_length=200,
                         widget=forms.TextInput(attrs={"type": "search", "placeholder": "exact words"}))
    mode = forms.ChoiceField(label="Search by", required=False, choices=[
        ("", "Meaning and words (best)"), ("semantic", "Meaning only"), ("keyword", "Exact words only"),
    ])
    whose = forms.ChoiceField(label="Whose", choices=WHOSE_CHOICES, required=False)
    permission = forms.ChoiceField(label="Visibility", choices=[("", "Any")] + list(Permission.choices), required=False)
    tags = forms.CharField(label="Tags", required=False, max_length=500, widget=forms.TextInput(attrs={"placeholder": "work, travel"}))
    created_from = forms.DateField(label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(label="Created until", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    expired = forms.ChoiceField(label="Expiry", required=False, choices=[("active", "Not expired"), ("expired", "Expired (mine)"), ("all", "Both")])
    sort = forms.ChoiceField(label="Sort", choices=SORT_CHOICES, required=False)

    def clean_tags(self):
        return tuple(validated(validation.clean_tags, split_list(self.cleaned_data.get("tags", ""))))

    def clean_expired(self):
        value = self.cleaned_data.get("expired") or "active"
        return value if value in EXPIRED_CHOICES else "active"

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "Must be on or after “Created from”.")
        return data

    def filters(self, *, actor):
        data = self.cleaned_data
        start, end = data.get("created_from"), data.get("created_to")
        return MemoryFilters(
            scope=WHOSE_SCOPES[data.get("whose") or "mine"],
            words=tuple(w.casefold() for w in (data.get("kw") or "").split()),
            permission=data.get("permission") or None,
            tags=data.get("tags") or (),
            created_after=datetime.combine(start, time.min, tzinfo=UTC) if start else None,
            created_before=datetime.combine(end, time.max, tzinfo=UTC) if end else None,
            expired=data.get("expired") or "active",
        )

    @property
    def active_filter_count(self) -> int:
        if not self.is_bound or not hasattr(self, "cleaned_data"):
            return 0
        keys = ("kw", "mode", "permission", "tags", "created_from", "created_to")
        count = sum(1 for k in keys if self.cleaned_data.get(k))
        count += 1 if self.cleaned_data.get("whose") in ("shared", "all") else 0
        count += 1 if self.cleaned_data.get("expired") not in (None, "", "active") else 0
        return count


BULK_ACTIONS = [
    ("", "Choose an action…"),
    ("make_private", "Make private"),
    ("make_public", "Make public"),
    ("add_tag", "Add a tag"),
    ("remove_tag", "Remove a tag"),
    ("delete", "Delete"),
]


class BulkForm(forms.Form):
    ids = forms.TypedMultipleChoiceField(required=False, coerce=str)
    # "Select all N matching": the action applies to every one of the actor's memories that
    # the list's filters (``filter_query``, the list page's query string) match, on every page.
    all_matching = forms.BooleanField(required=False)
    filter_query = forms.CharField(required=False, max_length=4000)
    action = forms.ChoiceField(choices=BULK_ACTIONS, error_messages={"required": "Choose what to do with the selected memories."})
    tag = forms.CharField(required=False, max_length=64)
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ids = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(i, i) for i in ids]

    def clean_ids(self):
        ids = self.cleaned_data["ids"]
        if len(ids) > 500:
            raise forms.ValidationError("At most 500 memories at a time.")
        return [validated(validation.clean_uuid, i, field="ids") for i in ids]

    def clean(self):
        data = super().clean()
        if not data.get("ids") and not data.get("all_matching"):
            self.add_error("ids", "Select at least one memory first.")
        if data.get("action") in ("add_tag", "remove_tag"):
            tags = validated(validation.clean_tags, [data.get("tag") or ""]) if (data.get("tag") or "").strip() else []
            if not tags:
                self.add_error("tag", "Type the tag to add or remove.")
            else:
                data["tag"] = tags[0]
        return data


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="File", help_text="JSON, JSON Lines (.jsonl), Markdown (.md) or CSV; at most 5 MB.")
    format = forms.ChoiceField(
        label="Format", required=False,
        choices=[("", "Detect from the file name"), ("json", "JSON"), ("jsonl", "JSON Lines"), ("markdown", "Markdown"), ("csv", "CSV")],
    )


class ExportForm(forms.Form):
    format = forms.ChoiceField(label="Format", choices=[("jsonl", "JSON Lines (.jsonl)"), ("markdown", "Markdown (.md)")], initial="jsonl")
    include_expired = forms.BooleanField(label="Include my expired memories", required=False)
    tags = forms.CharField(label="Only with tags", required=False, widget=forms.TextInput(attrs={"placeholder": "work, travel"}))
    permission = forms.ChoiceField(label="Only with visibility", choices=[("", "Any")] + list(Permission.choices), required=False)

    def clean_tags(self):
        return tuple(validated(validation.clean_tags, split_list(self.cleaned_data.get("tags", ""))))
