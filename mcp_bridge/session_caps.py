"""Caps on stateful MCP sessions: at most ``PICARD_MCP_MAX_SESSIONS_PER_TOKEN`` per access
token and ``PICARD_MCP_MAX_SESSIONS_PER_USER`` per person (all their tokens together).

Each session holds memory in this process until it is closed or idles out
(``PICARD_MCP_SESSION_IDLE_TIMEOUT``); without a cap one token could pin tens of thousands.
When a request would open one session too many, the owner's least recently used sessions
are closed first — idle ones (no request in flight, e.g. no open SSE stream) before busy
ones — and the new session opens. A client of a closed session gets ``404 Session not
found`` on its next request and, as the MCP spec says, starts a new session.

The SDK's session manager knows each session's transport but not which token or person
opened it; ``SessionCaps`` sits in front of it, learns the new session's id from the
``Mcp-Session-Id`` response header, and keeps (token, user, last use, requests in flight)
per session. Several sessions opening at the same moment may briefly pass the cap by
their number; the next opening trims back to it. Stateless MCP keeps no sessions.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from starlette.datastructures import Headers

SESSION_HEADER = "mcp-session-id"


@dataclass
class _Session:
    token_key: str
    user_id: str
    last_used: float
    in_flight: int = 0


def token_key(raw_token: str) -> str:
    """What the caps remember of a token: a SHA-256 prefix, never the token."""
    return hashlib.sha256(raw_token.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class SessionCaps:
    def __init__(self, session_manager, *, per_token: int, per_user: int):
        self.manager = session_manager
        self.per_token = per_token
        self.per_user = per_user
        self._sessions: dict[str, _Session] = {}

    def open_sessions(self, *, user_id=None, token: str | None = None) -> list[str]:
        """Ids of the sessions still open (for one user or token), oldest use first."""
        self._forget_closed()
        chosen = [
            (s.last_used, sid) for sid, s in self._sessions.items()
            if (user_id is None or s.user_id == str(user_id)) and (token is None or s.token_key == token_key(token))
        ]
        return [sid for _, sid in sorted(chosen)]

    async def handle_request(self, scope, receive, send, *, raw_token: str, user_id) -> None:
        """Serve one ``/mcp`` request through the session manager, within the caps."""
        session_id = Headers(scope=scope).get(SESSION_HEADER)
        if session_id is None:
            key, user = token_key(raw_token), str(user_id)
            await self._make_room(key=key, user=user)
            await self.manager.handle_request(scope, receive, self._registering(send, key=key, user=user))
            return
        session = self._sessions.get(session_id)
        if session is None:
            await self.manager.handle_request(scope, receive, send)
            return
        session.in_flight += 1
        session.last_used = time.monotonic()
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            session.in_flight -= 1
            session.last_used = time.monotonic()

    def _registering(self, send, *, key: str, user: str):
        async def send_and_register(message):
            if message["type"] == "http.response.start" and message["status"] < 400:
                for name, value in message.get("headers", []):
                    if name.lower() == SESSION_HEADER.encode():
                        self._sessions[value.decode("latin-1")] = _Session(token_key=key, user_id=user, last_used=time.monotonic())
            await send(message)

        return send_and_register

    def _forget_closed(self) -> None:
        live = self.manager._server_instances  # noqa: SLF001 - the SDK keeps no public list of sessions
        for sid in [sid for sid in self._sessions if sid not in live or live[sid].is_terminated]:
            del self._sessions[sid]

    async def _make_room(self, *, key: str, user: str) -> None:
        """Close the least recently used sessions so one more fits under both caps."""
        self._forget_closed()
        for belongs, cap in ((lambda s: s.token_key == key, self.per_token), (lambda s: s.user_id == user, self.per_user)):
            theirs = [(sid, s) for sid, s in self._sessions.items() if belongs(s)]
            excess = len(theirs) - cap + 1
            if excess <= 0:
                continue
            theirs.sort(key=lambda item: (item[1].in_flight > 0, item[1].last_used))
            for sid, _ in theirs[:excess]:
                await self._close(sid)

    async def _close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        transport = self.manager._server_instances.get(session_id)  # noqa: SLF001 - see _forget_closed
        if transport is not None and not transport.is_terminated:
            await transport.terminate()
