"""What the plugin decoded, kept between requests under a byte budget.

Decoding a run's chunks, documents and deviations is the costly part of an
answer, so each result is kept until its records grow. A TensorBoard left
running for weeks over a busy log directory would keep every run ever asked
about, so the cache holds at most `budget_bytes` (an estimate: the NumPy
arrays' bytes plus a fixed cost per Python object) and evicts the least
recently used entries first; the entries of a run deleted from disk are
dropped when a listing no longer has it.

Every key starts with `(experiment, run)`; the rest says what it holds.

Example:
    >>> cache = DecodedCache(budget_bytes=100)
    >>> cache.put(("", "train", "epoch"), version=1, value="decoded", size=60)
    >>> cache.get(("", "train", "epoch"), version=1)
    'decoded'
    >>> cache.get(("", "train", "epoch"), version=2) is None  # The records grew.
    True
    >>> cache.put(("", "eval", "epoch"), version=1, value="other", size=60)
    >>> cache.get(("", "train", "epoch"), version=1) is None  # Evicted: over budget.
    True
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Hashable, Iterable
from typing import Any

# 256 MiB: about ten runs of a million logged steps each, or thousands of short runs.
DEFAULT_BUDGET_MIB = 256
MIB = 1 << 20


class DecodedCache:
    """Least recently used values under a byte budget, keyed by `(experiment, run, ...)`.

    Thread-safe: TensorBoard answers requests on several threads.

    Args:
        budget_bytes: The most the values may weigh together; a value
            heavier than the whole budget is not kept (it is still served).
            0 keeps nothing.

    Example:
        >>> DecodedCache(budget_bytes=0).put(("", "r", "x"), 1, "v", size=1)
        >>> len(DecodedCache(budget_bytes=0))
        0
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_MIB * MIB):
        if budget_bytes < 0:
            raise ValueError(f"budget_bytes must be >= 0; got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._entries: collections.OrderedDict[tuple, tuple[Hashable, Any, int]] = (
            collections.OrderedDict()
        )
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, version: Hashable) -> Any | None:
        """The value kept for `key` at `version`, or `None` (then the caller decodes)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, version: Hashable, value: Any, size: int) -> None:
        """Keeps `value` for `key` at `version`, evicting the least recently used over budget."""
        with self._lock:
            self._remove(key)
            if size > self.budget_bytes:
                return
            self._entries[key] = (version, value, size)
            self._bytes += size
            while self._bytes > self.budget_bytes:
                self._remove(next(iter(self._entries)))

    def keep_only_runs(self, experiment: str, runs: Iterable[str]) -> None:
        """Drops the entries of `experiment`'s runs that are not in `runs` (deleted from disk)."""
        listed = set(runs)
        with self._lock:
            gone = [key for key in self._entries if key[0] == experiment and key[1] not in listed]
            for key in gone:
                self._remove(key)

    @property
    def nbytes(self) -> int:
        """The estimated bytes of the values kept."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def runs(self) -> set[tuple[str, str]]:
        """The `(experiment, run)` pairs with something kept."""
        with self._lock:
            return {key[:2] for key in self._entries}

    def _remove(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]
