from __future__ import annotations

import pytest

from mcp_bridge.tools import READ, TOOLS, QueryUserInput
from memories.models import Activity
from memories.services import memory_create
from personas.models import Persona
from personas.selectors import persona_directory, persona_get_or_default
from personas.services import persona_update
from picard.exceptions import Conflict, ValidationError


def test_a_user_without_a_persona_has_an_enabled_default(alice):
    alice.display_name = "Alice Liddell"
    persona = persona_get_or_default(owner=alice)
    assert persona._state.adding and persona.enabled and persona.display_name == "Alice Liddell"


def test_persona_update_creates_then_changes_only_given_fields(alice):
    persona = persona_update(actor=alice, display_name="Alice", bio="Hiker.", instructions="Be brief.")
    assert persona.version == 1 and Persona.objects.count() == 1
    persona = persona_update(actor=alice, temperature=0.9, expected_version=1)
    assert persona.version == 2 and persona.bio == "Hiker." and persona.temperature == 0.9
    assert [a.action for a in Activity.objects.order_by("created_at")] == ["persona.create", "persona.update"]


def test_stale_edit_is_a_conflict(alice):
    persona_update(actor=alice, display_name="Alice")
    persona_update(actor=alice, bio="one")
    with pytest.raises(Conflict):
        persona_update(actor=alice, bio="two", expected_version=1)
    assert Persona.objects.get().bio == "one"


@pytest.mark.parametrize("changes, field", [
    ({"display_name": "  "}, "display_name"),
    ({"display_name": "x" * 101}, "display_name"),
    ({"bio": "x" * 501}, "bio"),
    ({"temperature": 3}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"max_memories": 0}, "max_memories"),
    ({"answer_length": "epic"}, "answer_length"),
    ({"enabled": "yes"}, "enabled"),
    ({"colour": "blue"}, "colour"),
])
def test_invalid_persona_fields_are_rejected_and_nothing_is_saved(alice, changes, field):
    with pytest.raises(ValidationError) as caught:
        persona_update(actor=alice, **changes)
    assert caught.value.details["field"] == field
    assert not Persona.objects.exists()


def test_directory_lists_only_personas_their_owners_chose_to_list(alice, bob, carol, make_user):
    dave = make_user("dave")
    persona_update(actor=alice, display_name="Alice the Hiker", listed=True)
    persona_update(actor=carol, enabled=False, listed=True)   # listed but switched off
    persona_update(actor=dave, display_name="Dave")           # shaped, never listed
    entries, has_more = persona_directory(actor=bob)          # bob never saved a persona
    assert [e.user.id for e in entries] == [alice.id]
    assert entries[0].persona.display_name == "Alice the Hiker"
    assert has_more is False
    found, _ = persona_directory(actor=bob, query="hiker")
    assert [e.user.id for e in found] == [alice.id]
    assert persona_directory(actor=bob, query="dave")[0] == []


def test_new_accounts_are_not_listed(make_user):
    newcomer = make_user("newcomer")
    assert persona_get_or_default(owner=newcomer).listed is False
    assert persona_directory(actor=newcomer)[0] == []
    assert persona_update(actor=newcomer, listed=True).listed is True
    assert [e.user.id for e in persona_directory(actor=newcomer)[0]] == [newcomer.id]


def test_query_user_tool_answers_through_the_registry(extractive, alice, bob):
    memory = memory_create(actor=alice, text="I play the cello.", permission="public")
    tool = TOOLS["query_user"]
    assert tool.scope == READ and tool.read_only
    result = tool.handler(bob, QueryUserInput(user_id=str(alice.id), prompt="Do you play the cello?"))
    assert result["mode"] == "extractive"
    assert result["memories"][0]["id"] == str(memory.id)
    assert set(result) >= {"response", "memories", "model", "mode"}


def test_query_user_input_rejects_unknown_fields():
    from pydantic import ValidationError as PydanticValidationError

    with pytest.raises(PydanticValidationError):
        QueryUserInput(user_id="x", prompt="y", reveal_private=True)
