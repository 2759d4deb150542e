"""A memory "shared" with nobody is refused with the same clear error on every door: the site's
form, POST /api/tools and /mcp (the rule lives in memories.services.share_targets_clean)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from mcp_bridge.tests.mcp_client import with_client
from memories import services
from memories.models import Memory

pytestmark = pytest.mark.django_db

RULE = "at least one user or group"


def test_site_form_refuses_shared_with_nobody_next_to_the_share_field(client, alice):
    client.force_login(alice)
    form = {"text": "A memory", "tags": "", "permission": "shared", "share_users": "", "expires_at": "", "metadata": ""}
    response = client.post("/memories/new", form)
    assert response.status_code == 400
    field = response.content.decode().split('id="field-share_users"', 1)[1].split("</div>", 2)
    assert RULE in "".join(field[:2])
    assert not Memory.objects.exists()
    memory = services.memory_create(actor=alice, text="private for now")
    response = client.post(f"/memories/{memory.id}/edit", {**form, "text": memory.text, "version": memory.version})
    assert response.status_code == 400 and RULE in response.content.decode()
    assert Memory.objects.get(id=memory.id).permission == "private"


def test_rest_refuses_shared_with_nobody(alice, make_token):
    token = make_token(alice, resource=[])

    def call(tool, data):
        return Client().post("/api/tools", json.dumps({"tool": tool, "data": data}), content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {token}")

    for data in ({"text": "x", "permission": "shared"}, {"text": "x", "permission": "shared", "shared_with": {"users": [], "groups": []}}):
        response = call("submit_memory", data)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid" and RULE in error["message"] and error["details"]["field"] == "shared_with"
    memory = services.memory_create(actor=alice, text="x")
    response = call("modify_permissions", {"memory_id": str(memory.id), "permission": "shared"})
    assert response.status_code == 400 and RULE in response.json()["error"]["message"]
    assert [m.permission for m in Memory.objects.all()] == ["private"]


def test_mcp_refuses_shared_with_nobody(mcp_server, make_token, alice):
    token = make_token(alice)
    memory = services.memory_create(actor=alice, text="x")

    async def scenario(client):
        return [
            await client.call_tool("submit_memory", {"text": "y", "permission": "shared"}),
            await client.call_tool("modify_permissions", {"memory_id": str(memory.id), "permission": "shared", "shared_with": {"users": [alice.username]}}),
        ]

    for result in with_client(mcp_server.mcp_url, token, scenario):
        assert result.is_error is True
        assert result.content[0].text.startswith("invalid: shared_with:") and RULE in result.content[0].text
    assert [m.permission for m in Memory.objects.all()] == ["private"]
