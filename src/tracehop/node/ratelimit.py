"""Token-bucket rate limiting per key (a token holder, or an unauthenticated client).

The clock is injected (``tracehop.times``): tests move time instead of waiting for it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tracehop.times import SYSTEM, Clock


@dataclass
class Bucket:
    """``rate`` takes a second, bursts up to ``burst``; starts full."""

    rate: float
    burst: float
    level: float
    stamp: float

    def take(self, now: float) -> bool:
        self.level = min(self.burst, self.level + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1:
            self.level -= 1
            return True
        return False


class RateLimiter:
    """One bucket per key; thread-safe (the API answers on a thread pool)."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Clock = SYSTEM) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate * 2)
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Whether ``key`` may make one more request now."""
        now = self.clock.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(self.rate, self.burst, self.burst, now)
            return bucket.take(now)
