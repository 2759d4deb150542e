"""Line endings are normalised to \\n in the service layer, so a text is stored the same way
whether it came from a browser's textarea (\\r\\n), REST, MCP, an import, or old Mac files (\\r)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from mcp_bridge.tests.mcp_client import with_client
from memories import importexport, services
from memories.models import Memory
from personas.models import Persona

pytestmark = pytest.mark.django_db

WINDOWS = "First line\r\nsecond line\r\n\r\n- a list\r\n- old Mac\rend"
UNIX = "First line\nsecond line\n\n- a list\n- old Mac\nend"


def test_site_form_stores_unix_newlines(client, alice):
    client.force_login(alice)
    form = {"text": WINDOWS, "tags": "", "permission": "private", "share_users": "", "expires_at": "", "metadata": ""}
    assert client.post("/memories/new", form).status_code == 302
    memory = Memory.objects.get(owner=alice)
    assert memory.text == UNIX
    client.post(f"/memories/{memory.id}/edit", {**form, "text": WINDOWS + "\r\nmore", "version": memory.version})
    assert Memory.objects.get(id=memory.id).text == UNIX + "\nmore"


def test_persona_page_stores_unix_newlines(client, alice):
    client.force_login(alice)
    data = {"display_name": "Alice", "bio": "Hiker\r\nand cook", "instructions": WINDOWS, "chat_model": "",
            "temperature": "0.3", "max_memories": "8", "answer_length": "medium", "enabled": "on"}
    assert client.post("/personas/me/", data).status_code == 302
    persona = Persona.objects.get(owner=alice)
    assert (persona.bio, persona.instructions) == ("Hiker\nand cook", UNIX)


def test_rest_and_batch_and_import_store_unix_newlines(alice, make_token, settings):
    token = make_token(alice, resource=[])

    def call(tool, data):
        response = Client().post("/api/tools", json.dumps({"tool": tool, "data": data}), content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
        return response.json()["data"]

    created = call("submit_memory", {"text": WINDOWS})
    assert Memory.objects.get(id=created["id"]).text == UNIX
    call("batch_memories", {"operations": [{"op": "update", "data": {"memory_id": created["id"], "text": "a\r\nb"}}]})
    assert Memory.objects.get(id=created["id"]).text == "a\nb"
    settings.PICARD_IMPORT_INLINE = True
    job, _ = importexport.import_job_create(actor=alice, filename="x.jsonl", raw=json.dumps({"text": "c\r\nd"}).encode())
    importexport.import_job_start(actor=alice, job_id=job.id)
    importexport.import_job_run(job_id=job.id)
    assert Memory.objects.filter(owner=alice).order_by("created_at").last().text == "c\nd"


def test_mcp_stores_unix_newlines(mcp_server, make_token, alice):
    token = make_token(alice)
    memory = services.memory_create(actor=alice, text="x")

    async def scenario(client):
        created = await client.call_tool("submit_memory", {"text": WINDOWS})
        await client.call_tool("update_memory", {"memory_id": str(memory.id), "text": "e\r\nf"})
        return created.structured_content["id"]

    created_id = with_client(mcp_server.mcp_url, token, scenario)
    assert Memory.objects.get(id=created_id).text == UNIX
    assert Memory.objects.get(id=memory.id).text == "e\nf"
