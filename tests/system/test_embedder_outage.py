"""The embedding service is slow or down: nothing is lost and search keeps working.

An OpenAI-compatible embeddings server on 127.0.0.1 (driven through the real ``openai``
client) first answers too slowly for the client's timeout. Through POST /api/tools:
``submit_memory`` still stores the memory, quickly, with its embedding pending;
``query_memory`` (hybrid, the default) finds it by keyword meanwhile (its activity entry
records the search as degraded). When the service is back, ``manage.py reembed`` fills the pending vector and a
semantic-only search finds the memory too.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command

from memories.models import Activity, Memory
from oauth.testing import call_tool

DIMENSIONS = 8


class SlowEmbeddings(BaseHTTPRequestHandler):
    delay = 0.0
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        type(self).calls += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(type(self).delay)
        data = []
        for i, text in enumerate(body["input"]):
            words = text.lower().split()
            vector = [sum(hashlib.sha256(f"{w}:{d}".encode()).digest()[0] for w in words) / 255 + 0.01 for d in range(DIMENSIONS)]
            data.append({"object": "embedding", "index": i, "embedding": vector})
        payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                              "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass


@pytest.fixture
def embedder(settings):
    SlowEmbeddings.delay, SlowEmbeddings.calls = 0.0, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowEmbeddings)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PICARD_EMBEDDINGS = {"provider": "openai", "model": "fake-embed", "api_key": "k", "dimensions": DIMENSIONS,
                                  "base_url": f"http://127.0.0.1:{server.server_address[1]}/v1", "timeout": 0.3}
    yield SlowEmbeddings
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_slow_embedder_stores_the_memory_pending_keyword_search_finds_it_and_reembed_fills_it(mcp_server_factory, make_token, alice, embedder):
    server = mcp_server_factory()
    token = make_token(alice, resource=[])
    embedder.delay = 3.0  # far beyond the client's 0.3 s timeout

    started = time.monotonic()
    saved = call_tool(server.url, token, "submit_memory", {"text": "the lighthouse keeper kept a logbook of storms"})
    elapsed = time.monotonic() - started
    assert saved.status_code == 200, saved.text
    assert elapsed < 8, f"submit_memory waited {elapsed:.1f}s for a dead embedder"
    memory = Memory.objects.get(id=saved.json()["data"]["id"])
    assert memory.embedding is None and memory.embedding_model is None  # pending, not lost
    assert memory.text == "the lighthouse keeper kept a logbook of storms"

    found = call_tool(server.url, token, "query_memory", {"query": "lighthouse logbook"})
    assert found.status_code == 200, found.text
    assert [hit["id"] for hit in found.json()["data"]["memories"]] == [str(memory.id)]
    search = Activity.objects.filter(action="memory.search").latest("created_at")
    assert search.details.get("degraded") == "embedding_unavailable"

    embedder.delay = 0.0  # the service is back
    out = StringIO()
    call_command("reembed", "--no-progress", stdout=out)
    memory.refresh_from_db()
    assert memory.embedding is not None and memory.embedding_model == "openai:fake-embed"
    semantic = call_tool(server.url, token, "query_memory", {"query": "lighthouse logbook", "mode": "semantic"})
    assert semantic.status_code == 200, semantic.text
    assert str(memory.id) in [hit["id"] for hit in semantic.json()["data"]["memories"]]
