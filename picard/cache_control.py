"""``Cache-Control: no-store`` on every private answer: a page for a signed-in person, or
any answer to a request that carried credentials (``Authorization``). Such pages hold
memory text, tokens or account details; no browser cache, back-button history on a shared
computer or intermediate proxy may keep them. A response that already says how it may be
cached (static files, the OAuth metadata) keeps its own header. docs/security.md."""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers


def is_private_request(request) -> bool:
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_authenticated", False)) or "Authorization" in request.headers


class PrivateNoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if is_private_request(request) and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private; Expires
        return response
