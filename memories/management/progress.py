"""A progress bar for long management commands (tqdm), silent when not on a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from tqdm import tqdm


@contextlib.contextmanager
def progress_bar(*, total: int, desc: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``. Draws on stderr only when it is a terminal and ``enabled``."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return

    with tqdm(total=total, desc=desc, unit="mem", file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar.update
