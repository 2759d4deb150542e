"""docs/benchmarks.md is shared by the benchmark scripts: each owns one section between
``<!-- BEGIN <topic> -->`` and ``<!-- END <topic> -->`` and rewrites only that."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
NEW_FILE = "# Benchmarks\n\nFigures measured on this project's own machines; each section is written by its script.\n"


def write_section(topic: str, body: str, *, path: Path = BENCHMARKS_MD) -> Path:
    """Replace the ``topic`` section of ``path`` with ``body`` (appended when missing)."""
    begin, end = f"<!-- BEGIN {topic} -->", f"<!-- END {topic} -->"
    text = path.read_text() if path.exists() else NEW_FILE
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
