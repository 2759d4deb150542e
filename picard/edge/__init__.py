"""The request edge: everything a request meets before a door (Django view, ``/api/*``,
``/mcp``) handles it, in the order it meets it.

1. ``request_id.RequestIdMiddleware`` (outermost ASGI): one request id, echoed in
   ``X-Request-ID`` and carried by every log line and activity entry; one access-log line.
2. ``asgi.Edge``: refuses hostile input before any app code runs — NUL characters in the
   URL, bodies over the limit (413), non-JSON bodies sent to ``/api/`` (415), JSON that is
   not strict UTF-8, nested too deeply or carrying NUL characters / lone surrogates (400).
   JSON and form bodies are read ONCE and handed on in the ASGI scope
   (``scope["picard.body"]``, and the parsed JSON in ``scope["picard.json"]``); nobody
   reads them from the socket again. Then it routes: ``/mcp`` and the RFC 9728 metadata to
   the MCP door (which renders body problems as JSON-RPC errors), everything else to Django.
3. ``django.DjangoApp``: Django with an all-synchronous middleware chain run in ONE worker
   thread per request (one crossing of the sync/async boundary). ``ErrorEnvelopeMiddleware``
   (outermost) renders escaped exceptions through ``picard.errors``; ``RateLimitMiddleware``
   applies ``picard.ratelimit``. CSP comes from django-csp, CORS from django-cors-headers
   (and, for ``/mcp``, Starlette's ``CORSMiddleware`` built from the same settings:
   ``cors.mcp_cors``).

Every refusal is rendered from ``picard.errors.translate``; nothing here decides an error's
shape on its own.
"""
