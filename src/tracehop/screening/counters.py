"""Live counters for velocity rules: calls per key (customer, caller ID, called number) in a
sliding window of one second or one minute.

Each key keeps two fixed buckets (the current one and the one before) and the window's count
is estimated as ``current + previous x (share of the previous bucket still inside the
window)``: the sliding-window estimate rate limiters commonly use. Three numbers a key, O(1) a
call, exact when the traffic is even across the bucket boundary and never off by more than the
previous bucket's count otherwise. Time is whatever the caller passes (the engine's clock, or a
call's own start time in a replay), so tests move it by hand.
"""

from __future__ import annotations


class SlidingWindow:
    """Counts per key over the last ``seconds``."""

    __slots__ = ("_keys", "_swept", "seconds")

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("a window must be longer than 0 s")
        self.seconds = float(seconds)
        self._keys: dict[str, list[float]] = {}  # key -> [bucket start, previous, current]
        self._swept = 0.0

    def __len__(self) -> int:
        return len(self._keys)

    def hit(self, key: str, t: float) -> float:
        """Count one call for ``key`` at time ``t`` (seconds); the estimate after it."""
        w = self.seconds
        start = t - (t % w)
        entry = self._keys.get(key)
        if entry is None:
            self._keys[key] = [start, 0.0, 1.0]
            if t - self._swept > 4 * w:
                self.sweep(t)
            return 1.0
        if entry[0] != start:
            entry[1] = entry[2] if start - entry[0] == w else 0.0
            entry[0], entry[2] = start, 0.0
        entry[2] += 1.0
        return entry[2] + entry[1] * (1.0 - (t - start) / w)

    def count(self, key: str, t: float) -> float:
        """The estimate for ``key`` at ``t`` without counting a call."""
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        w = self.seconds
        start = t - (t % w)
        if entry[0] == start:
            return entry[2] + entry[1] * (1.0 - (t - start) / w)
        if start - entry[0] == w:
            return entry[2] * (1.0 - (t - start) / w)
        return 0.0

    def sweep(self, t: float) -> None:
        """Forget keys with no call in the last two windows."""
        horizon = t - 2 * self.seconds
        self._keys = {k: e for k, e in self._keys.items() if e[0] > horizon}
        self._swept = t
