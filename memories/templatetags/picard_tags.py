"""Template helpers for the site: safe Markdown, badges, query-string building."""

from __future__ import annotations

from django import template

from memories.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    return render_markdown(text)


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with ``changes`` applied (``None``/"" removes a key)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


ACTION_LABELS = {
    "memory.create": ("Created", "+"),
    "memory.update": ("Edited", "✎"),
    "memory.delete": ("Deleted for good", "−"),
    "memory.trash": ("Moved to the trash", "−"),
    "memory.restore": ("Restored from the trash", "↺"),
    "memory.restore_version": ("Restored an earlier version", "↺"),
    "memory.merge": ("Merged two memories", "⊕"),
    "memory.bulk": ("Changed several memories at once", "≡"),
    "memory.import_undo": ("Undid an import", "↺"),
    "memory.import_redo": ("Restored an undone import", "↺"),
    "memory.purge_trash": ("Emptied from the trash", "−"),
    "memory.permission": ("Changed who can see", "◐"),
    "memory.search": ("Searched", "?"),
    "memory.read": ("Read", "◉"),
    "memory.list": ("Listed", "≡"),
    "memory.import": ("Imported", "⇣"),
    "memory.export": ("Exported", "⇡"),
    "persona.query": ("Asked a persona", "✉"),
    "oauth.client.register": ("Registered an OAuth client", "⚿"),
    "oauth.client.disable": ("Disabled an OAuth client", "⊘"),
    "oauth.client.enable": ("Re-enabled an OAuth client", "⚿"),
    "oauth.client.user_token_flow": ("Changed an OAuth client's user-token flow", "⚿"),
    "oauth.user_token.issue": ("An app obtained a token for you", "⚿"),
    "oauth.app.revoke": ("Disconnected an app", "⊘"),
    "oauth.personal_token.create": ("Created a personal access token", "⚿"),
    "oauth.personal_token.revoke": ("Revoked a personal access token", "⊘"),
    "oauth.code.replay": ("A sign-in code was used twice: the app was signed out", "⊘"),
    "account.deactivate": ("Deactivated an account", "⊘"),
}


@register.filter
def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, (action.replace(".", " ").replace("_", " ").capitalize(), "•"))[0]


@register.filter
def action_icon(action: str) -> str:
    return ACTION_LABELS.get(action, ("", "•"))[1]
