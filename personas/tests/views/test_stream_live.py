"""End to end: the real ASGI server (uvicorn on 127.0.0.1, Django as production serves it) streams the persona's answer as
server-sent events while the (fake, local) model is still writing it."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import uvicorn
from django.conf import settings as django_settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client

from memories.services import memory_create
from picard.edge.django import DjangoApp
from picard.testing import free_port


@pytest.fixture
def live_server_url(transactional_db):
    # Connections opened by the server's worker threads close at the end of each request,
    # so none is left holding the test database when it is dropped.
    db_settings = connections.settings[DEFAULT_DB_ALIAS]
    saved_max_age = db_settings.get("CONN_MAX_AGE")
    db_settings["CONN_MAX_AGE"] = 0
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(DjangoApp(), host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    db_settings["CONN_MAX_AGE"] = saved_max_age


def test_answer_pieces_arrive_while_the_model_is_still_writing(live_server_url, llm, alice, bob):
    memory_create(actor=alice, text="I love hiking in the Alps every summer.", permission="public")
    memory_create(actor=alice, text="My diary password is swordfish.", permission="private")
    llm.reply = "I love hiking in the Alps, mostly in July [M1]."
    llm.chunk_delay = 0.25
    client = Client()
    client.force_login(bob)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    csrf = "a" * 32
    cookies = {django_settings.SESSION_COOKIE_NAME: session, django_settings.CSRF_COOKIE_NAME: csrf}

    arrivals: list[tuple[float, str, dict]] = []
    with httpx.Client(base_url=live_server_url, cookies=cookies, timeout=20) as http:
        with http.stream("POST", f"/personas/{alice.id}/ask/stream", data={"prompt": "Where do you hike?"},
                         headers={"X-CSRFToken": csrf}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    arrivals.append((time.monotonic(), event, json.loads(line[6:])))

    kinds = [kind for _, kind, _ in arrivals]
    assert kinds[0] == "meta" and kinds[-1] == "done"
    deltas = [(t, data["text"]) for t, kind, data in arrivals if kind == "delta"]
    assert "".join(text for _, text in deltas) == llm.reply
    # 10 pieces, 0.25 s apart: streamed, the first arrives well before the last
    assert deltas[-1][0] - deltas[0][0] > 1.0
    done = arrivals[-1][2]
    assert [c["text"] for c in done["cited"]] == ["I love hiking in the Alps every summer."]
    assert "swordfish" not in json.dumps([data for _, _, data in arrivals])
