from django.db import migrations


def reindex_memories_with_metadata(apps, schema_editor):
    """The keyword index now holds a memory's metadata string values with its text
    (``keywords.document_text``): re-index the memories that have metadata."""
    from memories import keywords
    from memories.crypto import decrypt

    Memory = apps.get_model("memories", "Memory")
    KeywordDocument = apps.get_model("memories", "KeywordDocument")
    KeywordPosting = apps.get_model("memories", "KeywordPosting")
    current = None
    for memory in Memory.objects.exclude(metadata={}).iterator(chunk_size=500):
        current = current or keywords.key_id()
        counts, length = keywords.hashed_terms(keywords.document_text(decrypt(memory.text_encrypted), memory.metadata))
        KeywordPosting.objects.filter(memory_id=memory.pk).delete()
        KeywordDocument.objects.update_or_create(memory_id=memory.pk, defaults={"owner_id": memory.owner_id, "length": length, "key_id": current})
        KeywordPosting.objects.bulk_create(
            [KeywordPosting(memory_id=memory.pk, owner_id=memory.owner_id, term_hash=h, tf=tf) for h, tf in counts.items()]
        )


class Migration(migrations.Migration):

    dependencies = [
        ("memories", "0006_search_covering_indexes"),
    ]

    operations = [
        migrations.RunPython(reindex_memories_with_metadata, migrations.RunPython.noop),
    ]
