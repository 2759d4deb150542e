"""Small ASGI answers used before (or instead of) an app: JSON bodies, error envelopes."""

from __future__ import annotations

import json

from picard.errors import Translation, translate


def header_pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer an ASGI request with a small JSON body."""
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
            *(headers or []),
        ],
    })
    await send({"type": "http.response.body", "body": payload})


async def send_translation(send, translation: Translation, extra: list[tuple[bytes, bytes]] = ()) -> None:
    """The REST error envelope for ``translation``, with its headers."""
    await send_json(send, translation.status, translation.body(), [*header_pairs(translation.headers), *extra])


async def send_error(send, exc: BaseException, *, where: str = "", extra: list[tuple[bytes, bytes]] = ()) -> None:
    """Translate ``exc`` (``picard.errors``) and answer with the envelope."""
    await send_translation(send, translate(exc, where=where), extra)
