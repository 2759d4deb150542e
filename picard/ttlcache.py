"""Per-process values that may be a few seconds old (search's embedding state and index
choice): recomputed on first use after ``seconds``, or at once after ``clear()``."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any


class TimedCache:
    def __init__(self) -> None:
        self._values: dict[Hashable, tuple[float, Any]] = {}  # key -> (valid until, value)

    def get(self, key: Hashable, compute: Callable[[], Any], *, seconds: float) -> Any:
        now = time.monotonic()
        held = self._values.get(key)
        if held is None or held[0] <= now:
            held = (now + seconds, compute())
            self._values[key] = held
        return held[1]

    def clear(self) -> None:
        self._values.clear()
