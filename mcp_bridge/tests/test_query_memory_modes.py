import pytest
from pydantic import ValidationError as PydanticValidationError

from mcp_bridge.tools import TOOLS
from memories import services

pytestmark = pytest.mark.django_db


def _query(actor, **data):
    tool = TOOLS["query_memory"]
    return tool.handler(actor, tool.input.model_validate(data))


def test_query_memory_searches_in_the_requested_mode(alice):
    memory = services.memory_create(actor=alice, text="The spare tyre is in the garage of Aunt Hildegard")
    services.memory_create(actor=alice, text="I bought new winter tyres")
    default = _query(alice, query="Hildegard", min_score=0)
    assert default["mode"] == "hybrid"
    assert default["memories"][0]["id"] == str(memory.id)
    assert set(default["memories"][0]["scores"]) == {"semantic", "keyword"}
    keyword = _query(alice, query="Hildegard", mode="keyword", min_score=0)
    assert [m["id"] for m in keyword["memories"]] == [str(memory.id)]
    assert 0 < keyword["memories"][0]["score"] <= 1 < keyword["memories"][0]["scores"]["keyword"] + 1
    semantic = _query(alice, query="Hildegard", mode="semantic", limit=5, min_score=0)
    assert semantic["mode"] == "semantic" and semantic["count"] == 2
    assert all(set(m["scores"]) == {"semantic"} for m in semantic["memories"])


def test_query_memory_refuses_an_unknown_mode():
    with pytest.raises(PydanticValidationError):
        TOOLS["query_memory"].input.model_validate({"query": "x", "mode": "fuzzy"})
