"""DRF exception handler: renders ``picard.errors.translate`` as the envelope
``{"status": "error", "error": {"code", "message", "details"}}``."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from picard.errors import translate


def exception_handler(exc, context):
    # DRF's own handler first, for the headers it knows (WWW-Authenticate on 401, Allow).
    response = drf_default_handler(exc, context)
    request = context.get("request")
    where = f"{request.method} {request.path}" if request is not None else "API view"
    translation = translate(exc, where=where)
    if response is None:
        response = Response(translation.body(), status=translation.status)
    else:
        response.data = translation.body()
        response.status_code = translation.status
    for name, value in translation.headers.items():
        response[name] = value
    return response

