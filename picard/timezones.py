"""Times in the browser's time zone: ``static/js/picard.js`` stores the browser's IANA zone
(``Intl.DateTimeFormat().resolvedOptions().timeZone``) in the ``picard_tz`` cookie, and
``BrowserTimeZoneMiddleware`` activates it for the request. Django then shows every aware
datetime in templates in that zone and reads a form's naive date-time (the expiry's
``datetime-local`` input) as local time in it. Without the cookie (no JavaScript, first
page) — or with a name that is not a known zone — everything stays UTC, labelled as such.
"""

from __future__ import annotations

import functools
import zoneinfo
from urllib.parse import unquote

from django.utils import timezone

COOKIE = "picard_tz"


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def browser_zone(cookie_value: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone named by the cookie, or None (absent, too long, or not an IANA zone name)."""
    name = unquote(cookie_value or "")[:64]
    if name not in _known_zones():
        return None
    return zoneinfo.ZoneInfo(name)


class BrowserTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = browser_zone(request.COOKIES.get(COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
