"""memory_batch: per-item results; a failed item leaves nothing behind."""

import pytest

from memories import services
from memories.models import Activity, Memory
from memories.services import BatchOperation
from picard.exceptions import NotFound, PayloadTooLarge, ValidationError

pytestmark = pytest.mark.django_db


def test_mixed_batch_reports_each_item(alice, bob):
    mine = services.memory_create(actor=alice, text="to update")
    doomed = services.memory_create(actor=alice, text="to delete")
    bobs = services.memory_create(actor=bob, text="bob's", permission="public")
    results = services.memory_batch(actor=alice, operations=[
        BatchOperation("create", {"text": "new one", "tags": ["t"]}),
        BatchOperation("update", {"memory_id": str(mine.id), "text": "updated"}),
        BatchOperation("delete", {"memory_id": str(doomed.id)}),
        BatchOperation("update", {"memory_id": str(bobs.id), "text": "hijack"}),
        BatchOperation("create", {"text": "x" * 20_000}),
        BatchOperation("create", {"text": "bad tags", "tags": ["semi;colon"]}),
        BatchOperation("explode", {}),
        BatchOperation("create", {"text": "unknown field", "colour": "red"}),
        BatchOperation("delete", {"memory_id": "not-a-uuid"}),
    ])
    assert [r.index for r in results] == list(range(9))
    assert [r.ok for r in results] == [True, True, True, False, False, False, False, False, False]
    assert results[0].memory.text == "new one" and results[0].memory.embedding_model == "hash:256"
    assert results[1].memory.text == "updated"
    assert results[2].memory_id == doomed.id
    assert results[3].error.code == "forbidden"
    assert isinstance(results[4].error, PayloadTooLarge)
    assert isinstance(results[5].error, ValidationError)
    assert "create, update or delete" in results[6].error.message
    assert isinstance(results[7].error, ValidationError)
    assert isinstance(results[8].error, ValidationError)
    assert sorted(m.text for m in Memory.objects.not_trashed().filter(owner=alice)) == ["new one", "updated"]
    assert Memory.objects.get(id=bobs.id).text == "bob's"
    # Only the successful items were recorded.
    assert Activity.objects.filter(actor=alice, action="memory.create").count() == 3  # 2 setup + 1 batch


def test_batch_creates_are_embedded_in_one_provider_call(alice, settings, monkeypatch):
    from memories.embeddings import get_provider

    provider = get_provider()
    calls = []
    original = provider.embed_documents

    def counting(texts):
        calls.append(len(texts))
        return original(texts)

    monkeypatch.setattr(provider, "embed_documents", counting)
    results = services.memory_batch(actor=alice, operations=[BatchOperation("create", {"text": f"item {i}"}) for i in range(10)])
    assert all(r.ok for r in results)
    assert calls == [10]
    stored = {m.text: list(m.embedding) for m in Memory.objects.filter(owner=alice)}
    assert stored["item 3"] == pytest.approx(original(["item 3"])[0], abs=1e-6)


def test_batch_limits(alice, settings):
    settings.PICARD_BATCH_MAX_ITEMS = 3
    with pytest.raises(ValidationError, match="at most 3"):
        services.memory_batch(actor=alice, operations=[BatchOperation("create", {"text": "x"})] * 4)
    with pytest.raises(ValidationError, match="at least one"):
        services.memory_batch(actor=alice, operations=[])
    assert not Memory.objects.exists()


def test_failed_item_in_the_middle_leaves_nothing_behind(alice, bob):
    results = services.memory_batch(actor=alice, operations=[
        BatchOperation("create", {"text": "one"}),
        BatchOperation("create", {"text": "shared with a stranger", "permission": "shared", "shared_with": ["nobody"]}),
        BatchOperation("create", {"text": "three"}),
    ])
    assert [r.ok for r in results] == [True, False, True]
    assert sorted(m.text for m in Memory.objects.all()) == ["one", "three"]
    assert "nobody" in results[1].error.message


def test_batch_delete_of_missing_and_private_look_the_same(alice, bob):
    private = services.memory_create(actor=bob, text="bob private")
    results = services.memory_batch(actor=alice, operations=[
        BatchOperation("delete", {"memory_id": str(private.id)}),
        BatchOperation("delete", {"memory_id": "7d0f4a52-2a7c-4a4c-9d55-1f2b3c4d5e6f"}),
    ])
    assert all(isinstance(r.error, NotFound) for r in results)
    assert results[0].error.as_dict() == results[1].error.as_dict()
    assert Memory.objects.filter(id=private.id).exists()


def test_batch_stores_memories_as_pending_when_embeddings_are_down(alice, settings):
    settings.PICARD_EMBEDDINGS = {"provider": "openai", "model": "text-embedding-3-small", "api_key": "x",
                                  "base_url": "http://127.0.0.1:9/v1", "dimensions": 0, "timeout": 0.5}
    results = services.memory_batch(actor=alice, operations=[BatchOperation("create", {"text": "a"}), BatchOperation("create", {"text": "b"})])
    assert all(r.ok for r in results)
    assert all(r.memory.embedding is None and r.memory.embedding_model is None for r in results)
