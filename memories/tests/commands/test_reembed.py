from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from memories import reembed, search, services
from memories.models import EmbeddingState, Memory
from memories.selectors import MemoryFilters

pytestmark = pytest.mark.django_db

TARGET = ["--provider", "hash", "--dimensions", "128"]


def run(*args):
    out = StringIO()
    call_command("reembed", "--no-progress", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def corpus(alice, bob):
    ids = {}
    for i in range(40):
        owner = alice if i % 2 else bob
        m = services.memory_create(actor=owner, text=f"note {i} about topic{i % 5} and the harbour", permission="public")
        ids[m.id] = m.text
    return ids


EVERYTHING = MemoryFilters(scope="all")


def _search_ids(actor, query, limit=50):
    # every candidate of everyone's public memories: this checks which vectors search uses
    return {h.memory.id for h in search.memory_search(actor=actor, query=query, limit=limit, filters=EVERYTHING, min_score=0.0)}


def test_switch_keeps_search_on_old_vectors_then_switches_atomically(corpus, alice, bob):
    before = _search_ids(alice, "topic3 harbour")
    assert len(before) == 40
    output = run(*TARGET, "--max-rows", "16", "--batch-size", "8")
    assert "Switching hash:256 -> hash:128" in output and "24 memories still to embed" in output
    assert reembed.active_provider().name == "hash:256"
    assert _search_ids(alice, "topic3 harbour") == before  # search still on the old vectors
    # A write during the switch is embedded for both models.
    during = services.memory_create(actor=bob, text="written during the switch near the harbour", permission="public")
    fresh = Memory.objects.get(id=during.id)
    assert fresh.embedding_model == "hash:256" and fresh.embedding_next_model == "hash:128"
    assert len(fresh.embedding) == 256 and len(fresh.embedding_next) == 128
    output = run(*TARGET)
    assert "Switched: searches now use hash:128" in output
    assert reembed.active_provider().name == "hash:128"
    rows = list(Memory.objects.all())
    assert len(rows) == 41
    assert {(m.embedding_model, len(m.embedding), m.embedding_next_model) for m in rows} == {("hash:128", 128, None)}
    assert _search_ids(alice, "topic3 harbour") == before | {during.id}
    # Semantic search, whose model choice is cached per process, follows the switch at once.
    semantic = search.memory_search(actor=alice, query="topic3 harbour", limit=50, mode="semantic", filters=EVERYTHING, min_score=0.0)
    assert {h.memory.id for h in semantic} == before | {during.id}
    assert "configuration names hash:256" in output


def test_interrupted_fill_resumes_without_losing_or_redoing_rows(corpus, settings):
    reembed.embedding_switch_begin(target_config={"provider": "hash", "dimensions": 128})
    calls = []

    def interrupt(n):
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reembed.embedding_switch_fill(batch_size=7, progress=interrupt)
    assert Memory.objects.filter(embedding_next_model="hash:128").count() == 21
    assert reembed.embedding_switch_fill(batch_size=7) == 19  # only the rest
    reembed.embedding_switch_complete()
    assert Memory.objects.exclude(embedding_model="hash:128").count() == 0
    assert {m.id: m.text for m in Memory.objects.all()} == corpus


def test_a_text_update_during_the_switch_is_not_overwritten_by_a_stale_batch(corpus, alice):
    reembed.embedding_switch_begin(target_config={"provider": "hash", "dimensions": 128})
    memory = Memory.objects.filter(owner=alice).order_by("id").first()
    old_vector = reembed.provider_for({"provider": "hash", "dimensions": 128}).embed_documents([memory.text])[0]
    services.memory_update(actor=alice, memory_id=str(memory.id), text="completely new words here")
    assert reembed._write_next([(memory.id, memory.version, old_vector)], "hash:128") == 0
    reembed.embedding_switch_fill()
    reembed.embedding_switch_complete()
    expected = reembed.active_provider().embed_documents(["completely new words here"])[0]
    assert list(Memory.objects.get(id=memory.id).embedding) == pytest.approx(expected, abs=1e-6)


def test_status_cancel_and_conflicting_target(corpus):
    run(*TARGET, "--no-switch", "--max-rows", "8")
    assert "switching to: hash:128 (8/40 embedded)" in run("--status")
    with pytest.raises(CommandError, match="switch to hash:128 is in progress"):
        run("--provider", "hash", "--dimensions", "64")
    assert "Switch cancelled" in run("--cancel")
    assert Memory.objects.exclude(embedding_next=None).count() == 0
    assert EmbeddingState.objects.get().target_model is None
    assert "No switch in progress" in run("--cancel")


def test_reembed_without_a_switch_fills_pending_embeddings(alice):
    memory = services.memory_create(actor=alice, text="pending one")
    Memory.objects.filter(id=memory.id).update(embedding=None, embedding_model=None)
    output = run()
    assert "nothing to switch" in output and "Embedded 1 pending memories" in output
    assert Memory.objects.get(id=memory.id).embedding_model == "hash:256"
    assert "No pending embeddings" in run()


def test_bad_flags_are_operator_errors():
    with pytest.raises(CommandError, match="need --provider"):
        run("--model", "x")
    with pytest.raises(CommandError, match="needs --model"):
        run("--provider", "openai")
    with pytest.raises(CommandError, match="batch-size"):
        run("--batch-size", "0")
