"""The top-level ASGI app: Django for the site and APIs; the MCP app is mounted here too
(see mcp_bridge). It owns the lifespan, because a mounted sub-app's lifespan never runs and
Django's ASGI handler refuses lifespan events."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "picard.settings.base")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                from picard.embedded_db import release

                release()
                await send({"type": "lifespan.shutdown.complete"})
                return
    await django_app(scope, receive, send)
