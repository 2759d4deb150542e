"""Extractive answers with the real default local embedding model: the right memory is
quoted, unrelated ones are left out, and an off-topic question is declined."""

from __future__ import annotations

import pytest

from memories.services import memory_create
from personas.services import persona_answer

pytestmark = [pytest.mark.real_embedder, pytest.mark.search_threshold]

FACTS = [
    "I love hiking in the Alps every summer.",
    "My favourite food is ramen.",
    "I work as a nurse in Lyon.",
    "My cat is called Miso.",
    "I play the cello in an amateur orchestra.",
]


@pytest.mark.parametrize("question, expected", [
    ("Where do you like to go walking in the mountains?", "I love hiking in the Alps every summer."),
    ("What instrument do you play?", "I play the cello in an amateur orchestra."),
])
def test_the_relevant_memory_alone_is_quoted(real_embedder, extractive, alice, bob, question, expected):
    ids = {memory_create(actor=alice, text=t, permission="public").text: None for t in FACTS}
    answer = persona_answer(actor=bob, user_id=str(alice.id), prompt=question)
    assert answer["mode"] == "extractive"
    quoted = [t for t in ids if f"“{t}”" in answer["response"]]
    assert quoted == [expected]
    assert len(answer["memories"]) == 1


@pytest.mark.parametrize("question", ["What is the capital of Peru?", "Who won the 1998 world cup?"])
def test_an_off_topic_question_is_declined(real_embedder, extractive, alice, bob, question):
    for text in FACTS:
        memory_create(actor=alice, text=text, permission="public")
    answer = persona_answer(actor=bob, user_id=str(alice.id), prompt=question)
    assert "haven't noted anything" in answer["response"] and answer["memories"] == []
