"""Persona pages (site) and the REST endpoints, through Django's test client."""

from __future__ import annotations

import json
import warnings

import pytest
from django.urls import reverse

from memories.services import memory_create
from personas.models import Persona
from personas.services import persona_update


@pytest.fixture
def alice_public(alice):
    return memory_create(actor=alice, text="I love hiking in the Alps every summer.", permission="public")


@pytest.fixture
def alice_private(alice):
    return memory_create(actor=alice, text="My hiking diary password is swordfish.", permission="private")


def _events(response) -> list[tuple[str, dict]]:
    with warnings.catch_warnings():  # the sync test client buffers the async stream
        warnings.simplefilter("ignore")
        raw = b"".join(response).decode()
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_pages_need_a_signed_in_user(client, alice):
    for url in (reverse("personas:directory"), reverse("personas:edit"), reverse("personas:ask", args=[alice.id])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login")
    response = client.post(reverse("personas:ask-stream", args=[alice.id]), {"prompt": "hi"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_newcomer_without_api_key_gets_an_extractive_answer_on_the_site(client, extractive, alice, bob, alice_public, alice_private):
    persona_update(actor=alice, listed=True)
    client.force_login(bob)
    directory = client.get(reverse("personas:directory"))
    assert directory.status_code == 200
    assert reverse("personas:ask", args=[alice.id]) in directory.content.decode()

    page = client.get(reverse("personas:ask", args=[alice.id]))
    assert page.status_code == 200 and "public memories" in page.content.decode()
    response = client.post(reverse("personas:ask", args=[alice.id]), {"prompt": "Where do you go hiking?"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "extractive" in html
    assert "I love hiking in the Alps every summer." in html
    assert f'id="memory-{alice_public.id}"' in html
    assert "swordfish" not in html and str(alice_private.id) not in html


def test_owner_sees_private_memories_cited_on_their_own_page(client, extractive, alice, alice_public, alice_private):
    client.force_login(alice)
    html = client.post(reverse("personas:ask", args=[alice.id]), {"prompt": "hiking diary password"}).content.decode()
    assert "swordfish" in html and "badge-private" in html  # the private memory is labelled as such


def test_edit_page_saves_the_persona_and_shows_errors(client, extractive, alice):
    client.force_login(alice)
    assert client.get(reverse("personas:edit")).status_code == 200
    data = {"display_name": "Alice", "bio": "Hiker", "instructions": "Be brief.", "chat_model": "",
            "temperature": "0.5", "max_memories": "5", "answer_length": "short", "enabled": ""}
    response = client.post(reverse("personas:edit"), data)
    assert response.status_code == 302
    persona = Persona.objects.get(owner=alice)
    assert persona.enabled is False and persona.max_memories == 5 and persona.instructions == "Be brief."
    bad = client.post(reverse("personas:edit"), {**data, "display_name": "", "temperature": "9"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert Persona.objects.get(owner=alice).version == 1


def test_switched_off_persona_cannot_be_asked_on_the_site(client, extractive, alice, bob, alice_public):
    persona_update(actor=alice, enabled=False)
    client.force_login(bob)
    page = client.get(reverse("personas:ask", args=[alice.id]))
    assert "switched their persona off" in page.content.decode()
    response = client.post(reverse("personas:ask", args=[alice.id]), {"prompt": "hiking?"})
    assert response.status_code == 403
    assert "I love hiking" not in response.content.decode()
    stream = client.post(reverse("personas:ask-stream", args=[alice.id]), {"prompt": "hiking?"})
    assert stream.status_code == 403 and stream.json()["error"]["code"] == "persona_disabled"
    assert alice.id not in {e.user.id for e in client.get(reverse("personas:directory")).context["entries"]}


def test_unknown_user_is_a_404_page(client, bob):
    client.force_login(bob)
    assert client.get("/personas/7d3f8a43-2a3b-4c5e-9f10-111111111111/").status_code == 404


def test_stream_endpoint_sends_server_sent_events_from_the_model(client, llm, alice, bob, alice_public, alice_private):
    client.force_login(bob)
    response = client.post(reverse("personas:ask-stream", args=[alice.id]), {"prompt": "hiking?"})
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = _events(response)
    assert events[0][0] == "meta" and events[0][1]["mode"] == "llm"
    assert "".join(d["text"] for k, d in events if k == "delta") == "I love hiking in the Alps [M1]."
    done = events[-1][1]
    assert events[-1][0] == "done" and [c["text"] for c in done["cited"]] == ["I love hiking in the Alps every summer."]
    assert "swordfish" not in json.dumps(events) and str(alice_private.id) not in json.dumps(events)


def test_stream_endpoint_reports_provider_failure_as_an_error_event(client, llm, alice, bob, alice_public):
    llm.behaviors = ["429"]
    client.force_login(bob)
    events = _events(client.post(reverse("personas:ask-stream", args=[alice.id]), {"prompt": "hiking?"}))
    assert events[-1] == ("error", {"code": "llm_rate_limited", "message": events[-1][1]["message"], "details": {}})


def test_stream_endpoint_rejects_bad_input_with_a_json_error(client, extractive, alice, bob):
    client.force_login(bob)
    response = client.post(reverse("personas:ask-stream", args=[alice.id]), {"prompt": "  "})
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "prompt"


# --- REST -----------------------------------------------------------------------------------


def test_rest_read_and_update_your_persona(client, extractive, alice):
    client.force_login(alice)
    me = client.get("/api/personas/me").json()
    assert me["display_name"] == "alice" and me["id"] is None and me["enabled"] is True
    response = client.patch("/api/personas/me", {"bio": "Hiker", "max_memories": 4}, content_type="application/json")
    assert response.status_code == 200 and response.json()["bio"] == "Hiker" and response.json()["version"] == 1
    stale = client.patch("/api/personas/me", {"bio": "x", "expected_version": 0}, content_type="application/json")
    assert stale.status_code == 409 and stale.json()["status"] == "error"
    bad = client.patch("/api/personas/me", {"temperature": "hot"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "temperature"
    unknown = client.patch("/api/personas/me", {"owner": "someone"}, content_type="application/json")
    assert unknown.status_code == 400
    not_object = client.patch("/api/personas/me", [1, 2], content_type="application/json")
    assert not_object.status_code == 400
    assert Persona.objects.get(owner=alice).bio == "Hiker"


def test_rest_other_users_persona_hides_instructions(client, extractive, alice, bob):
    persona_update(actor=alice, instructions="Never mention my ex.", listed=True)
    client.force_login(bob)
    data = client.get(f"/api/personas/{alice.id}").json()
    assert data["display_name"] == "alice" and "instructions" not in data
    assert "Never mention" not in json.dumps(client.get("/api/personas/").json())


def test_rest_ask(client, extractive, alice, bob, alice_public, alice_private):
    client.force_login(bob)
    response = client.post(f"/api/personas/{alice.id}/ask", {"prompt": "hiking?"}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "extractive" and [m["id"] for m in body["memories"]] == [str(alice_public.id)]
    missing = client.post(f"/api/personas/{alice.id}/ask", {}, content_type="application/json")
    assert missing.status_code == 400 and missing.json()["error"]["details"]["field"] == "prompt"
    extra = client.post(f"/api/personas/{alice.id}/ask", {"prompt": "x", "mode": "all"}, content_type="application/json")
    assert extra.status_code == 400


def test_rest_ask_provider_down_is_503_not_500(client, llm, alice, bob, alice_public):
    llm.behaviors = ["500"]
    client.force_login(bob)
    response = client.post(f"/api/personas/{alice.id}/ask", {"prompt": "hiking?"}, content_type="application/json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "llm_unavailable"


def test_rest_needs_authentication(client, alice):
    assert client.get("/api/personas/me").status_code in (401, 403)
    assert client.post(f"/api/personas/{alice.id}/ask", {"prompt": "x"}, content_type="application/json").status_code in (401, 403)


def test_listing_in_the_directory_is_an_opt_in_setting_on_the_persona_page(client, extractive, alice, bob):
    client.force_login(bob)
    assert reverse("personas:ask", args=[alice.id]) not in client.get(reverse("personas:directory")).content.decode()
    assert client.get("/api/personas/").json()["personas"] == []
    client.force_login(alice)
    edit = client.get(reverse("personas:edit")).content.decode()
    assert 'name="listed"' in edit and "List my persona in the directory" in edit and 'name="listed" checked' not in edit
    data = {"display_name": "Alice", "bio": "", "instructions": "", "chat_model": "", "temperature": "0.3",
            "max_memories": "8", "answer_length": "medium", "enabled": "on", "listed": "on"}
    assert client.post(reverse("personas:edit"), data).status_code == 302
    client.force_login(bob)
    assert reverse("personas:ask", args=[alice.id]) in client.get(reverse("personas:directory")).content.decode()
    assert [p["user_id"] for p in client.get("/api/personas/").json()["personas"]] == [str(alice.id)]
    client.force_login(alice)
    response = client.patch("/api/personas/me", {"listed": False}, content_type="application/json")
    assert response.status_code == 200 and response.json()["listed"] is False
    bad = client.patch("/api/personas/me", {"listed": "yes"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "listed"
    client.force_login(bob)
    assert client.get("/api/personas/").json()["personas"] == []


MARKDOWN_REPLY = "My favourite tea is **Darjeeling first flush** [M1].\n\n- loose leaf\n- <script>alert(1)</script> [x](javascript:alert(2))"


def test_answer_markdown_is_rendered_safely_on_the_page(client, llm, alice, bob, alice_public):
    llm.reply = MARKDOWN_REPLY
    client.force_login(bob)
    html = client.post(reverse("personas:ask", args=[alice.id]), {"prompt": "Which tea?"}).content.decode()
    answer = html.split('class="chat-text chat-markdown">', 1)[1].split("</div>", 1)[0]
    assert "<strong>Darjeeling first flush</strong>" in answer and "**" not in answer
    assert "<li>loose leaf</li>" in answer
    assert "<script" not in answer and "&lt;script&gt;" in answer and "href=\"javascript" not in answer


def test_streamed_answer_ends_with_its_markdown_rendered_safely(client, llm, alice, bob, alice_public):
    llm.reply = MARKDOWN_REPLY
    client.force_login(bob)
    events = _events(client.post(reverse("personas:ask-stream", args=[alice.id]), {"prompt": "Which tea?"}))
    done = events[-1][1]
    assert events[-1][0] == "done" and done["response"] == MARKDOWN_REPLY  # the raw text stays for REST/MCP callers
    assert "<strong>Darjeeling first flush</strong>" in done["html"]
    assert "<script" not in done["html"] and "href=\"javascript" not in done["html"]
