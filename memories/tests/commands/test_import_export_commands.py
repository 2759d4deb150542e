import json
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from memories import services
from memories.importexport import export_text
from memories.models import Activity, ImportJob, Memory

pytestmark = pytest.mark.django_db


def run(name, *args):
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_export_then_import_round_trips_into_another_account(alice, bob, tmp_path):
    services.memory_create(actor=alice, text="Ferries leave at 7:15 ✓", tags=["travel"], metadata={"k": 1})
    services.memory_create(actor=alice, text="Line one\n\nLine two", permission="public")
    services.memory_create(actor=bob, text="bob's own")
    path = tmp_path / "alice.jsonl"
    assert "Exported 2 memories of alice" in run("export_memories", "--user", "alice", "-o", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == export_text(actor=alice, fmt="jsonl")  # the site's format, byte for byte
    assert Activity.objects.filter(action="memory.export", surface="command").exists()
    output = run("import_memories", str(path), "--user", "bob")
    assert "Imported 2, skipped 0 already present, 0 failed" in output
    mine = {m.text: m for m in Memory.objects.filter(owner=bob)}
    assert set(mine) == {"bob's own", "Ferries leave at 7:15 ✓", "Line one\n\nLine two"}
    assert mine["Ferries leave at 7:15 ✓"].tags == ["travel"] and mine["Ferries leave at 7:15 ✓"].metadata == {"k": 1}
    assert mine["Line one\n\nLine two"].permission == "public"
    # Re-importing the same file into the original owner skips what is already there.
    assert "Imported 0, skipped 2" in run("import_memories", str(path), "--user", "alice")


def test_markdown_export_to_stdout_and_tag_filter(alice):
    services.memory_create(actor=alice, text="tagged", tags=["x"])
    services.memory_create(actor=alice, text="untagged")
    out = run("export_memories", "--user", "alice", "--format", "markdown", "--tag", "x")
    assert "tagged" in out and "untagged" not in out and "<!-- picard:memory" in out


def test_dry_run_reports_bad_rows_and_imports_nothing(alice, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": ""}) + "\n")
    output = run("import_memories", str(path), "--user", "alice", "--dry-run")
    assert "2 rows: 1 importable, 1 with problems" in output and "row 2" in output
    assert not Memory.objects.exists()
    assert ImportJob.objects.get().status == "cancelled"


def test_operator_mistakes(alice, tmp_path):
    with pytest.raises(CommandError, match="No user"):
        run("export_memories", "--user", "ghost")
    existing = tmp_path / "x.jsonl"
    existing.write_text("")
    with pytest.raises(CommandError, match="--force"):
        run("export_memories", "--user", "alice", "-o", str(existing))
    with pytest.raises(CommandError, match="No file"):
        run("import_memories", str(tmp_path / "missing.json"), "--user", "alice")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError):
        run("import_memories", str(bad), "--user", "alice")
