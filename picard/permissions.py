"""DRF permission classes of the whole project (kept apart from ``picard.drf``: DRF imports
its default permission classes while ``rest_framework.views`` is still loading)."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from picard import ratelimit


class CountCaller(BasePermission):
    """Counts the ``key="token"`` rate limits (``picard.ratelimit.count_caller``) once DRF has
    authenticated the request: per verified token, per signed-in user, else per client IP.
    Listed first in ``DEFAULT_PERMISSION_CLASSES``, so it runs before the 401 of
    ``IsAuthenticated``; raises ``RateLimited`` (429 + Retry-After); never refuses otherwise."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        verified = ratelimit.bearer_token(request.headers.get("Authorization", "")) if request.auth is not None else None
        signed_in = verified is None and user is not None and user.is_authenticated
        ratelimit.count_caller(
            method=request.method, path=request.path, ip=ratelimit.client_ip(request),
            verified_token=verified, user_id=user.pk if signed_in else None,
        )
        return True
