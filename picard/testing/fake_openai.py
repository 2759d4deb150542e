"""A local HTTP server that speaks the OpenAI protocol — chat completions (JSON and SSE
streaming) and embeddings — for tests that drive the real ``openai`` client. Binds 127.0.0.1 only.

``behaviors`` is a list consumed one per request (the last one repeats): "ok", "stream-ok"
(handled automatically when the request asks to stream), "429", "500", "garbage", "empty",
"slow", "no-choices", "wrong-size" (embeddings of 3 numbers whatever was asked).

``/v1/embeddings`` answers ``dimensions`` numbers per input (8 when not asked), in reverse
order of the inputs (clients must sort by ``index``); the first number depends on the text.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.behaviors: list[str] = ["ok"]
        self.reply = "I love hiking in the Alps [M1]."
        self.model = "test-model"
        self.slow_seconds = 3.0
        self.chunk_delay = 0.0  # seconds between streamed pieces
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_behavior(self) -> str:
        with self._lock:
            if len(self.behaviors) > 1:
                return self.behaviors.pop(0)
            return self.behaviors[0]

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                fake.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                behavior = fake.next_behavior()
                fast_retry = {"retry-after-ms": "10"}
                if behavior == "429":
                    return self._send(429, json.dumps({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}).encode(), headers=fast_retry)
                if behavior == "500":
                    return self._send(500, json.dumps({"error": {"message": "The server had an error", "type": "server_error"}}).encode(), headers=fast_retry)
                if behavior == "garbage":
                    return self._send(200, b"<html>this is not json{", content_type="application/json")
                if behavior == "no-choices":
                    return self._send(200, json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": fake.model}).encode())
                if behavior == "slow":
                    time.sleep(fake.slow_seconds)
                if self.path.endswith("/embeddings"):
                    return self._embeddings(body, behavior)
                content = "" if behavior == "empty" else fake.reply
                if body.get("stream"):
                    return self._stream(content)
                payload = {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": fake.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132},
                }
                return self._send(200, json.dumps(payload).encode())

            def _embeddings(self, body: dict, behavior: str):
                dims = 3 if behavior == "wrong-size" else body.get("dimensions") or 8
                data = [
                    {"object": "embedding", "index": i, "embedding": [float(len(text) % 7 + 1)] + [float(i + 1)] * (dims - 1)}
                    for i, text in reversed(list(enumerate(body["input"])))
                ]
                payload = {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}
                return self._send(200, json.dumps(payload).encode())

            def _stream(self, content: str):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                words = content.split(" ")
                pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] if content else []
                base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()), "model": fake.model}
                first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
                for piece in pieces:
                    chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    if fake.chunk_delay:
                        time.sleep(fake.chunk_delay)
                last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
                usage = {**base, "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": len(pieces), "total_tokens": 120 + len(pieces)}}
                self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler
